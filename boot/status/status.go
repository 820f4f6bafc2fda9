// Package status is the exit-status protocol between the guest kernel and the runner.
//
// The guest ends the VM by writing one 32-bit value v to QEMU's isa-debug-exit
// device (port [DebugExitPort]); QEMU then exits with status (v<<1)|1, of which the
// shell sees the low eight bits. QEMU also exits 1 on its own errors and 0 after a
// reset under -no-reboot (a triple fault), so the guest never writes 0: a process
// exit status n is sent as v = n+1, and every value the guest can send maps to a
// QEMU status of 3 or more. Nothing QEMU does by itself can pass for success.
//
// Constants and pure functions only: the kernel imports this package in kernel
// context.
package status

// DebugExitPort is the I/O port of the isa-debug-exit device the runner configures
// (-device isa-debug-exit,iobase=0xf4,iosize=4).
const DebugExitPort = 0xf4

// MaxProcess is the largest process exit status the protocol carries. exit_group(n)
// with a larger n is reported as MaxProcess, after the kernel prints the real one.
const MaxProcess = 125

// Values the guest writes to [DebugExitPort] that are not a process status.
const (
	// KernelFault: the kernel stopped on a fault or an internal error after printing
	// a report (registers, symbolized RIP) on the console.
	KernelFault = 127
)

// Runner exit statuses for outcomes that are not a process exit status.
const (
	// RunnerKernelFault is the runner's status when the guest reported KernelFault.
	RunnerKernelFault = 126
	// RunnerNoStatus is the runner's status when the VM ended without reporting a
	// status: a triple fault or reset, a timeout, QEMU failing to start or dying.
	RunnerNoStatus = 127
)

// Encode is the value the guest writes for process exit status n (exit_group's
// argument; Linux keeps its low eight bits). clamped says n was above MaxProcess.
func Encode(n int) (v uint32, clamped bool) {
	n &= 0xff
	if n > MaxProcess {
		return MaxProcess + 1, true
	}
	return uint32(n) + 1, false
}

// Outcome is what a QEMU exit status says about the guest.
type Outcome int

const (
	// Exited: the process exited; Decode's n is its status.
	Exited Outcome = iota
	// Fault: the kernel reported a fault.
	Fault
	// NoStatus: the guest wrote nothing (reset, triple fault, QEMU error or quit).
	NoStatus
)

// Decode maps QEMU's exit status to what the guest reported.
func Decode(qemuStatus int) (o Outcome, n int) {
	if qemuStatus < 3 || qemuStatus > 255 || qemuStatus&1 == 0 {
		return NoStatus, 0
	}
	v := qemuStatus >> 1
	if v == KernelFault {
		return Fault, 0
	}
	return Exited, v - 1
}
