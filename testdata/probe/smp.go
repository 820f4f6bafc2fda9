package main

import (
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

func count(seen *[64]atomic.Bool) int {
	n := 0
	for i := range seen {
		if seen[i].Load() {
			n++
		}
	}
	return n
}

// getcpu is the CPU the calling thread runs on.
func getcpu() int {
	var cpu uint32
	if _, _, e := syscall.RawSyscall(309, uintptr(unsafe.Pointer(&cpu)), 0, 0); e != 0 {
		return -1
	}
	return int(cpu)
}

// smp shows the program sees every CPU and runs on all of them: one thread per
// CPU spins at a barrier, without yielding, noting where it runs; a signal
// sent to a thread spinning on another CPU reaches it there.
func smp() {
	n := runtime.NumCPU()
	fmt.Printf("NumCPU %d GOMAXPROCS %d\n", n, runtime.GOMAXPROCS(0))
	var arrived atomic.Int32
	var seen [64]atomic.Bool
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			arrived.Add(1)
			// Spin until the last one arrives and the threads have been seen
			// on every CPU, noting the CPUs this thread finds itself on. On an
			// idle host that is at once; on a loaded one a vCPU may not run for
			// a while and the kernel moves threads at the end of their slices,
			// so give it up to 20 s.
			deadline := time.Now().Add(20 * time.Second)
			for i := 0; arrived.Load() < int32(n) || count(&seen) < n; i++ {
				if i%1024 == 0 {
					seen[getcpu()&63].Store(true)
					if time.Now().After(deadline) {
						break
					}
				}
			}
		}()
	}
	wg.Wait()
	fmt.Printf("threads spinning at a barrier ran on %d distinct CPUs\n", count(&seen))

	// A signal to a thread running on another CPU. The kernel may move
	// threads between CPUs at the end of a slice, so the spinner notes where
	// it runs now and then, and the sender waits (up to 200 tries) for a
	// moment when the two are apart before it sends.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGUSR1)
	var tid, where atomic.Int32
	var stop atomic.Bool
	where.Store(-1)
	go func() {
		runtime.LockOSThread()
		tid.Store(int32(syscall.Gettid()))
		for i := 0; !stop.Load(); i++ {
			if i%(1<<18) == 0 {
				where.Store(int32(getcpu()))
			}
		}
	}()
	for tid.Load() == 0 || where.Load() < 0 {
		runtime.Gosched()
	}
	runtime.LockOSThread()
	apart := false
	for try := 0; try < 200 && !apart; try++ {
		if try > 0 {
			time.Sleep(5 * time.Millisecond)
		}
		apart = getcpu() != int(where.Load())
	}
	syscall.Tgkill(os.Getpid(), int(tid.Load()), syscall.SIGUSR1)
	fmt.Println("got", <-sigs, "sent to a thread on another CPU:", apart)
	stop.Store(true)
}
