// Command guest is bench/smp's workload: a fixed amount of CPU-bound work
// (SHA-256 over 64 MiB, in 1 MiB pieces) split evenly among GOMAXPROCS
// goroutines. It prints the work's elapsed time in nanoseconds, measured with
// the monotonic clock around the work only (not boot, not runtime start).
package main

import (
	"crypto/sha256"
	"fmt"
	"runtime"
	"sync"
	"time"

	_ "github.com/unigo-dev/unigo/rt"
)

const pieces = 64

func main() {
	buf := make([]byte, 1<<20)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	procs := runtime.GOMAXPROCS(0)
	start := time.Now()
	var wg sync.WaitGroup
	for p := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := p; i < pieces; i += procs {
				sha256.Sum256(buf)
			}
		}()
	}
	wg.Wait()
	fmt.Printf("procs %d elapsed_ns %d\n", procs, time.Since(start).Nanoseconds())
}
