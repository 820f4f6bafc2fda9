package qemutests

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/unigo-dev/unigo/boot/qemu"
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

// TestMemoryProtection proves the protections the kernel sets up: text is
// read-only, data is not executable, page 0 is not mapped, and the kernel's
// memory is out of ring 3's reach. Each access raises SIGSEGV with Linux's
// si_code and address: the nil dereference becomes Go's nil-pointer panic, the
// others Go's fatal "unexpected fault address" report, exit status 2 either way,
// and the kernel stays intact (no kernel report).
func TestMemoryProtection(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ kind, want string }{
		{"writetext", "[signal SIGSEGV: segmentation violation code=0x2 addr="},
		{"execdata", "[signal SIGSEGV: segmentation violation code=0x2 addr="},
		{"nil", "panic: runtime error: invalid memory address or nil pointer dereference\n[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc="},
		{"kernel", "[signal SIGSEGV: segmentation violation code=0x1 addr=0xffff"},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			t.Parallel()
			console, res := boot(t, "probe", vm{}, "protect", tc.kind)
			assert.Equal(t, 2, res.ExitCode)
			assert.Contains(t, console, tc.want)
			if tc.kind != "nil" {
				assert.Contains(t, console, "unexpected fault address")
				assert.Contains(t, console, "fatal error: fault")
			}
			assert.Contains(t, console, "main.protect(")
			assert.NotContains(t, console, "nothing stopped it")
			assert.NotContains(t, console, "kernel fault")
			assert.NotContains(t, console, "killed by signal")
		})
	}
}

// TestRandomnessWithoutRDRAND proves the kernel's sources of randomness on a
// CPU without RDSEED and RDRAND (QEMU's default model): with a virtio-rng
// device the kernel seeds its generator from it at boot and crypto/rand works;
// without one the boot stops with a message that says what to do, and the
// kernel-fault status, instead of running with no randomness.
func TestRandomnessWithoutRDRAND(t *testing.T) {
	t.Parallel()
	t.Run("virtio-rng", func(t *testing.T) {
		t.Parallel()
		console, res := boot(t, "probe", vm{CPU: "qemu64"}, "rand")
		assert.Equal(t, 0, res.ExitCode)
		assert.Contains(t, console, "rand ok=true ")
	})
	t.Run("nothing", func(t *testing.T) {
		t.Parallel()
		console, res := boot(t, "hello", vm{CPU: "qemu64", NoRNG: true})
		assert.Equal(t, status.RunnerKernelFault, res.ExitCode)
		assert.Contains(t, console, "neither RDSEED nor RDRAND and there is no virtio-rng device")
		assert.Contains(t, console, "-cpu max")
		assert.NotContains(t, console, "hello from unigo")
	})
}

// TestWithoutXSAVE proves the FXSAVE path: on a CPU without XSAVE (and without
// x2APIC or TSC-deadline), threads and timers still keep their FP state and wake
// up.
func TestWithoutXSAVE(t *testing.T) {
	t.Parallel()
	if acc, _ := (qemu.Config{}).Accelerator(); acc != qemu.AccelTCG {
		t.Skip("needs TCG's qemu64 CPU model; hardware KVM passes the host CPU through")
	}
	console, res := boot(t, "timers", vm{CPU: "qemu64,+rdrand", Extra: "unigo.bootlog=1"})
	assert.Equal(t, 0, res.ExitCode)
	assert.Contains(t, console, "XSAVE area 512 bytes")
	assert.Contains(t, console, "pingpong 500500")
	assert.Regexp(t, `timers 1000 total`, console)
}

// TestUnknownSyscall proves that a system call the kernel does not have fails with
// ENOSYS, every time, and is logged once.
func TestUnknownSyscall(t *testing.T) {
	t.Parallel()
	console, res := boot(t, "probe", vm{}, "unknown")
	assert.Equal(t, 0, res.ExitCode)
	assert.Equal(t, 3, strings.Count(console, "swapon: function not implemented\n"))
	assert.Equal(t, 1, strings.Count(console, "unigo: system call 167 is not implemented; it returns ENOSYS\n"))
}
