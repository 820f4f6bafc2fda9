// Command signals exercises what a Go program gets from its kernel's signals and
// the runtime diagnostics that depend on them, one subcommand each, printing
// what it saw for the tests in qemu-tests. It runs on Linux unchanged.
//
//	signals recover    nil dereference and integer division by zero, recovered
//	signals preempt    GOMAXPROCS=1: a loop without calls must not starve a ticker;
//	                   FP-heavy goroutines check their results meanwhile
//	signals notify     os/signal.Notify for SIGTERM and SIGINT sent by kill/tgkill
//	signals serve      print "ready", wait for SIGTERM, drain, exit 7 (or 8 on SIGINT)
//	signals ignore     print "ready", ignore SIGTERM and wait forever
//	signals sleep      print "ready" and sleep, with SIGTERM's default action
//	signals profile    CPU-profile a busy loop; the profile goes to stdout in base64
//	signals cpu        CPU clocks, getrusage and runtime/metrics after busy work
//	signals deadlock   every goroutine asleep
//	signals goexit     runtime.Goexit from main
//	signals lockthread runtime.LockOSThread keeps a goroutine on one thread
//	signals crash      panic with GOTRACEBACK=crash set by the caller
package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math"
	"os"
	"os/signal"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	_ "github.com/unigo-dev/unigo/rt"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: signals recover|preempt|notify|serve|profile|cpu|deadlock|goexit|lockthread|crash")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "recover":
		recoverFaults()
	case "preempt":
		preempt()
	case "notify":
		notify()
	case "serve":
		serve()
	case "ignore":
		signal.Ignore(syscall.SIGTERM)
		fmt.Println("ready")
		time.Sleep(time.Hour)
	case "sleep":
		fmt.Println("ready")
		time.Sleep(time.Hour)
	case "profile":
		profile()
	case "cpu":
		cpu()
	case "deadlock":
		fmt.Println("waiting forever")
		select {}
	case "goexit":
		deferred := make(chan struct{})
		go func() {
			<-deferred // main's deferred call runs first
			fmt.Println("other goroutine done")
		}()
		defer func() {
			fmt.Println("main's deferred call ran")
			close(deferred)
		}()
		runtime.Goexit()
	case "lockthread":
		lockThread()
	case "crash":
		go func() { select {} }()
		panic("crash on purpose")
	default:
		fmt.Fprintln(os.Stderr, "unknown subcommand", os.Args[1])
		os.Exit(2)
	}
}

var sink *int

func recoverFaults() {
	try := func(name string, f func()) {
		defer func() {
			r := recover()
			fmt.Printf("%s: recovered: %v\n", name, r)
		}()
		f()
	}
	try("nil", func() { fmt.Println(*sink) })
	zero := 0
	if len(os.Args) > 5 {
		zero = 1
	}
	try("divide", func() { fmt.Println(10 / zero) })
	// A fault on another goroutine, and again on the first, to show the
	// handler's way back (rt_sigreturn) leaves the thread fit for more.
	done := make(chan bool)
	go func() {
		defer close(done)
		try("goroutine nil", func() { fmt.Println(*sink) })
	}()
	<-done
	for i := 0; i < 100; i++ {
		func() {
			defer func() { recover() }()
			fmt.Println(*sink)
		}()
	}
	fmt.Println("100 more recovered")
}

// fpWork computes a sum whose exact value is known, in float64 and with
// vectorizable loops, so a signal that loses FP state shows up as a wrong sum.
func fpWork(n int) bool {
	var s float64
	for i := 1; i <= n; i++ {
		s += math.Sqrt(float64(i*i)) * 0.5
	}
	want := float64(n) * float64(n+1) / 4
	return s == want
}

func preempt() {
	runtime.GOMAXPROCS(1)
	var stop atomic.Bool
	var spins atomic.Uint64
	go func() {
		n := uint64(0)
		for !stop.Load() {
			n++ // no calls: only an asynchronous preemption gets the CPU back
		}
		spins.Store(n)
	}()
	var bad atomic.Int32
	var wg sync.WaitGroup
	for g := 0; g < 3; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				if !fpWork(20000) {
					bad.Add(1)
				}
			}
		}()
	}
	time.Sleep(time.Millisecond) // let the spinner start
	tick := time.NewTicker(10 * time.Millisecond)
	start := time.Now()
	for i := 0; i < 10; i++ {
		<-tick.C
	}
	fmt.Printf("10 ticks in %v while spinning\n", time.Since(start).Round(time.Millisecond))
	wg.Wait()
	stop.Store(true)
	fmt.Printf("fp checks failed: %d\n", bad.Load())
}

func notify() {
	c := make(chan os.Signal, 2)
	signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		fmt.Println("kill:", err)
	}
	fmt.Println("got", <-c)
	if err := syscall.Tgkill(os.Getpid(), syscall.Gettid(), syscall.SIGINT); err != nil {
		fmt.Println("tgkill:", err)
	}
	fmt.Println("got", <-c)
	// A signal to a thread blocked in a system call interrupts it.
	signal.Reset()
	signal.Ignore(syscall.SIGUSR1)
	fmt.Println("SIGUSR1 ignored:", signal.Ignored(syscall.SIGUSR1))
	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
		fmt.Println("kill:", err)
	}
	fmt.Println("still here")
}

func serve() {
	c := make(chan os.Signal, 2)
	signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
	work := make(chan int)
	go func() { // the "server": busy until told to stop
		n := 0
		for {
			select {
			case work <- n:
				return
			default:
				n++
				time.Sleep(time.Millisecond)
			}
		}
	}()
	fmt.Println("ready")
	sig := <-c
	fmt.Println("got", sig, "- draining")
	n := <-work
	fmt.Println("drained after", n > 0)
	if sig == syscall.SIGINT {
		os.Exit(8)
	}
	os.Exit(7)
}

func busy(d time.Duration) float64 {
	x := 1.0
	for end := time.Now().Add(d); time.Now().Before(end); {
		for i := 0; i < 1000; i++ {
			x = math.Sin(x) + 1
		}
	}
	return x
}

func profile() {
	var buf bytes.Buffer
	if err := pprof.StartCPUProfile(&buf); err != nil {
		fmt.Println("start:", err)
		os.Exit(1)
	}
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); busy(700 * time.Millisecond) }()
	}
	wg.Wait()
	pprof.StopCPUProfile()
	fmt.Println("profile-begin")
	enc := base64.StdEncoding.EncodeToString(buf.Bytes())
	for len(enc) > 76 {
		fmt.Println(enc[:76])
		enc = enc[76:]
	}
	fmt.Println(enc)
	fmt.Println("profile-end")
}

func cpu() {
	var before, after syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	var ts0, ts1, th0, th1 syscall.Timespec
	clock := func(id int, ts *syscall.Timespec) {
		syscall.Syscall(syscall.SYS_CLOCK_GETTIME, uintptr(id), uintptr(unsafePointer(ts)), 0)
	}
	runtime.LockOSThread()
	clock(2, &ts0) // CLOCK_PROCESS_CPUTIME_ID
	clock(3, &th0) // CLOCK_THREAD_CPUTIME_ID
	start := time.Now()
	busy(300 * time.Millisecond)
	wall := time.Since(start)
	clock(2, &ts1)
	clock(3, &th1)
	syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	proc := time.Duration(ts1.Nano() - ts0.Nano())
	thread := time.Duration(th1.Nano() - th0.Nano())
	user := time.Duration(after.Utime.Nano() - before.Utime.Nano())
	fmt.Printf("wall %v\n", wall.Round(time.Millisecond))
	// The process's CPU time counts every thread, on every CPU: the runtime's
	// own threads (spinning, GC workers) add to this one's.
	ncpu := time.Duration(runtime.NumCPU())
	fmt.Printf("process cpu at least half of wall, at most 1.5 x wall x CPUs: %v (%v)\n", proc > wall/2 && proc < wall*3/2*ncpu, proc.Round(time.Millisecond))
	fmt.Printf("thread cpu within 50%% of wall: %v\n", thread > wall/2 && thread < wall*3/2)
	fmt.Printf("rusage user at least half of wall, at most 1.5 x wall x CPUs: %v\n", user > wall/2 && user < wall*3/2*ncpu)
	fmt.Printf("maxrss > 0: %v\n", after.Maxrss > 0)
	runtime.GC()
	samples := []metrics.Sample{{Name: "/cpu/classes/total:cpu-seconds"}, {Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(samples)
	fmt.Printf("metrics cpu > 0: %v, gc cycles > 0: %v\n", samples[0].Value.Float64() > 0, samples[1].Value.Uint64() > 0)
}

func lockThread() {
	done := make(chan bool)
	go func() {
		runtime.LockOSThread()
		tid := syscall.Gettid()
		same := true
		for i := 0; i < 50; i++ {
			runtime.Gosched()
			time.Sleep(time.Millisecond)
			if syscall.Gettid() != tid {
				same = false
			}
		}
		fmt.Println("locked goroutine kept its thread:", same)
		close(done)
		// Exiting while locked ends the thread, as on Linux.
	}()
	<-done
	time.Sleep(10 * time.Millisecond)
	fmt.Println("main still running")
}

func unsafePointer(ts *syscall.Timespec) unsafe.Pointer { return unsafe.Pointer(ts) }
