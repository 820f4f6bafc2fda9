// Command threadhold makes the Go runtime hold N OS threads at once (default
// 1000) and exits 0 while they are all still blocked. N goroutines each block in
// a raw nanosleep of an hour, which the runtime cannot park, so every one ends up
// on a thread of its own; once the runtime has created N threads, the program
// prints the count and exits without waiting for them.
//
// Unlike a short sleep, the hour-long one makes the count independent of how
// fast the (possibly emulated, possibly loaded) CPU creates threads: no thread is
// freed and reused before all N exist. If the kernel cannot provide them, the
// program never prints its last line (the runtime dies, or the run times out).
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"time"
	"unsafe"

	_ "github.com/unigo-dev/unigo/rt"
)

func main() {
	n := 1000
	if len(os.Args) > 1 {
		v, err := strconv.Atoi(os.Args[1])
		if err != nil {
			fmt.Println("threadhold:", err)
			os.Exit(2)
		}
		n = v
	}
	for range n {
		go func() {
			ts := syscall.Timespec{Sec: 3600}
			// EINTR is a signal meant for this thread while it still ran Go
			// code (a preemption request racing with the call), as on Linux:
			// sleep again.
			errno := syscall.EINTR
			for errno == syscall.EINTR {
				_, _, errno = syscall.Syscall(syscall.SYS_NANOSLEEP, uintptr(unsafe.Pointer(&ts)), 0, 0)
			}
			fmt.Println("threadhold: a sleep ended early:", errno)
			os.Exit(1)
		}()
	}
	fmt.Printf("threadhold: %d goroutines started\n", n)
	for threads() < n {
		time.Sleep(10 * time.Millisecond)
	}
	// Go never ends these threads and none of the sleeps has returned: all the
	// threads created are alive at once.
	fmt.Printf("threadhold: runtime threads %d, all alive\n", threads())
	os.Exit(0)
}

// threads is the number of OS threads the runtime has created.
func threads() int {
	n, _ := runtime.ThreadCreateProfile(nil)
	return n
}
