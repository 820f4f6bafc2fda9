// Command boottime prints, as its first output, how long after the kernel's first
// instruction main began: unigo's CLOCK_MONOTONIC counts from there. On Linux the
// same number is the time since the machine booted.
package main

import (
	"fmt"
	"syscall"
	"unsafe"

	_ "github.com/unigo-dev/unigo/rt"
)

func main() {
	var ts syscall.Timespec
	syscall.RawSyscall(syscall.SYS_CLOCK_GETTIME, 1, uintptr(unsafe.Pointer(&ts)), 0)
	fmt.Printf("main at %d us\n", ts.Nano()/1000)
}
