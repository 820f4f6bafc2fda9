// Command timenow measures the cost of time.Now, which on Linux and on unigo goes
// through the vDSO without entering the kernel, and of the clock_gettime system
// call it avoids.
package main

import (
	"fmt"
	"syscall"
	"time"
	"unsafe"

	_ "github.com/unigo-dev/unigo/rt"
)

func main() {
	const n = 2_000_000
	var sink int64
	best := time.Duration(1 << 62)
	for round := 0; round < 5; round++ {
		start := time.Now()
		for i := 0; i < n; i++ {
			sink += time.Now().UnixNano()
		}
		if d := time.Since(start); d < best {
			best = d
		}
	}
	fmt.Printf("time.Now %.1f ns/op (best of 5 rounds of %d) %d\n", float64(best.Nanoseconds())/n, n, sink&1)

	// The same clock through the system call, for comparison: what every
	// reading would cost without the vDSO.
	const m = 200_000
	var ts syscall.Timespec
	start := time.Now()
	for i := 0; i < m; i++ {
		syscall.RawSyscall(syscall.SYS_CLOCK_GETTIME, 1, uintptr(unsafe.Pointer(&ts)), 0)
	}
	fmt.Printf("clock_gettime syscall %.1f ns/op\n", float64(time.Since(start).Nanoseconds())/m)
}
