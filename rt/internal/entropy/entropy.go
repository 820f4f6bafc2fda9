// Package entropy is the kernel's random number generator: a ChaCha20 key,
// seeded and reseeded from a device's entropy (virtio-rng) and used with fast
// key erasure (each output ends by replacing the key with fresh keystream, so
// a later compromise of the key reveals nothing already handed out). getrandom
// XORs its output into the CPU's RDSEED/RDRAND words when the CPU has them, and
// is its only source when it has not.
//
// Context: kernel context. No allocation; a Pool lives in kernel memory.
package entropy

import "encoding/binary"

// Pool is the generator's state.
type Pool struct {
	key    [8]uint32
	Seeded bool
	// Mixes counts the reseeds (SysEntropy and the boot seed).
	Mixes uint64
}

// Mix stirs in entropy: up to 32 bytes are XORed into the key, which is then
// replaced by keystream under the result.
func (p *Pool) Mix(in []byte) {
	for i := 0; i < len(in) && i < 32; i++ {
		p.key[i/4] ^= uint32(in[i]) << (8 * (i % 4))
	}
	p.rekey()
	p.Seeded = true
	p.Mixes++
}

// rekey replaces the key with the first 32 bytes of a keystream block.
func (p *Pool) rekey() {
	var b [16]uint32
	block(&b, &p.key, 0, 0)
	copy(p.key[:], b[:8])
}

// Fill writes len(dst) bytes of keystream to dst (a 64-byte multiple is
// fastest), then erases the key it used.
func (p *Pool) Fill(dst []byte) {
	var b [16]uint32
	var ctr uint32 = 1 // block 0 makes the next key
	for len(dst) > 0 {
		block(&b, &p.key, ctr, 0)
		ctr++
		var out [64]byte
		for i, w := range b {
			binary.LittleEndian.PutUint32(out[4*i:], w)
		}
		n := copy(dst, out[:])
		dst = dst[n:]
	}
	p.rekey()
}

// block is the ChaCha20 block function (RFC 8439 §2.3) with a 32-bit counter
// and the nonce's first word in nonce (the rest zero).
func block(out *[16]uint32, key *[8]uint32, counter, nonce uint32) {
	s := [16]uint32{0x61707865, 0x3320646e, 0x79622d32, 0x6b206574,
		key[0], key[1], key[2], key[3], key[4], key[5], key[6], key[7],
		counter, nonce, 0, 0}
	permute(out, &s)
}

// permute is the 20 rounds and the final addition: out = rounds(s) + s.
func permute(out, s *[16]uint32) {
	x := *s
	for i := 0; i < 10; i++ {
		quarter(&x, 0, 4, 8, 12)
		quarter(&x, 1, 5, 9, 13)
		quarter(&x, 2, 6, 10, 14)
		quarter(&x, 3, 7, 11, 15)
		quarter(&x, 0, 5, 10, 15)
		quarter(&x, 1, 6, 11, 12)
		quarter(&x, 2, 7, 8, 13)
		quarter(&x, 3, 4, 9, 14)
	}
	for i := range x {
		out[i] = x[i] + s[i]
	}
}

func quarter(x *[16]uint32, a, b, c, d int) {
	x[a] += x[b]
	x[d] = rotl(x[d]^x[a], 16)
	x[c] += x[d]
	x[b] = rotl(x[b]^x[c], 12)
	x[a] += x[b]
	x[d] = rotl(x[d]^x[a], 8)
	x[c] += x[d]
	x[b] = rotl(x[b]^x[c], 7)
}

func rotl(v uint32, n uint) uint32 { return v<<n | v>>(32-n) }
