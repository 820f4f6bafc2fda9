package kcheck

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/arch/x86/x86asm"
)

// callSite is a direct call or tail jump out of a function.
type callSite struct {
	pc     uint64
	sp     int // stack offset at the instruction (see state.sp)
	target uint64
	tail   bool // a JMP: the callee reuses our return address instead of pushing one
}

// problem is something in a single function that makes it unsafe or
// impossible to analyze: an indirect call, a branch to an address that is not
// a function, an instruction or stack manipulation the checker cannot follow.
type problem struct {
	kind   string
	pc     uint64
	detail string
}

// frame is what the checker learns from one function's machine code alone.
type frame struct {
	fn       *function
	maxSP    int // deepest stack offset the function's own instructions reach
	calls    []callSite
	problems []problem
}

// state is the abstract machine state at one instruction. Offsets count bytes
// below the stack pointer at the function's first instruction, where the
// return address sits: PUSHQ BP makes sp 8.
type state struct {
	sp   int
	bp   int  // the offset BP holds, if bpOK
	bpOK bool // BP was set from SP on every path here
}

// work is an instruction to visit, with the state on entry to it.
type work struct {
	pc   uint64
	st   state
	from uint64 // the instruction that fell through to pc, 0 if reached by a jump
}

// maxJumpTable bounds how many entries a jump table of unknown length may have.
const maxJumpTable = 1024

// walker analyzes one function by following its control flow from the entry
// and tracking the stack pointer along every path. Following control flow
// (rather than decoding linearly) keeps apart the code after one return from
// the next block, which runs with the full frame, and the morestack tail,
// which runs before the frame exists.
type walker struct {
	img      *image
	fn       *function
	out      *frame
	insts    map[uint64]x86asm.Inst
	seen     map[uint64]state
	fallFrom map[uint64]uint64 // pc -> the instruction that fell through to it
	flagged  map[uint64]bool   // pcs that already have a problem reported
	work     []work
}

// analyzeFrame decodes fn and computes its own stack use and outgoing calls.
func analyzeFrame(img *image, fn *function) *frame {
	w := newWalker(img, fn)
	w.run()
	return w.out
}

func newWalker(img *image, fn *function) *walker {
	return &walker{
		img:      img,
		fn:       fn,
		out:      &frame{fn: fn},
		insts:    map[uint64]x86asm.Inst{},
		seen:     map[uint64]state{},
		fallFrom: map[uint64]uint64{},
		flagged:  map[uint64]bool{},
	}
}

// run walks every path from the function's first instruction.
func (w *walker) run() {
	w.work = append(w.work, work{pc: w.fn.start})
	for len(w.work) > 0 {
		it := w.work[len(w.work)-1]
		w.work = w.work[:len(w.work)-1]
		w.visit(it)
	}
	// Address order, so reports and deepest paths do not depend on the order
	// the walk happened to take.
	slices.SortFunc(w.out.calls, func(a, b callSite) int { return cmp.Compare(a.pc, b.pc) })
	slices.SortFunc(w.out.problems, func(a, b problem) int { return cmp.Compare(a.pc, b.pc) })
}

// fail records a problem at pc (once per pc).
func (w *walker) fail(kind string, pc uint64, format string, args ...any) {
	if w.flagged[pc] {
		return
	}
	w.flagged[pc] = true
	w.out.problems = append(w.out.problems, problem{kind: kind, pc: pc, detail: fmt.Sprintf(format, args...)})
}

// visit processes one instruction reached in state it.st.
func (w *walker) visit(it work) {
	if it.pc < w.fn.start || it.pc >= w.fn.end {
		if !w.afterCall(it.from) {
			w.fail(KindUnanalyzable, it.from, "execution runs past the end of the function")
		}
		return
	}
	if old, ok := w.seen[it.pc]; ok {
		if old.sp != it.st.sp {
			w.fail(KindUnanalyzable, it.pc, "stack offset is %d on one path and %d on another", old.sp, it.st.sp)
			return
		}
		if old == it.st || !old.bpOK {
			return
		}
		// Paths disagree about BP: forget it and go round once more.
		it.st.bpOK = false
	} else if it.from != 0 {
		w.fallFrom[it.pc] = it.from
	}
	w.seen[it.pc] = it.st

	inst, err := decode(w.fn.code[it.pc-w.fn.start:])
	if err != nil {
		w.fail(KindUnanalyzable, it.pc, "cannot decode instruction: %v", err)
		return
	}
	w.insts[it.pc] = inst
	next := it.pc + uint64(inst.Len)

	st, ok := w.step(it.pc, inst, it.st)
	if !ok {
		return
	}
	w.out.maxSP = max(w.out.maxSP, st.sp)
	if w.flow(it.pc, inst, st) {
		w.work = append(w.work, work{pc: next, st: st, from: it.pc})
	}
}

// afterCall reports whether pc is a CALL, or NOPs that follow one. Running
// past the end of a function is normal there: the callee does not return, and
// the compiler ends the function with the call (and a NOP that keeps the
// return address inside the function for tracebacks). Anywhere else it would
// mean execution continues into the next symbol, which is not analyzed.
func (w *walker) afterCall(pc uint64) bool {
	for {
		inst, ok := w.insts[pc]
		switch {
		case !ok:
			return false
		case inst.Op == x86asm.CALL:
			return true
		case inst.Op != x86asm.NOP:
			return false
		}
		if pc, ok = w.fallFrom[pc]; !ok {
			return false
		}
	}
}

// compilerNoReturn reports whether the Go compiler treats a call to name as
// never returning, so that what follows the call in memory is another block
// (often the morestack tail, which runs with no frame) rather than the
// continuation. Following the call into it would mix up stack offsets. The
// list mirrors cmd/compile's (ssagen: throw in runtime packages, gopanic,
// panicwrap, block, the panicmakeslice/panicunsafe family, panicrangestate)
// plus the runtime checks the backend emits as exit blocks, and
// runtime.abort, which assembly calls before RETs that are never reached.
func compilerNoReturn(name string) bool {
	if pkg, ok := strings.CutSuffix(name, ".throw"); ok {
		return pkg == "runtime" || strings.HasPrefix(pkg, "internal/runtime/")
	}
	if strings.HasPrefix(name, "runtime.goPanic") {
		return true
	}
	switch strings.TrimSuffix(name, abi0Suffix) {
	case "runtime.throwinit", "runtime.gopanic", "runtime.panicwrap", "runtime.block",
		"runtime.panicmakeslicelen", "runtime.panicmakeslicecap",
		"runtime.panicunsafeslicelen", "runtime.panicunsafeslicelen1",
		"runtime.panicunsafeslicenilptr", "runtime.panicunsafeslicenilptr1",
		"runtime.panicunsafestringlen", "runtime.panicunsafestringnilptr",
		"runtime.panicrangestate",
		"runtime.panicBounds", "runtime.panicExtend", "runtime.panicdivide", "runtime.panicshift",
		"runtime.panicoverflow", "runtime.panicfloat", "runtime.panicmem", "runtime.panicmemAddr",
		"runtime.panicdottypeE", "runtime.panicdottypeI", "runtime.panicnildottype",
		"runtime.abort":
		return true
	}
	return false
}

// flow handles control transfer by inst at pc: it queues branch targets,
// records calls, and reports whether execution can fall through to the next
// instruction.
func (w *walker) flow(pc uint64, inst x86asm.Inst, st state) bool {
	next := pc + uint64(inst.Len)
	switch inst.Op {
	case x86asm.RET, x86asm.LRET:
		if st.sp != 0 {
			w.fail(KindUnanalyzable, pc, "returns with stack offset %d (unbalanced stack)", st.sp)
		}
		return false
	case x86asm.IRET, x86asm.IRETD, x86asm.IRETQ, x86asm.SYSRET, x86asm.SYSEXIT,
		x86asm.UD0, x86asm.UD1, x86asm.UD2:
		return false
	case x86asm.INT:
		// INT3 is the compiler's "unreachable" and padding; other INTs return.
		return inst.Args[0] != x86asm.Imm(3)
	case x86asm.LCALL, x86asm.LJMP:
		w.fail(KindUnanalyzable, pc, "far %v", inst)
		return false
	case x86asm.CALL:
		rel, ok := inst.Args[0].(x86asm.Rel)
		if !ok {
			w.fail(KindIndirect, pc, "indirect call %v", inst)
			return true
		}
		target := uint64(int64(next) + int64(rel))
		callee := w.img.at(target)
		if callee == nil {
			w.fail(KindUnknownTarget, pc, "CALL %#x%s is not the start of a function", target, w.describe(target))
			return true
		}
		w.out.calls = append(w.out.calls, callSite{pc: pc, sp: st.sp, target: target})
		return !compilerNoReturn(callee.name)
	case x86asm.JMP:
		rel, ok := inst.Args[0].(x86asm.Rel)
		if !ok {
			w.jumpTable(pc, inst, st)
			return false
		}
		w.branch(pc, uint64(int64(next)+int64(rel)), st)
		return false
	}
	if rel, ok := inst.Args[0].(x86asm.Rel); ok {
		// Jcc, LOOP, JRCXZ, XBEGIN: may branch, may fall through.
		w.branch(pc, uint64(int64(next)+int64(rel)), st)
	}
	return true
}

// branch follows a direct jump. Inside the function it is local control flow;
// to the start of another function it is a tail call.
func (w *walker) branch(pc, target uint64, st state) {
	if target >= w.fn.start && target < w.fn.end {
		w.work = append(w.work, work{pc: target, st: st})
		return
	}
	if w.img.at(target) == nil {
		w.fail(KindUnknownTarget, pc, "jump to %#x%s, which is neither in this function nor the start of another", target, w.describe(target))
		return
	}
	w.out.calls = append(w.out.calls, callSite{pc: pc, sp: st.sp, target: target, tail: true})
}

// describe names the function containing addr, for messages.
func (w *walker) describe(addr uint64) string {
	if fn := w.img.containing(addr); fn != nil {
		return " (" + fn.where(addr) + ")"
	}
	return ""
}

// jumpTable follows an indirect JMP that is a Go switch jump table:
//
//	CMPQ idx, $n            ; or ANDL $mask, idx: gives the length, optional
//	JA   default
//	…                       ; unrelated moves, alignment NOPs
//	LEAQ table(IP), base
//	JMP  (base)(idx*8)
//
// The table holds absolute addresses inside the function. Any other indirect
// jump goes somewhere the checker cannot see and is reported as indirect.
func (w *walker) jumpTable(pc uint64, inst x86asm.Inst, st state) {
	table, n, ok := w.findTable(pc, inst)
	if !ok {
		w.fail(KindIndirect, pc, "indirect jump %v", inst)
		return
	}
	known := n > 0
	if !known {
		n = maxJumpTable
	}
	for i := range n {
		b, err := w.img.read(table+uint64(8*i), 8)
		if err != nil {
			if known {
				w.fail(KindUnanalyzable, pc, "jump table at %#x: %v", table, err)
			}
			return
		}
		target := binary.LittleEndian.Uint64(b)
		if target < w.fn.start || target >= w.fn.end {
			// Without a length, the first entry outside the function ends the table.
			if known {
				w.fail(KindUnanalyzable, pc, "jump table at %#x: entry %d (%#x) is outside the function", table, i, target)
			}
			return
		}
		w.work = append(w.work, work{pc: target, st: st})
	}
}

// maxTableLookback bounds how far back findTable looks for the table's LEAQ
// and bounds check.
const maxTableLookback = 8

// findTable matches the jump-table pattern that leads to the JMP at pc and
// returns the table's address and length (0 when unknown). It looks back
// only along fall-through, which is how the compiler lays the pattern out.
func (w *walker) findTable(pc uint64, jmp x86asm.Inst) (table uint64, n int, ok bool) {
	m, isMem := jmp.Args[0].(x86asm.Mem)
	if !isMem || m.Scale != 8 || m.Index == 0 || m.Base == 0 {
		return 0, 0, false
	}
	baseFound := false
	for range maxTableLookback {
		prev, ok := w.fallFrom[pc]
		if !ok {
			break
		}
		pc = prev
		inst := w.insts[pc]
		if !baseFound {
			if !writes(inst, m.Base) {
				continue
			}
			src, isMem := inst.Args[1].(x86asm.Mem)
			if inst.Op != x86asm.LEA || !isMem || src.Base != x86asm.RIP || src.Index != 0 {
				return 0, 0, false
			}
			table = uint64(int64(pc) + int64(inst.Len) + src.Disp + m.Disp)
			baseFound = true
		}
		if n, done := w.tableBound(pc, inst, m.Index); done {
			return table, n, true
		}
	}
	return table, 0, baseFound
}

// tableBound looks at one instruction before a jump-table dispatch for what
// bounds the index register: done is true once the index's origin is found,
// with n the table length, or 0 if the bound is not a recognized one.
func (w *walker) tableBound(pc uint64, inst x86asm.Inst, idx x86asm.Reg) (n int, done bool) {
	switch {
	case inst.Op == x86asm.JA || inst.Op == x86asm.JAE:
		cmpPC, ok := w.fallFrom[pc]
		if !ok {
			return 0, true
		}
		cmp := w.insts[cmpPC]
		limit, isImm := cmp.Args[1].(x86asm.Imm)
		if cmp.Op != x86asm.CMP || !isImm || !sameReg(cmp.Args[0], idx) || limit < 0 || limit >= maxJumpTable {
			return 0, true
		}
		if inst.Op == x86asm.JA {
			return int(limit) + 1, true
		}
		return int(limit), true
	case writes(inst, idx):
		mask, isImm := inst.Args[1].(x86asm.Imm)
		if inst.Op == x86asm.AND && isImm && mask >= 0 && mask < maxJumpTable {
			return int(mask) + 1, true
		}
		return 0, true
	}
	return 0, false
}

// writes reports whether inst writes general register r (any width). It is
// used only to find the last write before a jump-table dispatch, so it needs
// to be right for moves and arithmetic, and errs on the side of "writes".
func writes(inst x86asm.Inst, r x86asm.Reg) bool {
	switch inst.Op {
	case x86asm.CMP, x86asm.TEST, x86asm.BT, x86asm.PUSH, x86asm.NOP,
		x86asm.JMP, x86asm.JA, x86asm.JAE, x86asm.JB, x86asm.JBE, x86asm.JE, x86asm.JNE,
		x86asm.JG, x86asm.JGE, x86asm.JL, x86asm.JLE:
		return false
	}
	for _, a := range inst.Args[:2] {
		if sameReg(a, r) {
			return true
		}
	}
	return false
}

// step applies inst's effect on the stack pointer and frame pointer. It
// returns false, after reporting why, when the new SP cannot be known.
func (w *walker) step(pc uint64, inst x86asm.Inst, st state) (state, bool) {
	dst, _ := inst.Args[0].(x86asm.Reg)
	switch inst.Op {
	case x86asm.PUSH, x86asm.PUSHF, x86asm.PUSHFD, x86asm.PUSHFQ:
		st.sp += pushSize(inst)
		return st, true
	case x86asm.POP, x86asm.POPF, x86asm.POPFD, x86asm.POPFQ:
		if isSP(dst) {
			return w.lost(pc, inst, st) // POPQ SP: a stack switch
		}
		st.sp -= pushSize(inst)
		if isBP(dst) {
			st.bpOK = false
		}
		return st, true
	case x86asm.LEAVE: // MOVQ BP, SP; POPQ BP
		if !st.bpOK {
			return w.lost(pc, inst, st)
		}
		st.sp, st.bpOK = st.bp-8, false
		return st, true
	case x86asm.ENTER:
		return w.lost(pc, inst, st)
	case x86asm.CALL, x86asm.JMP, x86asm.CMP, x86asm.TEST, x86asm.BT:
		// These read their operands and never write SP or BP.
		return st, true
	case x86asm.XCHG:
		src, _ := inst.Args[1].(x86asm.Reg)
		if isSP(dst) || isSP(src) {
			return w.lost(pc, inst, st)
		}
		if isBP(dst) || isBP(src) {
			st.bpOK = false
		}
		return st, true
	}
	switch {
	case isSP(dst):
		return w.setSP(pc, inst, st)
	case isBP(dst):
		return setBP(inst, st), true
	}
	return st, true
}

// lost reports that SP cannot be followed through inst.
func (w *walker) lost(pc uint64, inst x86asm.Inst, st state) (state, bool) {
	w.fail(KindUnanalyzable, pc, "cannot follow the stack pointer through %v", inst)
	return st, false
}

// setSP handles an instruction that writes SP. Only the forms Go code and
// frame-keeping assembly use are understood; anything else (a stack switch,
// SP computed from data) is reported.
func (w *walker) setSP(pc uint64, inst x86asm.Inst, st state) (state, bool) {
	imm, isImm := inst.Args[1].(x86asm.Imm)
	mem, isMem := inst.Args[1].(x86asm.Mem)
	reg, _ := inst.Args[1].(x86asm.Reg)
	full := inst.Args[0] == x86asm.RSP
	switch {
	case full && inst.Op == x86asm.SUB && isImm:
		st.sp += int(imm)
		return st, true
	case full && inst.Op == x86asm.ADD && isImm:
		st.sp -= int(imm)
		return st, true
	case full && inst.Op == x86asm.AND && isImm && imm < 0 && (-imm)&(-imm-1) == 0:
		// Aligning SP down costs at most alignment-1 bytes.
		st.sp += int(-imm) - 1
		return st, true
	case full && inst.Op == x86asm.LEA && isMem && mem.Index == 0 && mem.Base == x86asm.RSP:
		st.sp -= int(mem.Disp)
		return st, true
	case full && inst.Op == x86asm.LEA && isMem && mem.Index == 0 && mem.Base == x86asm.RBP && st.bpOK:
		st.sp = st.bp - int(mem.Disp)
		return st, true
	case full && inst.Op == x86asm.MOV && reg == x86asm.RBP && st.bpOK:
		st.sp = st.bp
		return st, true
	}
	return w.lost(pc, inst, st)
}

// setBP tracks BP when it is derived from SP (the frame pointer) and forgets
// it on any other write.
func setBP(inst x86asm.Inst, st state) state {
	mem, isMem := inst.Args[1].(x86asm.Mem)
	switch {
	case inst.Args[0] == x86asm.RBP && inst.Op == x86asm.MOV && inst.Args[1] == x86asm.RSP:
		st.bp, st.bpOK = st.sp, true
	case inst.Args[0] == x86asm.RBP && inst.Op == x86asm.LEA && isMem && mem.Base == x86asm.RSP && mem.Index == 0:
		st.bp, st.bpOK = st.sp-int(mem.Disp), true
	default:
		st.bpOK = false
	}
	return st
}

// pushSize is the number of bytes a PUSH or POP moves SP by: 8 in 64-bit
// mode unless an operand-size prefix makes it 2.
func pushSize(inst x86asm.Inst) int {
	if inst.DataSize == 16 {
		return 2
	}
	return 8
}

func isSP(r x86asm.Reg) bool {
	return r == x86asm.RSP || r == x86asm.ESP || r == x86asm.SP || r == x86asm.SPB
}

func isBP(r x86asm.Reg) bool {
	return r == x86asm.RBP || r == x86asm.EBP || r == x86asm.BP || r == x86asm.BPB
}

// sameReg reports whether a is the register r or a narrower view of it (the
// compiler may compare the 32-bit form of the index).
func sameReg(a x86asm.Arg, r x86asm.Reg) bool {
	ar, ok := a.(x86asm.Reg)
	if !ok {
		return false
	}
	return ar == r || regFamily(ar) == regFamily(r)
}

// regFamily maps 8/16/32/64-bit views of a general register to the 64-bit one.
func regFamily(r x86asm.Reg) x86asm.Reg {
	switch {
	case r >= x86asm.AX && r <= x86asm.R15W:
		return r - x86asm.AX + x86asm.RAX
	case r >= x86asm.EAX && r <= x86asm.R15L:
		return r - x86asm.EAX + x86asm.RAX
	}
	return r
}
