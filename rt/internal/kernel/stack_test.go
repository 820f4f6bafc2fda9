package kernel

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unigo-dev/unigo/boot/cmdline"
	"github.com/unigo-dev/unigo/rt/internal/linux"
)

// TestInitialStack builds a process stack the way the kernel does at boot, from
// a command line the runner could have written, and reads it back the way a
// C runtime or Go's rt0 reads it.
func TestInitialStack(t *testing.T) {
	line, err := cmdline.Encode([]string{"unigo.maxthreads=64", "unigo.shutdown_grace=3", "unigo.net.ip=10.0.0.2/24", "unigo.net.gw=10.0.0.1"}, "/bin/app", []string{"a", "b c", "", "-test.run=^X$"},
		[]string{"HOME=/root", "my.var=1"})
	require.NoError(t, err)
	raw := []byte(line + " virtio_mmio.device=512@0xfeb00e00:12")
	strs := make([]byte, len(raw)+64)
	words := make([]word, len(raw)/2+2)
	nw, used, argv0, e := decodeCmdline(raw, strs, words)
	require.Equal(t, cmdline.ErrNone, e)
	kp := params(strs, words[:nw])
	assert.Equal(t, 64, kp.maxThreads)
	assert.Equal(t, 3, kp.shutdownGrace)
	assert.False(t, kp.bootlog || kp.strace || kp.selftest)
	assert.Equal(t, 1, kp.nmmio)
	assert.Equal(t, mmioDevice{size: 512, base: 0xfeb00e00, irq: 12}, kp.mmio[0])
	assert.Equal(t, "ip=10.0.0.2/24\ngw=10.0.0.1\n", string(kp.net[:kp.nnet]))

	aux := auxv{{linux.AT_PAGESZ, 4096}, {linux.AT_ENTRY, 0x401000}}
	var random [16]byte
	copy(random[:], "0123456789abcdef")
	img := make([]byte, stackBytes(strs[:used], words[:nw], argv0, &aux))
	const top = 0x7FFF_FFFF_F000
	sp, ok := layoutStack(img, top, strs[:used], words[:nw], argv0, &aux, random)
	require.True(t, ok)
	assert.Zero(t, sp%16, "the ABI wants a 16-byte aligned stack at entry")

	mem := func(addr uint64) []byte { return img[uint64(len(img))-(top-addr):] }
	word := func(addr uint64) uint64 { return binary.LittleEndian.Uint64(mem(addr)) }
	str := func(addr uint64) string {
		b := mem(addr)
		for i := range b {
			if b[i] == 0 {
				return string(b[:i])
			}
		}
		t.Fatalf("unterminated string at %#x", addr)
		return ""
	}
	argc := word(sp)
	var argv, envv []string
	p := sp + 8
	for i := uint64(0); i < argc; i++ {
		argv = append(argv, str(word(p)))
		p += 8
	}
	require.Zero(t, word(p), "argv ends in NULL")
	for p += 8; word(p) != 0; p += 8 {
		envv = append(envv, str(word(p)))
	}
	assert.Equal(t, []string{"/bin/app", "a", "b c", "", "-test.run=^X$"}, argv)
	assert.Equal(t, []string{"HOME=/root", "my.var=1"}, envv)
	got := map[uint64]uint64{}
	for p += 8; ; p += 16 {
		tag, val := word(p), word(p+8)
		if tag == linux.AT_NULL {
			break
		}
		got[tag] = val
	}
	assert.Equal(t, uint64(4096), got[linux.AT_PAGESZ])
	assert.Equal(t, uint64(0x401000), got[linux.AT_ENTRY])
	assert.Equal(t, "0123456789abcdef", string(mem(got[linux.AT_RANDOM])[:16]))
	assert.Equal(t, "x86_64", str(got[linux.AT_PLATFORM]))
	assert.Equal(t, "/bin/app", str(got[linux.AT_EXECFN]))
	assert.LessOrEqual(t, uint64(len(img)), uint64(top-sp)+uint64(len(img)), "fits")
}

func TestStackWithoutArgv0UsesDefault(t *testing.T) {
	raw := []byte("-- x")
	strs := make([]byte, len(raw)+64)
	words := make([]word, 8)
	nw, used, argv0, e := decodeCmdline(raw, strs, words)
	require.Equal(t, cmdline.ErrNone, e)
	assert.Zero(t, argv0.n, "no unigo.argv0: the kernel fills in the default")
	assert.Equal(t, 1, nw)
	assert.Equal(t, "x", string(strs[words[0].off:words[0].off+words[0].n]))
	_ = used
	_, _, _, e = decodeCmdline([]byte(`"unterminated`), strs, words)
	assert.Equal(t, cmdline.ErrQuote, e)
}

func TestParseMMIO(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want mmioDevice
		ok   bool
	}{
		{"512@0xfeb00e00:12", mmioDevice{512, 0xfeb00e00, 12}, true},
		{"0x200@0xd0000000:5:3", mmioDevice{0x200, 0xd0000000, 5}, true},
		{"4K@0x1000:33", mmioDevice{4096, 0x1000, 33}, true},
		{"1M@4096:1", mmioDevice{1 << 20, 4096, 1}, true},
		{"@0x1000:1", mmioDevice{}, false},
		{"512@:1", mmioDevice{}, false},
		{"512@0x1000", mmioDevice{}, false},
		{"512@0x1000:", mmioDevice{}, false},
		{"512@0x1000:1x", mmioDevice{}, false},
		{"0@0x1000:1", mmioDevice{}, false},
		{"512@0x1000:300", mmioDevice{}, false},
	} {
		got, ok := parseMMIO([]byte(tc.in))
		assert.Equal(t, tc.ok, ok, tc.in)
		if tc.ok {
			assert.Equal(t, tc.want, got, tc.in)
		}
	}
}
