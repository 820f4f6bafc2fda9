package kcheck

import (
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/arch/x86/x86asm"
)

// Lengths checked against GNU objdump.
var vexCases = []struct {
	hex  string
	want int
	what string
}{
	{"c5f877", 3, "vzeroupper (x86asm says 4)"},
	{"c5fdd7d3", 4, "vpmovmskb %ymm3,%edx"},
	{"c5fe6f06", 4, "vmovdqu (%rsi),%ymm0"},
	{"c5fe6f4620", 5, "vmovdqu 0x20(%rsi),%ymm0"},
	{"c5fe6f8600010000", 8, "vmovdqu 0x100(%rsi),%ymm0"},
	{"c5fe6f0424", 5, "vmovdqu (%rsp),%ymm0 (SIB)"},
	{"c5fe6f0500000000", 8, "vmovdqu 0x0(%rip),%ymm0"},
	{"c4e27d58c0", 5, "vpbroadcastd %xmm0,%ymm0 (map 0F38)"},
	{"c4e37d39c101", 6, "vextracti128 $1,%ymm0,%xmm1 (map 0F3A, imm8)"},
	{"c5fd70c01b", 5, "vpshufd $0x1b,%ymm0,%ymm0 (map 0F, imm8)"},
	{"c5f173d004", 5, "vpsrlq $4,%xmm0,%xmm1 (shift group, imm8)"},
	{"c4e2f3f7c0", 5, "shrx %rcx,%rax,%rax (BMI2)"},
	{"62b27d488bc4", 6, "vpcompressd %zmm0,%zmm20 (EVEX)"},
	{"62f17e486f0424", 7, "vmovdqu32 (%rsp),%zmm0 (EVEX, SIB)"},
}

func TestVexLen(t *testing.T) {
	for _, c := range vexCases {
		code, err := hex.DecodeString(c.hex + "cccccccc") // trailing bytes must not be counted
		require.NoError(t, err)
		assert.Equal(t, c.want, vexLen(code), c.what)

		inst, err := decode(code)
		if assert.NoError(t, err, c.what) {
			assert.Equal(t, c.want, inst.Len, c.what)
		}
	}
	for _, h := range []string{"4889e5", "55", "e800000000", "c3"} {
		code, _ := hex.DecodeString(h)
		assert.Zero(t, vexLen(code), "%s is not VEX", h)
	}
}

func TestSystemInstructions(t *testing.T) {
	for _, tc := range []struct {
		code []byte
		n    int
	}{
		{[]byte{0x48, 0x0F, 0xC7, 0xF0, 0x90}, 4}, // RDRAND RAX
		{[]byte{0x48, 0x0F, 0xC7, 0xF8}, 4},       // RDSEED RAX
		{[]byte{0x0F, 0xC7, 0xF8}, 3},             // RDSEED EAX
		{[]byte{0xF3, 0x48, 0x0F, 0xAE, 0xC0}, 5}, // RDFSBASE RAX
		{[]byte{0xF3, 0x48, 0x0F, 0xAE, 0xD2}, 5}, // WRFSBASE RDX
		{[]byte{0x0F, 0xC7, 0x08}, 0},             // CMPXCHG8B [RAX]: memory form, not ours
		{[]byte{0xF3, 0x48, 0x0F, 0xAE, 0xE0}, 0}, // /4 is not an FS/GS base instruction
	} {
		inst, err := decode(tc.code)
		if tc.n == 0 {
			if err == nil {
				assert.NotEqual(t, x86asm.NOP, inst.Op, "% x", tc.code)
			}
			continue
		}
		require.NoError(t, err, "% x", tc.code)
		assert.Equal(t, tc.n, inst.Len, "% x", tc.code)
	}
}
