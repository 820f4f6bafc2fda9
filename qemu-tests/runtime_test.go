package qemutests

import (
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unigo-dev/unigo/boot/qemu"
)

// match returns the submatches of the first match of re in console, failing the
// test when there is none.
func match(t *testing.T, re *regexp.Regexp, console string) []string {
	t.Helper()
	m := re.FindStringSubmatch(console)
	require.NotNil(t, m, "no line matching %s on the console", re)
	return m
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	require.NoError(t, err)
	return n
}

var timersLine = regexp.MustCompile(`(?m)^timers 1000 total (\S+) median-late (\S+) p99-late (\S+) max-late (\S+) min-late (\S+)$`)

// TestTimers proves that goroutines, unbuffered channels and select work at
// GOMAXPROCS=1 (1000 ping-pong round trips sum to 500500, no select times out),
// that 1000 concurrent timers all fire, and that no timer wakes before its
// deadline (the earliest wake-up is not early).
func TestTimers(t *testing.T) {
	t.Parallel()
	console, res := boot(t, "timers", vm{})
	assert.Equal(t, 0, res.ExitCode)
	assert.Regexp(t, `(?m)^pingpong 500500$`, console)
	assert.NotContains(t, console, "select timed out")

	m := match(t, timersLine, console)
	late := map[string]time.Duration{}
	for i, name := range []string{"total", "median", "p99", "max", "min"} {
		d, err := time.ParseDuration(m[i+1])
		require.NoError(t, err, "%s %q", name, m[i+1])
		late[name] = d
	}
	assert.GreaterOrEqual(t, late["min"], time.Duration(0), "a timer woke before its deadline")
	assert.LessOrEqual(t, late["min"], late["median"])
	assert.LessOrEqual(t, late["median"], late["p99"])
	assert.LessOrEqual(t, late["p99"], late["max"])

	accel, err := (qemu.Config{}).Accelerator()
	require.NoError(t, err)
	t.Logf("under %s: total %v, lateness median %v p99 %v max %v min %v",
		accel, late["total"], late["median"], late["p99"], late["max"], late["min"])
	if accel == qemu.AccelKVM {
		// With hardware virtualization the guest's clock and its APIC timer run
		// at the host's pace, so lateness measures the kernel's timer path.
		assert.Less(t, late["p99"], 2*time.Millisecond, "p99 timer lateness under KVM")
	}
	// Under TCG no time bound is asserted: the project forbids timed assertions
	// in tests, and an emulated CPU's timing depends on the host's load. The
	// figures are logged above.
}

var gcLine = regexp.MustCompile(`(?m)^allocated (\d+) MiB, heap (\d+) MiB, sys (\d+) MiB, gc cycles (\d+)$`)

// TestGCStress proves that the collector reclaims memory inside the guest:
// allocating ten times the guest's RAM (1280 MiB through a 128 MiB machine at
// one CPU) with a small live heap succeeds, the heap stays small, the runtime
// never obtains more memory than the machine has, and collections happened.
// Each CPU more gets the machine 64 MiB more: with more CPUs the collector's
// workers mark while every P allocates, so more is allocated between cycles.
func TestGCStress(t *testing.T) {
	t.Parallel()
	mib := 128 + 64*(suiteSMP-1)
	// About 10 s at -smp 4 on an idle host; the suite's three copies share
	// two cores, and once this took over a minute: a wide bound, still a
	// bound.
	console, res := boot(t, "gcstress", vm{Memory: strconv.Itoa(mib) + "M", Timeout: 3 * time.Minute,
		Env: []string{"GCSTRESS_BYTES=" + strconv.Itoa(10*mib<<20)}})
	assert.Equal(t, 0, res.ExitCode)
	m := match(t, gcLine, console)
	allocated, heap, sys, cycles := atoi(t, m[1]), atoi(t, m[2]), atoi(t, m[3]), atoi(t, m[4])
	assert.GreaterOrEqual(t, allocated, 10*mib, "MiB allocated")
	// The live set is 64 buffers of about 64 KiB: 4 MiB, which is what a
	// collection at the end leaves.
	assert.Less(t, heap, 16, "MiB of heap in use after a final collection")
	assert.Less(t, sys, mib, "MiB obtained from the kernel")
	assert.Greater(t, cycles, 0, "GC cycles")
}

var heapLine = regexp.MustCompile(`(?m)^heap (\d+) MiB of (\d+) MiB touched, checksum (\d+)$`)

// TestHeap70Percent proves that one allocation of 70% of the guest's memory
// (as sysinfo reports it) can be made and every page of it written and read
// back.
func TestHeap70Percent(t *testing.T) {
	t.Parallel()
	console, res := boot(t, "probe", vm{Memory: "256M"}, "heap", "70")
	assert.Equal(t, 0, res.ExitCode)
	m := match(t, heapLine, console)
	size, total := atoi(t, m[1]), atoi(t, m[2])
	assert.LessOrEqual(t, total, 256, "MiB of RAM sysinfo reports")
	assert.Greater(t, total, 200, "MiB of RAM sysinfo reports, of 256")
	assert.GreaterOrEqual(t, size, total*70/100-1, "MiB allocated")
}

// TestOutOfMemory proves that running out of memory ends in the Go runtime's
// own report and exit status 2, after the kernel refuses an mmap and says so,
// not in a kernel fault or a hung VM.
func TestOutOfMemory(t *testing.T) {
	t.Parallel()
	console, res := boot(t, "probe", vm{Memory: "128M"}, "oom")
	assert.Equal(t, 2, res.ExitCode)
	assert.Contains(t, console, "fatal error: runtime: out of memory")
	assert.Regexp(t, `(?m)^unigo: mmap of \d+ KiB refused`, console)
	assert.NotContains(t, console, "unigo: kernel fault")
}

// TestRand proves that crypto/rand gets random bytes in the guest: two reads
// differ and are not zero.
func TestRand(t *testing.T) {
	t.Parallel()
	console, res := boot(t, "probe", vm{}, "rand")
	assert.Equal(t, 0, res.ExitCode)
	assert.Regexp(t, `(?m)^rand ok=true [0-9a-f]{16}$`, console)
}

var timeLine = regexp.MustCompile(`(?m)^time wall=(\d+) backwards=(\d+) elapsed_ms=(\d+)$`)

// TestTime proves that the monotonic clock never goes backwards across 100000
// readings, that a 50 ms sleep does not return early, and that the guest's wall
// clock is the host's (within 5 s of the host's time around the run).
func TestTime(t *testing.T) {
	t.Parallel()
	before := time.Now()
	console, res := boot(t, "probe", vm{}, "time")
	after := time.Now()
	assert.Equal(t, 0, res.ExitCode)
	m := match(t, timeLine, console)
	wall := time.Unix(int64(atoi(t, m[1])), 0)
	assert.Equal(t, 0, atoi(t, m[2]), "monotonic readings that went backwards")
	assert.GreaterOrEqual(t, atoi(t, m[3]), 50, "ms elapsed across a 50 ms sleep")
	// The guest prints whole seconds: wall is at most 1 s before its real time.
	assert.WithinRange(t, wall, before.Add(-5*time.Second), after.Add(5*time.Second),
		"guest wall clock vs host %v..%v", before.Format(time.RFC3339Nano), after.Format(time.RFC3339Nano))
}

// TestExec proves that os/exec fails cleanly in a single-process unikernel:
// starting a program and fork/exec report ENOSYS ("function not implemented"),
// LookPath reports exec.ErrNotFound, and the program goes on to exit 0.
func TestExec(t *testing.T) {
	t.Parallel()
	console, res := boot(t, "probe", vm{}, "exec")
	assert.Equal(t, 0, res.ExitCode)
	assert.Contains(t, console, "exec absolute: fork/exec /bin/true: function not implemented\n")
	assert.Regexp(t, `(?m)^exec lookpath: .*executable file not found.* notfound=true$`, console)
	assert.Contains(t, console, "exec forkexec: function not implemented\n")
}

// TestPanic proves that a Go panic in a goroutine prints Go's own report with
// a traceback and exits 2, as on Linux.
func TestPanic(t *testing.T) {
	t.Parallel()
	console, res := boot(t, "probe", vm{}, "panic")
	assert.Equal(t, 2, res.ExitCode)
	assert.Contains(t, console, "panic: assignment to entry in nil map")
	assert.Regexp(t, `(?m)^goroutine \d+ \[running\]:$`, console)
	assert.Regexp(t, `(?m)^main\.main\.func\d+\(\)$`, console)
	assert.Contains(t, console, "created by main.main in goroutine 1")
	assert.NotContains(t, console, "unigo: kernel fault")
}

// TestFiles proves the file descriptor layer's errors and process facts: a bad
// pointer gives EFAULT and a bad descriptor EBADF (not a crash), stdin is at
// EOF, there is no file system, os.Executable is the binary path given to the
// runner, and the working directory is "/".
func TestFiles(t *testing.T) {
	t.Parallel()
	console, res := boot(t, "probe", vm{}, "files")
	assert.Equal(t, 0, res.ExitCode)
	assert.Contains(t, console, "write bad pointer: bad address\n")
	assert.Contains(t, console, "write bad fd: bad file descriptor\n")
	assert.Contains(t, console, "stdin: n=0 err=EOF\n")
	assert.Contains(t, console, "readfile: open /etc/passwd: no such file or directory\n")
	assert.Contains(t, console, `somaxconn: "4096\n" <nil>`+"\n", "net.Listen's backlog, as on Linux")
	assert.Contains(t, console, "queue watch outside DMA: invalid argument\n")
	assert.Contains(t, console, "executable: "+strconv.Quote(appPath(t, "probe"))+" <nil>\n")
	assert.Contains(t, console, `getwd: "/" <nil>`+"\n")
	assert.Contains(t, console, "stdout stat: err=<nil>")
}

// TestVDSO proves that time.Now is served by the vDSO: 100000 calls make no
// clock_gettime system call.
func TestVDSO(t *testing.T) {
	t.Parallel()
	console, res := boot(t, "probe", vm{}, "vdso")
	assert.Equal(t, 0, res.ExitCode)
	assert.Contains(t, console, "vdso clock_gettime syscalls during 100000 time.Now: 0\n")
}

var threadsLine = regexp.MustCompile(`(?m)^threads started (\d+), runtime threads (\d+)$`)

// TestThreads proves that a thousand goroutines blocked in raw system calls at
// once (probe threads: one-second nanosleeps, each holding an OS thread) all
// come back and the program finishes and exits 0.
func TestThreads(t *testing.T) {
	t.Parallel()
	console, res := boot(t, "probe", vm{}, "threads", "1000")
	assert.Equal(t, 0, res.ExitCode)
	m := match(t, threadsLine, console)
	assert.Equal(t, 1000, atoi(t, m[1]))
	assert.Regexp(t, `(?m)^threads done$`, console)
	// How many threads this probe ends up with depends on time: a thread whose
	// one-second sleep is over is reused for a goroutine not yet started, and
	// under a loaded TCG host the thousand hand-offs take longer than that
	// second (measured: 638 to 724 threads with 4 VMs on 2 cores, 1002 alone).
	// TestThreadsHeld asserts the count on a guest where no thread is freed.
	t.Logf("runtime threads: %s", m[2])
}

var threadholdLine = regexp.MustCompile(`(?m)^threadhold: runtime threads (\d+), all alive$`)

// TestThreadsHeld proves that the kernel runs over a thousand threads at once:
// a thousand goroutines block in hour-long raw nanosleeps, each on its own OS
// thread, the runtime creates at least a thousand threads (none of which can
// have been freed, whatever the host's speed), and exit_group ends the program
// with all of them still blocked.
func TestThreadsHeld(t *testing.T) {
	t.Parallel()
	console, res := boot(t, "threadhold", vm{}, "1000")
	assert.Equal(t, 0, res.ExitCode)
	assert.Contains(t, console, "threadhold: 1000 goroutines started\n")
	m := match(t, threadholdLine, console)
	assert.GreaterOrEqual(t, atoi(t, m[1]), 1000, "runtime threads")
	assert.NotContains(t, console, "ended early")
}

// TestThreadLimit proves that unigo.maxthreads caps the thread table: beyond it
// clone fails with EAGAIN, and the Go runtime reports that it failed to create
// a thread and exits 2, as on Linux at the ulimit, rather than the kernel
// faulting.
func TestThreadLimit(t *testing.T) {
	t.Parallel()
	console, res := boot(t, "probe", vm{Extra: "unigo.maxthreads=64"}, "threads", "200")
	assert.Equal(t, 2, res.ExitCode)
	assert.Contains(t, console, "failed to create new OS thread")
	assert.Contains(t, console, "errno=11")
	assert.NotContains(t, console, "threads done")
	assert.NotContains(t, console, "unigo: kernel fault")
}
