package status

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestEncodeDecodeRoundTrip(t *testing.T) {
	for n := 0; n <= MaxProcess; n++ {
		v, clamped := Encode(n)
		assert.False(t, clamped)
		// QEMU's isa-debug-exit exits with (v<<1)|1; the shell keeps 8 bits.
		o, got := Decode(int(v<<1|1) & 0xff)
		assert.Equal(t, Exited, o)
		assert.Equal(t, n, got)
	}
	v, clamped := Encode(200)
	assert.True(t, clamped)
	o, got := Decode(int(v<<1 | 1))
	assert.Equal(t, Exited, o)
	assert.Equal(t, MaxProcess, got)
	assert.Equal(t, Fault, first(Decode(KernelFault<<1|1)))
	// What QEMU does by itself never reads as success.
	for _, s := range []int{0, 1, 2, 124, -1, 256} {
		assert.Equal(t, NoStatus, first(Decode(s)), "QEMU status %d", s)
	}
}

func first(o Outcome, _ int) Outcome { return o }
