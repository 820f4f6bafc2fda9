// Command timenow measures the cost of time.Now, which on Linux and on unigo goes
// through the vDSO without entering the kernel.
package main

import (
	"fmt"
	"time"

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
}
