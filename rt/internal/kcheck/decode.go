package kcheck

import "golang.org/x/arch/x86/x86asm"

// decode decodes one 64-bit mode instruction at the start of code.
//
// The checker depends on instruction lengths more than on anything else: one
// wrong length and every later instruction of the path is decoded out of
// phase, which can hide a call. x86asm's VEX/EVEX decoder (new in v0.33) gets
// some lengths wrong — VZEROUPPER (c5 f8 77), which Go's AVX2 assembly runs
// before every return, is decoded as 4 bytes instead of 3. So for VEX and
// EVEX instructions the length is recomputed here from the encoding rules,
// which are simple, and overrides x86asm's. Operands still come from x86asm
// (a VEX instruction with a general-register destination, such as SHLXQ, is
// checked for writes to SP like any other).
func decode(code []byte) (x86asm.Inst, error) {
	inst, err := x86asm.Decode(code, 64)
	if err != nil {
		if n := systemInsnLen(code); n > 0 {
			// Known to touch neither the stack nor control flow: a NOP to
			// the analysis, of the right length.
			return x86asm.Inst{Op: x86asm.NOP, Len: n}, nil
		}
		return inst, err
	}
	if n := vexLen(code); n > 0 && n <= len(code) {
		inst.Len = n
	}
	return inst, nil
}

// vexLen returns the length of the VEX- or EVEX-encoded instruction at the
// start of code, or 0 if it is not one (or its shape is not known here).
func vexLen(code []byte) int {
	p := 0
	for p < len(code) && isLegacyPrefix(code[p]) {
		p++
	}
	if p >= len(code) {
		return 0
	}
	// In 64-bit mode C4, C5 and 62 always start VEX3, VEX2 and EVEX prefixes
	// (LES, LDS and BOUND do not exist there).
	var vmap byte
	evex := false
	switch code[p] {
	case 0xC5:
		vmap, p = 1, p+2
	case 0xC4:
		if p+1 >= len(code) {
			return 0
		}
		vmap, p = code[p+1]&0x1F, p+3
	case 0x62:
		if p+1 >= len(code) {
			return 0
		}
		vmap, p, evex = code[p+1]&0x07, p+4, true
	default:
		return 0
	}
	if p >= len(code) {
		return 0
	}
	op := code[p]
	p++
	if vmap < 1 || vmap > 3 {
		return 0 // maps 4–7 (APX, FP16, …): leave the length to x86asm
	}
	if vmap == 1 && op == 0x77 && !evex {
		return p // VZEROUPPER, VZEROALL: the only VEX instructions without ModRM
	}
	n := modrmLen(code[p:])
	if n == 0 {
		return 0
	}
	p += n
	if hasImm8(vmap, op) {
		p++
	}
	return p
}

// modrmLen is the length of a ModRM byte with its SIB and displacement. In
// 64-bit mode, 32-bit addressing (prefix 67) has the same layout.
func modrmLen(b []byte) int {
	if len(b) == 0 {
		return 0
	}
	mod, rm := b[0]>>6, b[0]&7
	n := 1
	if mod != 3 && rm == 4 { // SIB
		if len(b) < 2 {
			return 0
		}
		if mod == 0 && b[1]&7 == 5 {
			n += 4 // no base: disp32
		}
		n++
	}
	switch {
	case mod == 0 && rm == 5:
		n += 4 // RIP-relative disp32
	case mod == 1:
		n++ // disp8 (EVEX scales it, but it is still one byte)
	case mod == 2:
		n += 4
	}
	return n
}

// hasImm8 reports whether a VEX/EVEX opcode in map 1 (0F), 2 (0F38) or
// 3 (0F3A) takes an 8-bit immediate: all of map 3, none of map 2, and these
// few of map 1 (shuffles, shift-by-immediate groups, compares, word
// insert/extract).
func hasImm8(vmap, op byte) bool {
	switch vmap {
	case 3:
		return true
	case 1:
		switch op {
		case 0x70, 0x71, 0x72, 0x73, 0xC2, 0xC4, 0xC5, 0xC6:
			return true
		}
	}
	return false
}

func isLegacyPrefix(b byte) bool {
	switch b {
	case 0x66, 0x67, 0xF0, 0xF2, 0xF3, 0x2E, 0x36, 0x3E, 0x26, 0x64, 0x65:
		return true
	}
	return false
}

// systemInsnLen returns the length of the few register-form system instructions
// the kernel encodes as bytes and x86asm does not decode: RDRAND and RDSEED
// (0F C7 /6, /7), RDFSBASE, RDGSBASE, WRFSBASE, WRGSBASE (F3 0F AE /0../3),
// each with an optional REX prefix, all with a register operand (mod = 11).
// None changes the stack pointer or the flow of control. 0 if it is none of them.
func systemInsnLen(code []byte) int {
	p := 0
	rep := false
	if p < len(code) && code[p] == 0xF3 {
		rep = true
		p++
	}
	if p < len(code) && code[p]&0xF0 == 0x40 { // REX
		p++
	}
	if p+3 > len(code) || code[p] != 0x0F || code[p+2]>>6 != 3 {
		return 0
	}
	reg := code[p+2] >> 3 & 7
	switch {
	case !rep && code[p+1] == 0xC7 && (reg == 6 || reg == 7):
		return p + 3
	case rep && code[p+1] == 0xAE && reg <= 3:
		return p + 3
	}
	return 0
}
