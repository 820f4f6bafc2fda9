// Command probe exercises one kernel feature per subcommand and prints what it
// saw, for the tests in qemu-tests to check. It is an ordinary Go program: the
// same binary runs on Linux without the unikernel tag.
//
//	probe threads N      N goroutines blocked in raw system calls (N threads)
//	probe heap PERCENT   allocate and touch PERCENT of the machine's memory
//	probe oom            allocate until the runtime runs out of memory
//	probe rand           read crypto/rand and check the bytes vary
//	probe time           print monotonic and wall clock readings
//	probe exec           try os/exec and print the error
//	probe panic          panic from a goroutine
//	probe files          poke at the standard streams and the missing file system
//	probe vdso           count clock_gettime system calls across many time.Now
//	probe kernelfault K  make the kernel fault on purpose (K: nil, bounds); needs
//	                     the kernel parameter unigo.selftest=1
//	probe smp            see every CPU and run on all of them at once
//	probe unknown        make a system call unigo does not have, three times
//	probe protect K      touch memory the program must not: K is writetext,
//	                     execdata, nil or kernel (a kernel address)
package main

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	_ "github.com/unigo-dev/unigo/rt"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: probe threads|heap|oom|rand|time|exec|panic|files|vdso ...")
		os.Exit(2)
	}
	arg := func(i int, def int) int {
		if len(os.Args) > i {
			if v, err := strconv.Atoi(os.Args[i]); err == nil {
				return v
			}
		}
		return def
	}
	switch os.Args[1] {
	case "threads":
		threads(arg(2, 1000))
	case "heap":
		heap(arg(2, 70))
	case "oom":
		oom()
	case "rand":
		random()
	case "time":
		clocks()
	case "exec":
		execute()
	case "panic":
		done := make(chan bool)
		go func() {
			var m map[string]int
			m["boom"]++ // a Go panic: assignment to entry in nil map
			close(done) // never reached; main waits until the panic ends the program
		}()
		<-done
	case "files":
		files()
	case "vdso":
		vdso()
	case "kernelfault":
		kernelFault(os.Args[2])
	case "protect":
		protect(os.Args[2])
	case "smp":
		smp()
	case "unknown":
		for i := 0; i < 3; i++ {
			_, _, errno := syscall.Syscall(syscall.SYS_SWAPON, 0, 0, 0)
			fmt.Printf("swapon: %v\n", errno)
		}
	default:
		fmt.Fprintln(os.Stderr, "unknown probe", os.Args[1])
		os.Exit(2)
	}
}

// threads blocks n goroutines in nanosleep through raw system calls, which the
// runtime cannot park: each ends up holding its own thread.
func threads(n int) {
	var wg sync.WaitGroup
	var started sync.WaitGroup
	started.Add(n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			started.Done()
			ts := syscall.Timespec{Sec: 1}
			syscall.Syscall(syscall.SYS_NANOSLEEP, uintptr(unsafePointer(&ts)), 0, 0)
		}()
	}
	started.Wait()
	time.Sleep(200 * time.Millisecond)
	fmt.Printf("threads started %d, runtime threads %d\n", n, threadCount())
	wg.Wait()
	fmt.Println("threads done")
}

func threadCount() int {
	n, _ := runtime.ThreadCreateProfile(nil)
	return n
}

// heap allocates pct percent of the machine's memory in one slice and touches
// every page.
func heap(pct int) {
	var si syscall.Sysinfo_t
	if err := syscall.Sysinfo(&si); err != nil {
		fmt.Println("sysinfo:", err)
		os.Exit(1)
	}
	total := uint64(si.Totalram) * uint64(si.Unit)
	size := int(total / 100 * uint64(pct))
	b := make([]byte, size)
	for i := 0; i < len(b); i += 4096 {
		b[i] = byte(i >> 12)
	}
	sum := 0
	for i := 0; i < len(b); i += 4096 {
		sum += int(b[i])
	}
	fmt.Printf("heap %d MiB of %d MiB touched, checksum %d\n", size>>20, total>>20, sum)
}

var hold [][]byte

// oom allocates until the runtime gives up with its own report.
func oom() {
	for {
		hold = append(hold, make([]byte, 8<<20))
		for i := 0; i < 8<<20; i += 4096 {
			hold[len(hold)-1][i] = 1
		}
	}
}

func random() {
	a, b := make([]byte, 64), make([]byte, 64)
	if _, err := rand.Read(a); err != nil {
		fmt.Println("rand:", err)
		os.Exit(1)
	}
	rand.Read(b)
	fmt.Printf("rand ok=%v %x\n", !bytes.Equal(a, b) && !bytes.Equal(a, make([]byte, 64)), a[:8])
}

func clocks() {
	t0 := time.Now()
	prev := t0
	backwards := 0
	for i := 0; i < 100000; i++ {
		t := time.Now()
		if t.Sub(prev) < 0 {
			backwards++
		}
		prev = t
	}
	time.Sleep(50 * time.Millisecond)
	elapsed := time.Since(t0)
	fmt.Printf("time wall=%d backwards=%d elapsed_ms=%d\n", time.Now().Unix(), backwards, elapsed.Milliseconds())
}

func execute() {
	err := exec.Command("/bin/true").Run()
	fmt.Printf("exec absolute: %v\n", err)
	_, err = exec.LookPath("ls")
	fmt.Printf("exec lookpath: %v notfound=%v\n", err, errors.Is(err, exec.ErrNotFound))
	_, err = syscall.ForkExec("/bin/sh", nil, nil)
	fmt.Printf("exec forkexec: %v\n", err)
}

func files() {
	fi, err := os.Stdout.Stat()
	fmt.Printf("stdout stat: err=%v mode=%v\n", err, fi.Mode())
	_, err = os.ReadFile("/etc/passwd")
	fmt.Printf("readfile: %v\n", err)
	somaxconn, err := os.ReadFile("/proc/sys/net/core/somaxconn")
	fmt.Printf("somaxconn: %q %v\n", somaxconn, err)
	// SysQueueWatch (0x1016) with addresses outside DMA memory: refused,
	// not read at exit.
	_, _, e := syscall.RawSyscall(0x1016, 0x1000, 0x1002, 0)
	fmt.Printf("queue watch outside DMA: %v\n", e)
	exe, err := os.Executable()
	fmt.Printf("executable: %q %v\n", exe, err)
	wd, err := os.Getwd()
	fmt.Printf("getwd: %q %v\n", wd, err)
	n, err := os.Stdin.Read(make([]byte, 10))
	fmt.Printf("stdin: n=%d err=%v\n", n, err)
	host, err := os.Hostname()
	fmt.Printf("hostname: %q %v\n", host, err)
	_, _, errno := syscall.Syscall(syscall.SYS_WRITE, 1, 8, 10) // a bad pointer
	fmt.Printf("write bad pointer: %v\n", errno)
	_, _, errno = syscall.Syscall(syscall.SYS_WRITE, 99, 0, 0)
	fmt.Printf("write bad fd: %v\n", errno)
}

// sysUnigoCount is unigo's private system call that reports how many times a
// system call number entered the kernel (rt/internal/linux.SYS_UNIGO_COUNT).
const sysUnigoCount = 0x1000

func vdso() {
	before, _, errno := syscall.Syscall(sysUnigoCount, 228, 0, 0)
	if errno != 0 {
		fmt.Println("vdso: not a unigo kernel:", errno)
		os.Exit(1)
	}
	for i := 0; i < 100000; i++ {
		time.Now()
	}
	after, _, _ := syscall.Syscall(sysUnigoCount, 228, 0, 0)
	fmt.Printf("vdso clock_gettime syscalls during 100000 time.Now: %d\n", after-before)
}

// sysUnigoSelftest makes the kernel fault on purpose (rt/internal/linux).
const sysUnigoSelftest = 0x1001

func kernelFault(kind string) {
	what := map[string]uintptr{"nil": 1, "bounds": 2}[kind]
	_, _, errno := syscall.Syscall(sysUnigoSelftest, what, 7, 0)
	fmt.Println("the kernel did not fault:", errno)
	os.Exit(1)
}
