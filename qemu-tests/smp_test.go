package qemutests

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestSMP proves the program sees the machine's CPUs (sched_getaffinity, so
// GOMAXPROCS follows -smp), that its threads run on all of them (one thread
// per CPU spinning at a barrier, asking getcpu where it runs), and
// that a signal reaches a thread running on another CPU. The suite runs it at
// each of its CPU counts.
func TestSMP(t *testing.T) {
	t.Parallel()
	n := suiteSMP
	console, res := boot(t, "probe", vm{}, "smp")
	assert.Equal(t, 0, res.ExitCode)
	assert.Contains(t, console, fmt.Sprintf("NumCPU %d GOMAXPROCS %d\n", n, n))
	assert.Contains(t, console, fmt.Sprintf("threads spinning at a barrier ran on %d distinct CPUs\n", n))
	assert.Contains(t, console, fmt.Sprintf("got user defined signal 1 sent to a thread on another CPU: %v\n", n > 1))
}

// TestSixteenCPUs proves the largest machine unigo drives boots, starts every
// CPU and runs a program on all of them.
func TestSixteenCPUs(t *testing.T) {
	t.Parallel()
	if suiteSMP != 1 {
		t.Skip("run once, by the suite at -smp 1")
	}
	console, res := boot(t, "probe", vm{SMP: 16, Memory: "512M"}, "smp")
	assert.Equal(t, 0, res.ExitCode)
	assert.Contains(t, console, "NumCPU 16 GOMAXPROCS 16\n")
	assert.Contains(t, console, "threads spinning at a barrier ran on 16 distinct CPUs\n")
	assert.NotContains(t, console, "did not start")
}
