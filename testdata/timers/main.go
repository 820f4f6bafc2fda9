// Command timers runs many goroutines on timers, channels and select at
// GOMAXPROCS=1 and reports how late the sleeps woke up.
package main

import (
	"fmt"
	"os"
	"runtime"
	"sort"
	"sync"
	"time"

	_ "github.com/unigo-dev/unigo/rt"
)

func main() {
	runtime.GOMAXPROCS(1)
	// Channels and select.
	ping, pong := make(chan int), make(chan int)
	go func() {
		for v := range ping {
			pong <- v + 1
		}
		close(pong)
	}()
	sum := 0
	for i := 0; i < 1000; i++ {
		select {
		case ping <- i:
		case <-time.After(time.Second):
			fmt.Println("select timed out")
			os.Exit(1)
		}
		sum += <-pong
	}
	close(ping)
	fmt.Println("pingpong", sum)

	// 1000 concurrent timers.
	const n = 1000
	lates := make([]time.Duration, n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			d := time.Duration(10+i%50) * time.Millisecond
			t0 := time.Now()
			time.Sleep(d)
			lates[i] = time.Since(t0) - d
		}(i)
	}
	wg.Wait()
	sort.Slice(lates, func(a, b int) bool { return lates[a] < lates[b] })
	fmt.Printf("timers %d total %v median-late %v p99-late %v max-late %v min-late %v\n", n, time.Since(start).Round(time.Millisecond),
		lates[n/2], lates[n*99/100], lates[n-1], lates[0])
}
