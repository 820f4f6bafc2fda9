// Package poweroff ends the VM: with the process's exit status, or with the
// kernel-fault status after a kernel report.
//
// Context: kernel context. The status travels through QEMU's isa-debug-exit
// device (boot/status has the protocol); where that device is absent (other
// hypervisors), the keyboard controller's reset line stops the machine and the
// CPU halts for good.
package poweroff

import (
	"github.com/unigo-dev/unigo/boot/status"
	"github.com/unigo-dev/unigo/internal/x86"
)

// Exit ends the VM with process exit status n (exit_group's argument); it never
// returns. A status above status.MaxProcess arrives as MaxProcess (see Clamped),
// so the caller prints the real one first.
func Exit(n int) {
	v, _ := status.Encode(n)
	stop(v)
}

// Clamped says whether Exit(n) cannot carry n as it is.
func Clamped(n int) bool {
	_, c := status.Encode(n)
	return c
}

// KernelFault ends the VM with the kernel-fault status.
func KernelFault() { stop(status.KernelFault) }

func stop(v uint32) {
	x86.Outl(status.DebugExitPort, v)
	x86.Outb(0x64, 0xFE)
	for {
		x86.Halt()
	}
}
