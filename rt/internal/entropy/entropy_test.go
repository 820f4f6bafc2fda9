package entropy

import (
	"encoding/binary"
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBlockRFC8439 checks the block function against RFC 8439 §2.3.2 (key
// 00 01 .. 1f, counter 1, nonce 00 00 00 09 00 00 00 4a 00 00 00 00).
func TestBlockRFC8439(t *testing.T) {
	var key [8]uint32
	for i := range key {
		key[i] = uint32(4*i) | uint32(4*i+1)<<8 | uint32(4*i+2)<<16 | uint32(4*i+3)<<24
	}
	s := [16]uint32{0x61707865, 0x3320646e, 0x79622d32, 0x6b206574,
		key[0], key[1], key[2], key[3], key[4], key[5], key[6], key[7], 1, 0x09000000, 0x4a000000, 0}
	var x [16]uint32
	permute(&x, &s)
	var out [64]byte
	for i := range x {
		binary.LittleEndian.PutUint32(out[4*i:], x[i])
	}
	want, _ := hex.DecodeString("10f1e7e4d13b5915500fdd1fa32071c4c7d1f4c733c068030422aa9ac3d46c4e" +
		"d2826446079faa0914c2d705d98b02a2b5129cd1de164eb9cbd083e8a2503c4e")
	assert.Equal(t, want, out[:])
	// block builds the same state from a key, a counter and the first nonce
	// word (the others zero).
	var b, c [16]uint32
	block(&b, &key, 1, 0x09000000)
	s[14] = 0
	permute(&c, &s)
	require.Equal(t, c, b)
}

func TestPoolKeyErasureAndMixing(t *testing.T) {
	var p, q Pool
	p.Mix([]byte("seed"))
	q.Mix([]byte("seed"))
	a, b := make([]byte, 100), make([]byte, 100)
	p.Fill(a)
	q.Fill(b)
	assert.Equal(t, a, b, "same seed, same output")
	p.Fill(b)
	assert.NotEqual(t, a, b, "the key changes after every output")
	q.Mix([]byte("more"))
	q.Fill(a)
	assert.NotEqual(t, a, b, "mixing changes the stream")
	assert.True(t, p.Seeded)
	assert.EqualValues(t, 2, q.Mixes)
}
