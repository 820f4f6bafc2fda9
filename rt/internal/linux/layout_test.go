package linux

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
)

// TestSignalFrameLayout pins the signal structures to Linux's x86-64 ABI
// (arch/x86/include/uapi/asm/sigcontext.h, ucontext.h, siginfo.h): the Go
// runtime reads them at these offsets.
func TestSignalFrameLayout(t *testing.T) {
	var sf RtSigframe
	assert.EqualValues(t, 128, unsafe.Sizeof(Siginfo{}))
	assert.EqualValues(t, 16, unsafe.Offsetof(sf.Info.Fields))
	assert.EqualValues(t, 256, unsafe.Sizeof(Sigcontext{}))
	var sc Sigcontext
	assert.EqualValues(t, 15*8, unsafe.Offsetof(sc.RSP))
	assert.EqualValues(t, 16*8, unsafe.Offsetof(sc.RIP))
	assert.EqualValues(t, 17*8, unsafe.Offsetof(sc.EFlags))
	assert.EqualValues(t, 18*8, unsafe.Offsetof(sc.CS))
	assert.EqualValues(t, 18*8+6, unsafe.Offsetof(sc.SS))
	assert.EqualValues(t, 19*8, unsafe.Offsetof(sc.Err))
	assert.EqualValues(t, 22*8, unsafe.Offsetof(sc.CR2))
	assert.EqualValues(t, 23*8, unsafe.Offsetof(sc.FPState))
	assert.EqualValues(t, 304, unsafe.Sizeof(Ucontext{}))
	var uc Ucontext
	assert.EqualValues(t, 16, unsafe.Offsetof(uc.Stack))
	assert.EqualValues(t, 40, unsafe.Offsetof(uc.Mcontext))
	assert.EqualValues(t, 296, unsafe.Offsetof(uc.Sigmask))
	assert.EqualValues(t, 440, unsafe.Sizeof(sf))
	assert.EqualValues(t, 8, unsafe.Offsetof(sf.Uc))
	assert.EqualValues(t, 312, unsafe.Offsetof(sf.Info))
	assert.EqualValues(t, 48, unsafe.Sizeof(FPXSWBytes{}))
	assert.EqualValues(t, 64, unsafe.Sizeof(Sigevent{}))
	var ev Sigevent
	assert.EqualValues(t, 8, unsafe.Offsetof(ev.Signo))
	assert.EqualValues(t, 12, unsafe.Offsetof(ev.Notify))
	assert.EqualValues(t, 16, unsafe.Offsetof(ev.TID))
	assert.EqualValues(t, 32, unsafe.Sizeof(Itimerspec{}))
	assert.EqualValues(t, 32, unsafe.Sizeof(Itimerval{}))
	assert.EqualValues(t, 32, unsafe.Sizeof(Sigaction{}))
	assert.EqualValues(t, 24, unsafe.Sizeof(StackT{}))
}
