package qemutests

import (
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/unigo-dev/unigo/boot/status"
)

const selfTestFunc = "github.com/unigo-dev/unigo/rt/internal/syscalls.selfTest"

// TestKernelFault proves the kernel's fault report and status: with
// unigo.selftest=1, a nil dereference and a failed bounds check in kernel
// context (SYS_UNIGO_SELFTEST) stop the VM with the kernel-fault status (runner
// 126), after a report naming the exception, the symbolized faulting
// instruction, and a backtrace through the function that failed.
func TestKernelFault(t *testing.T) {
	t.Parallel()
	t.Run("nil", func(t *testing.T) {
		t.Parallel()
		console, res := boot(t, "probe", vm{Extra: "unigo.selftest=1"}, "kernelfault", "nil")
		assert.Equal(t, status.RunnerKernelFault, res.ExitCode)
		assert.Equal(t, status.Fault, res.Outcome)
		assert.Contains(t, console, "unigo: kernel fault: #PF page fault")
		assert.Contains(t, console, "unigo: fault address 0x0\n")
		// The faulting instruction is selfTest's own load through nil.
		assert.Regexp(t, `(?m)^unigo: rip 0x[0-9a-f]+ `+regexp.QuoteMeta(selfTestFunc)+`\+0x[0-9a-f]+$`, console)
		assert.Regexp(t, `(?m)^unigo:   called from 0x[0-9a-f]+ \S+`, console)
		assert.NotContains(t, console, "did not fault")
	})
	t.Run("bounds", func(t *testing.T) {
		t.Parallel()
		console, res := boot(t, "probe", vm{Extra: "unigo.selftest=1"}, "kernelfault", "bounds")
		assert.Equal(t, status.RunnerKernelFault, res.ExitCode)
		assert.Equal(t, status.Fault, res.Outcome)
		assert.Contains(t, console, "unigo: kernel fault:")
		assert.Regexp(t, `(?m)^unigo: rip 0x[0-9a-f]+ \S+\+0x[0-9a-f]+$`, console, "a symbolized rip")
		// The failed check calls runtime.panicBounds, which cannot run in kernel
		// context (there is no m: acquirem in runtime.pcvalue faults at 0x108, as
		// fault.go expects of "a failed bounds check reaching a nil m"). Wherever
		// the report stops, its backtrace leads to selfTest.
		assert.Regexp(t, `(?m)^unigo: (rip|  called from) 0x[0-9a-f]+ `+regexp.QuoteMeta(selfTestFunc)+`\+0x[0-9a-f]+$`, console)
		assert.Contains(t, console, "called from")
		assert.NotContains(t, console, "did not fault")
	})
}

// TestKernelFaultNeedsSelfTest proves that the fault-on-purpose system call is
// off without unigo.selftest=1: it fails with ENOSYS and the program goes on to
// exit 1 by itself.
func TestKernelFaultNeedsSelfTest(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"nil", "bounds"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			console, res := boot(t, "probe", vm{}, "kernelfault", kind)
			assert.Equal(t, 1, res.ExitCode)
			assert.Contains(t, console, "the kernel did not fault: function not implemented\n")
			assert.NotContains(t, console, "unigo: kernel fault")
		})
	}
}

// TestHangTimesOut proves that a guest that never exits cannot pass for
// success: once the boot's timeout expires, the VM is killed and the runner
// reports 127 (no status) with TimedOut set, after the guest had booted and
// printed.
func TestHangTimesOut(t *testing.T) {
	t.Parallel()
	const timeout = 3 * time.Second
	start := time.Now()
	console, res := boot(t, "sleeper", vm{Timeout: timeout})
	took := time.Since(start)
	assert.Equal(t, status.RunnerNoStatus, res.ExitCode)
	assert.True(t, res.TimedOut, "TimedOut")
	assert.Equal(t, status.NoStatus, res.Outcome)
	assert.Contains(t, res.Reason, "timed out after 3s")
	assert.Equal(t, "sleeper: sleeping forever\n", console, "the guest booted and then slept")
	// Not a timing assertion on the guest: the VM cannot end before the timeout
	// unless it ended by itself, which TimedOut already rules out.
	assert.GreaterOrEqual(t, took, timeout)
}
