package kernel

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unigo-dev/unigo/rt/internal/sched"
)

// header reads the #defines of kernel_amd64.h.
func header(t *testing.T) map[string]uint64 {
	f, err := os.Open("kernel_amd64.h")
	require.NoError(t, err)
	defer f.Close()
	defs := map[string]uint64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 3 && fields[0] == "#define" {
			if v, err := strconv.ParseUint(fields[2], 0, 64); err == nil {
				defs[fields[1]] = v
			}
		}
	}
	return defs
}

// The assembly reads the per-CPU block and the Frame at fixed offsets: they must
// be the Go structs' offsets.
func TestAssemblyLayoutMatchesGo(t *testing.T) {
	h := header(t)
	var c CPU
	for name, off := range map[string]uintptr{
		"CPU_SELF": unsafe.Offsetof(c.Self), "CPU_KSTACK": unsafe.Offsetof(c.KStackTop),
		"CPU_USERRSP": unsafe.Offsetof(c.UserRSP), "CPU_XSAVE": unsafe.Offsetof(c.XSave),
		"CPU_KERNELFS": unsafe.Offsetof(c.KernelFS), "CPU_PANICFS": unsafe.Offsetof(c.PanicFS),
		"CPU_FEATURES": unsafe.Offsetof(c.Features), "CPU_PENDING": unsafe.Offsetof(c.Pending),
		"CPU_APICBASE": unsafe.Offsetof(c.APICBase), "CPU_PANICSTACK": unsafe.Offsetof(c.PanicStack),
		"CPU_COPYINSN": unsafe.Offsetof(c.CopyInsn), "CPU_LOADINSN": unsafe.Offsetof(c.LoadInsn),
		"CPU_FAULTRET": unsafe.Offsetof(c.FaultRet), "CPU_COPYTAIL": unsafe.Offsetof(c.CopyTail),
	} {
		assert.Equal(t, uint64(off), h[name], name)
	}
	var ap apBlock
	for name, off := range map[string]uintptr{
		"AP_CR3": unsafe.Offsetof(ap.CR3), "AP_EFER": unsafe.Offsetof(ap.EFER), "AP_GDTR": unsafe.Offsetof(ap.GDTR),
		"AP_ENTRY64": unsafe.Offsetof(ap.Entry64), "AP_STACK": unsafe.Offsetof(ap.Stack), "AP_FS": unsafe.Offsetof(ap.FS),
		"AP_G": unsafe.Offsetof(ap.G), "AP_CPU": unsafe.Offsetof(ap.CPU), "AP_ALIVE": unsafe.Offsetof(ap.Alive),
		"AP_STACK32": unsafe.Sizeof(ap), "AP_SIZE": unsafe.Sizeof(ap),
	} {
		assert.Equal(t, uint64(off), h[name], name)
	}
	assert.Equal(t, uint64(APFrameBytes), h["FRAME_SIZE"]+64+8)
	var f sched.Frame
	for name, off := range map[string]uintptr{
		"F_R15": unsafe.Offsetof(f.R15), "F_R11": unsafe.Offsetof(f.R11), "F_RBP": unsafe.Offsetof(f.RBP),
		"F_RCX": unsafe.Offsetof(f.RCX), "F_RAX": unsafe.Offsetof(f.RAX), "F_FSBASE": unsafe.Offsetof(f.FSBase),
		"F_VECTOR": unsafe.Offsetof(f.Vector), "F_ERROR": unsafe.Offsetof(f.Error), "F_RIP": unsafe.Offsetof(f.RIP),
		"F_CS": unsafe.Offsetof(f.CS), "F_RFLAGS": unsafe.Offsetof(f.RFLAGS), "F_RSP": unsafe.Offsetof(f.RSP),
		"F_SS": unsafe.Offsetof(f.SS),
	} {
		assert.Equal(t, uint64(off), h[name], name)
	}
	assert.Equal(t, uint64(unsafe.Sizeof(f)), h["FRAME_SIZE"])
	assert.Equal(t, uint64(sched.FrameSize), h["FRAME_SIZE"])
	assert.Equal(t, uint64(sched.VecSyscall), h["VEC_SYSCALL"])
	assert.Equal(t, uint64(EntryFrameBytes), h["FRAME_SIZE"]+24)
	assert.Equal(t, uint64(BootStackSize), h["BOOT_STACK_SIZE"])
	assert.Equal(t, uint64(stackGuard), h["STACK_GUARD"])
	for name, v := range map[string]uint64{"KCODE": selKCode, "KDATA": selKData, "UCODE32": selUCode32,
		"UDATA": selUData, "UCODE": selUCode, "TSSSEL": selTSS, "FEAT_XSAVE": featXSave,
		"FEAT_XSAVEOPT": featXSaveOpt, "FEAT_FSGSBASE": featFSGSBase, "FEAT_X2APIC": featX2APIC,
		"VEC_PIC_FIRST": vecPICBase, "VEC_PIC_LAST": vecPICBase + 15, "VEC_SPURIOUS": vecSpurious} {
		assert.Equal(t, v, h[name], name)
	}
}
