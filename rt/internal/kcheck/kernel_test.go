package kcheck

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/arch/x86/x86asm"

	"github.com/unigo-dev/unigo/rt/internal/kernel"
)

// The kernel's entry points into Go code and the stacks they run on
// (rt/internal/kernel): kmain on the boot stack, trap on the per-CPU kernel
// stack below the Frame the entry code pushed, kernelFault on the panic stack.
func kernelEntries() []Entry {
	const pkg = "github.com/unigo-dev/unigo/rt/internal/kernel."
	return []Entry{
		{Symbol: pkg + "kmain", StackBytes: kernel.BootStackSize - 16},
		{Symbol: pkg + "trap", StackBytes: kernel.KernelStackSize - kernel.EntryFrameBytes},
		{Symbol: pkg + "kernelFault", StackBytes: kernel.PanicStackSize - 64 - 24},
		{Symbol: pkg + "apMain", StackBytes: kernel.KernelStackSize - kernel.APFrameBytes},
	}
}

// kernelConfig is DefaultConfig with the kernel's entries. enterUser is
// terminal: it leaves kernel context for good (it moves SP to the Frame and
// returns to ring 3), so nothing after it runs on the boot stack.
func kernelConfig() Config {
	cfg := DefaultConfig()
	cfg.Entries = kernelEntries()
	cfg.Terminal = append(cfg.Terminal, "github.com/unigo-dev/unigo/rt/internal/kernel.enterUser")
	return cfg
}

var (
	kernelImages   sync.Map // build tags -> path
	kernelBuildDir string
	kernelDirOnce  sync.Once
)

// kernelImage builds testdata/hello, the smallest unigo program, with the given
// extra build tags, once per set of tags.
func kernelImage(t *testing.T, tags string) string {
	t.Helper()
	if p, ok := kernelImages.Load(tags); ok {
		return p.(string)
	}
	kernelDirOnce.Do(func() {
		dir, err := os.MkdirTemp("", "kcheck-kernel-")
		require.NoError(t, err)
		kernelBuildDir = dir
	})
	out := filepath.Join(kernelBuildDir, "hello-"+strings.ReplaceAll(tags, ",", "-"))
	_, self, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(self), "..", "..", "..")
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-tags", tags, "-o", out, "./testdata/hello")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", b)
	kernelImages.Store(tags, out)
	return out
}

// TestKernelContext is the check ARCHITECTURE.md's decision 5 asks for, on the
// real kernel: from every kernel entry, no allocation, write barrier, scheduler
// call or Go lock, no recursion, no indirect call, and the deepest path fits the
// stack it runs on.
func TestKernelContext(t *testing.T) {
	img := kernelImage(t, "unikernel")
	cfg := kernelConfig()
	rep, err := Analyze(img, cfg)
	require.NoError(t, err)
	for _, v := range rep.Violations {
		t.Errorf("%s", v)
	}
	for _, e := range cfg.Entries {
		t.Logf("%s: deepest %d of %d bytes: %s", e.Symbol, rep.MaxDepth[e.Symbol], e.StackBytes-cfg.Guard,
			strings.Join(rep.DeepestPath[e.Symbol], " -> "))
		assert.Greater(t, rep.MaxDepth[e.Symbol], 0)
	}
}

// TestKernelContextCatchesMistakes links deliberately broken code into the same
// kernel (build tag unigo_kcheck_bad, rt/internal/syscalls/kcheckbad.go), reached
// from the system call path, and requires the check to report each mistake.
func TestKernelContextCatchesMistakes(t *testing.T) {
	img := kernelImage(t, "unikernel,unigo_kcheck_bad")
	cfg := kernelConfig()
	rep, err := Analyze(img, cfg)
	require.NoError(t, err)
	found := func(kind, fn, target string) bool {
		for _, v := range rep.Violations {
			if v.Kind != kind {
				continue
			}
			path := strings.Join(v.Path, " ")
			if strings.Contains(path, fn) && strings.Contains(path+" "+v.Detail, target) {
				return true
			}
		}
		return false
	}
	assert.True(t, found(KindDeny, "badAlloc", "runtime.makeslice"), "allocation\n%s", rep)
	assert.True(t, found(KindDeny, "badWriteBarrier", "runtime.gcWriteBarrier"), "write barrier\n%s", rep)
	assert.True(t, found(KindRecursion, "badRecursion", "badRecursion"), "recursion\n%s", rep)
	assert.True(t, found(KindIndirect, "badIndirect", ""), "indirect call\n%s", rep)
	assert.True(t, found(KindStack, "badDeepStack", ""), "stack overflow\n%s", rep)
}

// The 32-bit PVH entry as it must decode in 32-bit protected mode: the
// instructions pvhEntry was written as (boot_amd64.s), with no REX prefix read as
// INC/DEC, and the one RIP-relative LEA whose 32-bit meaning (an absolute
// displacement) the code relies on.
var entry32 = []string{
	"cli", "cld", "mov esi, ebx", "mov esp, 0x3ffff0", "call 0x1a", "pop ebp",
	"lea edi, ptr [*]", // boot32 - (end of this instruction): checked below
	"add edi, ebp", "add edi, 0x7", "rdtsc",
	"mov dword ptr [edi+0x40], eax", "mov dword ptr [edi+0x44], edx", "mov dword ptr [edi+0x48], esi",
	"mov esp, dword ptr [edi+0x38]",
	"mov eax, 0x80000000", "cpuid", "cmp eax, 0x80000001", "jb 0xf5",
	"mov eax, 0x80000001", "cpuid", "bt edx, 0x1d", "jnb 0xf5", "mov dword ptr [edi+0x4c], edx",
	"mov ebx, dword ptr [edi+0x30]", "add ebx, 0xfff", "and ebx, 0xfffff000",
	"lea eax, ptr [ebx+0x1000]", "or eax, 0x3", "mov dword ptr [ebx], eax",
	"xor ecx, ecx", "mov eax, ecx", "shl eax, 0xc", "lea eax, ptr [ebx+eax+0x2000]", "or eax, 0x3",
	"mov dword ptr [ebx+8*ecx+0x1000], eax", "inc ecx", "cmp ecx, 0x4", "jnz 0x76",
	"xor ecx, ecx", "mov eax, ecx", "shl eax, 0x15", "or eax, 0x83", "mov dword ptr [ebx+8*ecx+0x2000], eax",
	"inc ecx", "cmp ecx, 0x800", "jnz 0x95",
	"mov eax, cr4", "or eax, 0x20", "mov cr4, eax", "mov cr3, ebx",
	"mov ecx, 0xc0000080", "rdmsr", "or eax, 0x100", "mov edx, dword ptr [edi+0x4c]", "and edx, 0x100000",
	"shr edx, 0x9", "or eax, edx", "xor edx, edx", "wrmsr",
	"mov eax, cr0", "or eax, 0x80010001", "mov cr0, eax",
	"mov dword ptr [edi+0x22], edi", "lea eax, ptr [edi+0x20]", "lgdt ptr [eax]",
	"mov eax, dword ptr [edi+0x28]", "push 0x10", "push eax", "ret far",
	"lea esi, ptr [edi+0x50]", "mov edx, 0x3f8", "mov al, byte ptr [esi]", "cmp al, 0x0", "jz 0x108",
	"out dx, al", "inc esi", "jmp 0xfd", "mov edx, 0xf4", "mov eax, 0x7f", "out dx, eax", "hlt", "jmp 0x108",
}

func TestEntry32DecodesAsIntended(t *testing.T) {
	f, err := elf.Open(kernelImage(t, "unikernel"))
	require.NoError(t, err)
	defer f.Close()
	syms, err := f.Symbols()
	require.NoError(t, err)
	var entry, boot32 elf.Symbol
	for _, s := range syms {
		switch s.Name {
		case "github.com/unigo-dev/unigo/rt/internal/kernel.pvhEntry.abi0":
			entry = s
		case "github.com/unigo-dev/unigo/rt/internal/kernel.boot32":
			boot32 = s
		}
	}
	require.NotZero(t, entry.Value, "pvhEntry in the symbol table")
	require.NotZero(t, boot32.Value, "boot32 in the symbol table")
	text := f.Section(".text")
	code := make([]byte, entry.Size)
	_, err = text.ReadAt(code, int64(entry.Value-text.Addr))
	require.NoError(t, err)

	require.Equal(t, "\xEB\x0AUNIGO-PVH\x00", string(code[:12]), "the PVH signature boot/image looks for")
	off := 12
	for i, want := range entry32 {
		require.Less(t, off, len(code), "ran out of code at %q", want)
		inst, err := x86asm.Decode(code[off:], 32)
		require.NoError(t, err, "at +%#x", off)
		got := x86asm.IntelSyntax(inst, uint64(off), nil)
		if strings.HasSuffix(want, "[*]") {
			require.True(t, strings.HasPrefix(got, strings.TrimSuffix(want, "*]")), "instruction %d: %s", i, got)
			// In 32-bit mode this LEA loads its displacement, which the linker
			// computed as boot32 - (end of the instruction) for 64-bit mode;
			// the code then adds the run-time address of that end.
			disp := uint32(inst.Args[1].(x86asm.Mem).Disp)
			end := uint32(entry.Value) + uint32(off+inst.Len)
			assert.Equal(t, uint32(boot32.Value), disp+end, "boot32 is where the 32-bit code will look")
		} else {
			assert.Equal(t, want, got, "instruction %d at +%#x", i, off)
		}
		off += inst.Len
	}
	assert.Equal(t, len(code), off, "nothing after the last instruction")
}

// The real-mode AP trampoline (kernel/trampoline.go) as it must decode in 16-bit
// mode, with the addresses patched in as the kernel patches them.
var trampoline16 = []string{
	"cli", "mov ax, cs", "mov ds, ax",
	"lgdt ptr [0x40]", // with the operand-size prefix: a 32-bit base (checked below)
	"mov eax, cr0", "or eax, 0x1", "mov cr0, eax",
	"mov esi, 0x612340", // the AP start-up block
	"jmp far 0x4bf000, 0x8",
}

func TestTrampolineDecodesAsIntended(t *testing.T) {
	b := kernel.Trampoline(0x8000, 0x612340, 0x4bf000)
	off := 0
	for i, want := range trampoline16 {
		inst, err := x86asm.Decode(b[off:], 16)
		require.NoError(t, err, "at +%#x", off)
		assert.Equal(t, want, x86asm.IntelSyntax(inst, uint64(off), nil), "instruction %d at +%#x", i, off)
		if inst.Op == x86asm.LGDT {
			assert.Equal(t, 32, inst.DataSize, "LGDT must load a 32-bit base")
		}
		off += inst.Len
	}
	assert.Equal(t, kernel.TrampolineCodeLen, off, "nothing after the far jump")
	// The GDT register image the LGDT reads: limit 23, base = the page's GDT.
	assert.Equal(t, []byte{0x17, 0x00, 0x48, 0x80, 0x00, 0x00}, b[0x40:0x46])
}

// apEntry32 as it must decode in 32-bit protected mode (kernel/ap_amd64.s).
var apEntry32 = []string{
	"mov eax, 0x10", "mov ds, ax", "mov es, ax", "mov ss, ax", "lea esp, ptr [esi+0x60]",
	"mov eax, cr4", "or eax, 0x20", "mov cr4, eax", "mov eax, dword ptr [esi]", "mov cr3, eax",
	"mov ecx, 0xc0000080", "mov eax, dword ptr [esi+0x8]", "xor edx, edx", "wrmsr",
	"mov eax, cr0", "or eax, 0x80010001", "mov cr0, eax",
	"mov eax, dword ptr [esi+0x10]", "lgdt ptr [eax]", "mov eax, dword ptr [esi+0x18]",
	"push 0x10", "push eax", "ret far",
}

func TestAPEntry32DecodesAsIntended(t *testing.T) {
	f, err := elf.Open(kernelImage(t, "unikernel"))
	require.NoError(t, err)
	defer f.Close()
	syms, err := f.Symbols()
	require.NoError(t, err)
	var entry elf.Symbol
	for _, s := range syms {
		if s.Name == "github.com/unigo-dev/unigo/rt/internal/kernel.apEntry32.abi0" {
			entry = s
		}
	}
	require.NotZero(t, entry.Value, "apEntry32 in the symbol table")
	require.Less(t, entry.Value, uint64(1<<32), "apEntry32 is reached from 32-bit code")
	text := f.Section(".text")
	code := make([]byte, entry.Size)
	_, err = text.ReadAt(code, int64(entry.Value-text.Addr))
	require.NoError(t, err)
	off := 0
	for i, want := range apEntry32 {
		require.Less(t, off, len(code), "ran out of code at %q", want)
		inst, err := x86asm.Decode(code[off:], 32)
		require.NoError(t, err, "at +%#x", off)
		assert.Equal(t, want, x86asm.IntelSyntax(inst, uint64(off), nil), "instruction %d at +%#x", i, off)
		off += inst.Len
	}
	assert.Equal(t, len(code), off, "nothing after the far return")
}
