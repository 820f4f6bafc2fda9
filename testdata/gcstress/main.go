// Command gcstress allocates many times the machine's memory while keeping a
// bounded live heap, and reports what the collector did.
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"

	_ "github.com/unigo-dev/unigo/rt"
)

var sink [][]byte

func main() {
	total := int64(2560 << 20) // default: 10x a 256 MiB guest
	if v, err := strconv.ParseInt(os.Getenv("GCSTRESS_BYTES"), 10, 64); err == nil {
		total = v
	}
	const live = 64
	sink = make([][]byte, live)
	var allocated int64
	for i := 0; allocated < total; i++ {
		b := make([]byte, 64<<10+i%4096)
		b[len(b)-1] = byte(i)
		sink[i%live] = b
		allocated += int64(len(b))
	}
	// The heap after a collection: what the program still holds. (Before
	// it, the figure is whatever garbage the last cycle has not reached yet,
	// which depends on how fast the collector's workers ran.)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Printf("allocated %d MiB, heap %d MiB, sys %d MiB, gc cycles %d\n", allocated>>20, ms.HeapAlloc>>20, ms.Sys>>20, ms.NumGC)
}
