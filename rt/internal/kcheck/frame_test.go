package kcheck

import (
	"debug/elf"
	"encoding/binary"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// These tests run the per-function analysis on hand-assembled code, to pin
// down stack tracking and control flow case by case. Every function of the
// synthetic image lives at a fixed address; a few have names the analysis
// gives meaning to.
const (
	fAddr      = 0x1000 // the function under test
	gAddr      = 0x2000 // main.g: an ordinary callee
	panicAddr  = 0x3000 // runtime.panicBounds: does not return
	stackAddr  = 0x4000 // runtime.morestack_noctxt.abi0
	dataAddr   = 0x8000 // read-only data (jump tables)
	symbolSize = 0x100
)

// asm assembles x86-64 code for a synthetic function, with forward labels.
type asm struct {
	base   uint64
	b      []byte
	labels map[string]uint64
	fixups map[int]string // offset of a rel32 -> label it points to
}

func newAsm(base uint64) *asm {
	return &asm{base: base, labels: map[string]uint64{
		"g": gAddr, "panic": panicAddr, "morestack": stackAddr,
	}, fixups: map[int]string{}}
}

func (a *asm) pc() uint64 { return a.base + uint64(len(a.b)) }

// raw appends instruction bytes.
func (a *asm) raw(b ...byte) *asm { a.b = append(a.b, b...); return a }

// label names the current address.
func (a *asm) label(name string) *asm { a.labels[name] = a.pc(); return a }

// rel32 appends an opcode whose rel32 operand points at label.
func (a *asm) rel32(label string, op ...byte) *asm {
	a.raw(op...)
	a.fixups[len(a.b)] = label
	return a.raw(0, 0, 0, 0)
}

func (a *asm) call(label string) *asm { return a.rel32(label, 0xe8) }
func (a *asm) jmp(label string) *asm  { return a.rel32(label, 0xe9) }
func (a *asm) jbe(label string) *asm  { return a.rel32(label, 0x0f, 0x86) }
func (a *asm) ja(label string) *asm   { return a.rel32(label, 0x0f, 0x87) }

// code resolves the labels.
func (a *asm) code(t *testing.T) []byte {
	for at, l := range a.fixups {
		target, ok := a.labels[l]
		require.True(t, ok, "label %s", l)
		binary.LittleEndian.PutUint32(a.b[at:], uint32(int32(int64(target)-int64(a.base)-int64(at+4))))
	}
	return a.b
}

// Instruction bytes used below.
var (
	splitCheck = []byte{0x49, 0x3b, 0x66, 0x10} // CMPQ SP, 16(R14)
	pushBP     = []byte{0x55}                   // PUSHQ BP
	pushAX     = []byte{0x50}                   // PUSHQ AX
	pushAX16   = []byte{0x66, 0x50}             // PUSHW AX
	popBP      = []byte{0x5d}                   // POPQ BP
	movSPBP    = []byte{0x48, 0x89, 0xe5}       // MOVQ SP, BP
	movBPSP    = []byte{0x48, 0x89, 0xec}       // MOVQ BP, SP
	movAXSP    = []byte{0x48, 0x89, 0xc4}       // MOVQ AX, SP
	and16SP    = []byte{0x48, 0x83, 0xe4, 0xf0} // ANDQ $-16, SP
	leave      = []byte{0xc9}
	ret        = []byte{0xc3}
	nop        = []byte{0x90}
	callAX     = []byte{0xff, 0xd0} // CALL AX
	jmpAX      = []byte{0xff, 0xe0} // JMP AX
	vzeroupper = []byte{0xc5, 0xf8, 0x77}
)

func subSP(n byte) []byte { return []byte{0x48, 0x83, 0xec, n} } // SUBQ $n, SP
func addSP(n byte) []byte { return []byte{0x48, 0x83, 0xc4, n} } // ADDQ $n, SP

// synth builds an image holding f (at fAddr), its fixed neighbours, and data.
func synth(t *testing.T, f *asm, data []byte) *image {
	img := &image{byName: map[string][]*function{}, data: map[*elf.Section][]byte{}}
	add := func(name string, addr uint64, code []byte) {
		require.LessOrEqual(t, len(code), symbolSize)
		fn := &function{name: name, start: addr, end: addr + uint64(len(code)), code: code}
		img.funcs = append(img.funcs, fn)
		img.byName[name] = append(img.byName[name], fn)
	}
	add("main.f", fAddr, f.code(t))
	add("main.g", gAddr, append(append([]byte{}, nop...), ret...))
	add("runtime.panicBounds", panicAddr, []byte{0xcc})
	add("runtime.morestack_noctxt.abi0", stackAddr, ret)
	sort.Slice(img.funcs, func(i, j int) bool { return img.funcs[i].start < img.funcs[j].start })
	rodata := &elf.Section{SectionHeader: elf.SectionHeader{Name: ".rodata", Addr: dataAddr, Size: uint64(len(data))}}
	img.sections = append(img.sections, rodata)
	img.data[rodata] = data
	return img
}

// frameOf analyzes f alone.
func frameOf(t *testing.T, f *asm, data []byte) *frame {
	img := synth(t, f, data)
	return analyzeFrame(img, img.byName["main.f"][0])
}

// goFunc is a Go-style function: split check, frame of n bytes, one call to
// callee (in the body), return, and the morestack tail.
func goFunc(n byte, body func(a *asm)) *asm {
	a := newAsm(fAddr)
	a.raw(splitCheck...).jbe("tail")
	a.raw(pushBP...).raw(movSPBP...).raw(subSP(n)...)
	body(a)
	a.raw(addSP(n)...).raw(popBP...).raw(ret...)
	a.label("tail").call("morestack").jmp("start")
	a.labels["start"] = fAddr
	return a
}

func problemKinds(fr *frame) []string {
	var ks []string
	for _, p := range fr.problems {
		ks = append(ks, p.kind)
	}
	return ks
}

func TestFrameGoPrologue(t *testing.T) {
	fr := frameOf(t, goFunc(0x28, func(a *asm) { a.call("g") }), nil)
	assert.Empty(t, fr.problems)
	assert.Equal(t, 8+0x28, fr.maxSP)
	require.Len(t, fr.calls, 2)
	assert.Equal(t, callSite{pc: fr.calls[0].pc, sp: 8 + 0x28, target: gAddr}, fr.calls[0])
	assert.Equal(t, stackAddr, int(fr.calls[1].target))
	assert.Equal(t, 0, fr.calls[1].sp, "the morestack tail runs before the frame exists")
}

func TestFrameNoReturnCall(t *testing.T) {
	// The compiler ends a function with CALL panic; NOP when the last block
	// does not return, and the morestack tail follows in memory.
	build := func(callee string) *asm {
		a := newAsm(fAddr)
		a.raw(splitCheck...).jbe("tail")
		a.raw(pushBP...).raw(movSPBP...).raw(subSP(0x10)...)
		a.call(callee).raw(nop...)
		a.label("tail").call("morestack").jmp("start")
		a.labels["start"] = fAddr
		return a
	}
	fr := frameOf(t, build("panic"), nil)
	assert.Empty(t, fr.problems)
	assert.Equal(t, 8+0x10, fr.maxSP)

	// Were the callee to return, the tail would be entered with the frame
	// still allocated: the checker must notice rather than pick one offset.
	// (Reported where the paths meet: the tail, and the start it jumps back to.)
	fr = frameOf(t, build("g"), nil)
	require.NotEmpty(t, fr.problems)
	for _, p := range fr.problems {
		assert.Equal(t, KindUnanalyzable, p.kind)
		assert.Contains(t, p.detail, "stack offset is")
	}
}

func TestFramePushesAndAlignment(t *testing.T) {
	a := newAsm(fAddr)
	a.raw(pushBP...).raw(movSPBP...)
	a.raw(and16SP...)                 // up to 15 bytes of padding
	a.raw(pushAX...).raw(pushAX16...) // 8 + 2
	a.raw(subSP(0x20)...).call("g")   // 0x20
	a.raw(vzeroupper...)              // decoded with the right length
	a.raw(movBPSP...).raw(popBP...).raw(ret...)
	fr := frameOf(t, a, nil)
	assert.Empty(t, fr.problems)
	want := 8 + 15 + 8 + 2 + 0x20
	assert.Equal(t, want, fr.maxSP)
	require.Len(t, fr.calls, 1)
	assert.Equal(t, want, fr.calls[0].sp)
}

func TestFrameLeave(t *testing.T) {
	a := newAsm(fAddr)
	a.raw(pushBP...).raw(movSPBP...).raw(subSP(0x40)...).raw(leave...).raw(ret...)
	fr := frameOf(t, a, nil)
	assert.Empty(t, fr.problems)
	assert.Equal(t, 8+0x40, fr.maxSP)

	// LEAVE without a known frame pointer cannot be followed.
	a = newAsm(fAddr)
	a.raw(pushBP...).raw(subSP(0x40)...).raw(leave...).raw(ret...)
	assert.Equal(t, []string{KindUnanalyzable}, problemKinds(frameOf(t, a, nil)))
}

func TestFrameStackSwitch(t *testing.T) {
	a := newAsm(fAddr)
	a.raw(movAXSP...).call("g").raw(ret...)
	fr := frameOf(t, a, nil)
	assert.Equal(t, []string{KindUnanalyzable}, problemKinds(fr))
	assert.Contains(t, fr.problems[0].detail, "MOV RSP, RAX")
	assert.Empty(t, fr.calls, "nothing after a stack switch is analyzed")
}

func TestFrameUnbalancedReturn(t *testing.T) {
	a := newAsm(fAddr)
	a.raw(pushAX...).raw(ret...)
	fr := frameOf(t, a, nil)
	assert.Equal(t, []string{KindUnanalyzable}, problemKinds(fr))
	assert.Contains(t, fr.problems[0].detail, "stack offset 8")
}

func TestFrameRunsOffTheEnd(t *testing.T) {
	a := newAsm(fAddr)
	a.raw(nop...)
	assert.Equal(t, []string{KindUnanalyzable}, problemKinds(frameOf(t, a, nil)))

	// After a call it is the compiler's "does not return".
	a = newAsm(fAddr)
	a.raw(pushBP...).call("g").raw(nop...)
	assert.Empty(t, frameOf(t, a, nil).problems)
}

func TestFrameTailCall(t *testing.T) {
	a := newAsm(fAddr)
	a.raw(pushBP...).raw(popBP...).jmp("g")
	fr := frameOf(t, a, nil)
	assert.Empty(t, fr.problems)
	require.Len(t, fr.calls, 1)
	assert.Equal(t, callSite{pc: fAddr + 2, sp: 0, target: gAddr, tail: true}, fr.calls[0])
}

func TestFrameBadTargets(t *testing.T) {
	a := newAsm(fAddr)
	a.labels["mid"] = gAddr + 1 // not a function start
	a.labels["nowhere"] = 0x9000
	a.call("mid").jmp("nowhere")
	fr := frameOf(t, a, nil)
	assert.Equal(t, []string{KindUnknownTarget, KindUnknownTarget}, problemKinds(fr))
	assert.Contains(t, fr.problems[0].detail, "main.g+0x1")
}

func TestFrameIndirect(t *testing.T) {
	a := newAsm(fAddr)
	a.raw(callAX...).raw(jmpAX...)
	fr := frameOf(t, a, nil)
	assert.Equal(t, []string{KindIndirect, KindIndirect}, problemKinds(fr))
}

func TestFrameJumpTable(t *testing.T) {
	// switch AX { case 0, 1, 2 } with a 3-entry table; a fourth entry in the
	// data after it points at code only a misread table would reach.
	a := newAsm(fAddr)
	a.raw(pushBP...)
	a.raw(0x48, 0x83, 0xf8, 0x02).ja("default") // CMPQ AX, $2; JA default
	a.rel32("table", 0x48, 0x8d, 0x0d)          // LEAQ table(IP), CX
	a.raw(nop...)                               // alignment padding, as the assembler adds
	a.raw(0xff, 0x24, 0xc1)                     // JMP (CX)(AX*8)
	for _, c := range []string{"c0", "c1", "c2"} {
		a.label(c).call("g").jmp("default")
	}
	a.label("c3").call("panic")
	a.label("default").raw(popBP...).raw(ret...)
	a.labels["table"] = dataAddr

	data := make([]byte, 32)
	for i, c := range []string{"c0", "c1", "c2", "c3"} {
		binary.LittleEndian.PutUint64(data[8*i:], a.labels[c])
	}
	img := synth(t, a, data)
	fr := analyzeFrame(img, img.byName["main.f"][0])
	assert.Empty(t, fr.problems)
	var targets []uint64
	for _, c := range fr.calls {
		targets = append(targets, c.target)
		assert.Equal(t, 8, c.sp)
	}
	assert.Equal(t, []uint64{gAddr, gAddr, gAddr}, targets, "three cases, not the fourth entry")
}
