package kernel

import (
	"encoding/binary"
	"unsafe"

	"github.com/unigo-dev/unigo/boot/cmdline"
	"github.com/unigo-dev/unigo/rt/internal/kmem"
	"github.com/unigo-dev/unigo/rt/internal/linux"
)

// auxv holds the auxiliary vector entries that do not point into the stack
// (unused slots have tag AT_NULL and are left out); layoutStack adds AT_RANDOM,
// AT_PLATFORM, AT_EXECFN and the final AT_NULL.
type auxv [17][2]uint64

func unsafeWords(addr uintptr, n int) []word {
	return unsafe.Slice((*word)(kmem.Pointer(addr)), n)
}

// decodeCmdline decodes the kernel command line raw into strs (each word
// NUL-terminated) and indexes the words. unigo.argv0 comes back separately;
// unigo.env words come back as Env.
func decodeCmdline(raw, strs []byte, words []word) (nw, used int, argv0 word, err cmdline.Error) {
	sc := cmdline.NewScanner(raw)
	for {
		if used >= len(strs) || nw >= len(words) {
			return 0, 0, word{}, cmdline.ErrTooLong
		}
		kind, n, e := sc.Next(strs[used : len(strs)-1])
		if e != cmdline.ErrNone {
			return 0, 0, word{}, e
		}
		if kind == 0 {
			return nw, used, argv0, cmdline.ErrNone
		}
		w := strs[used : used+n]
		kind, val, isArgv0 := cmdline.Classify(kind, w)
		off := used + len(w) - len(val)
		v := word{kind: uint8(kind), off: uint32(off), n: uint32(len(val))}
		if isArgv0 {
			argv0 = v
		} else {
			words[nw] = v
			nw++
		}
		strs[used+n] = 0
		used += n + 1
	}
}

// kparams are the kernel parameters the kernel itself uses.
type kparams struct {
	maxThreads int  // unigo.maxthreads: clone fails with EAGAIN beyond it
	bootlog    bool // unigo.bootlog=1: print boot timings
	strace     bool // unigo.strace=1: log every system call
	selftest   bool // unigo.selftest=1: the system call that faults on purpose
	// unigo.shutdown_grace=SECONDS: how long the program has to exit after the
	// power button's SIGTERM; -1 when not given.
	shutdownGrace int
	// virtio_mmio.device=SIZE@BASE:IRQ entries (QEMU's microvm writes them).
	mmio  [8]mmioDevice
	nmmio int
	// unigo.net.KEY=VALUE parameters, as "KEY=VALUE\n" lines, for the network
	// service.
	net  [512]byte
	nnet int
}

// mmioDevice is one virtio_mmio.device= entry.
type mmioDevice struct {
	size, base uint64
	irq        uint32
}

// params reads the kernel parameters from the command line's words.
func params(strs []byte, words []word) kparams {
	p := kparams{shutdownGrace: -1}
	for _, w := range words {
		if cmdline.Kind(w.kind) != cmdline.Param {
			continue
		}
		key, val := cmdline.Split(strs[w.off : w.off+w.n])
		switch string(key) {
		case "unigo.maxthreads":
			p.maxThreads = atoi(val)
		case "unigo.bootlog":
			p.bootlog = string(val) == "1"
		case "unigo.strace":
			p.strace = string(val) == "1"
		case "unigo.selftest":
			p.selftest = string(val) == "1"
		case "unigo.shutdown_grace":
			if len(val) > 0 {
				p.shutdownGrace = atoi(val)
			}
		case "virtio_mmio.device":
			if d, ok := parseMMIO(val); ok && p.nmmio < len(p.mmio) {
				p.mmio[p.nmmio] = d
				p.nmmio++
			}
		default:
			if len(key) > len("unigo.net.") && string(key[:len("unigo.net.")]) == "unigo.net." &&
				p.nnet+len(key)+len(val)+2-len("unigo.net.") <= len(p.net) {
				p.nnet += copy(p.net[p.nnet:], key[len("unigo.net."):])
				p.net[p.nnet] = '='
				p.nnet++
				p.nnet += copy(p.net[p.nnet:], val)
				p.net[p.nnet] = '\n'
				p.nnet++
			}
		}
	}
	return p
}

// parseMMIO reads Linux's virtio_mmio.device syntax: SIZE@BASE:IRQ[:ID], the
// numbers decimal or 0x hex, SIZE with an optional K or M.
func parseMMIO(v []byte) (mmioDevice, bool) {
	var d mmioDevice
	size, rest, ok := number(v)
	if !ok || len(rest) == 0 {
		return d, false
	}
	switch rest[0] {
	case 'K', 'k':
		size <<= 10
		rest = rest[1:]
	case 'M', 'm':
		size <<= 20
		rest = rest[1:]
	}
	if len(rest) == 0 || rest[0] != '@' {
		return d, false
	}
	base, rest, ok := number(rest[1:])
	if !ok || len(rest) == 0 || rest[0] != ':' {
		return d, false
	}
	irq, rest, ok := number(rest[1:])
	if !ok || (len(rest) > 0 && rest[0] != ':') || size == 0 || irq > 255 {
		return d, false
	}
	return mmioDevice{size: size, base: base, irq: uint32(irq)}, true
}

// number reads a decimal or 0x-prefixed hex number from the start of b.
func number(b []byte) (uint64, []byte, bool) {
	base := uint64(10)
	if len(b) > 2 && b[0] == '0' && (b[1] == 'x' || b[1] == 'X') {
		base, b = 16, b[2:]
	}
	var n uint64
	i := 0
	for ; i < len(b) && i < 16; i++ {
		c := b[i]
		var d uint64
		switch {
		case c >= '0' && c <= '9':
			d = uint64(c - '0')
		case base == 16 && c >= 'a' && c <= 'f':
			d = uint64(c-'a') + 10
		case base == 16 && c >= 'A' && c <= 'F':
			d = uint64(c-'A') + 10
		default:
			return n, b[i:], i > 0
		}
		n = n*base + d
	}
	return n, b[i:], i > 0
}

func atoi(b []byte) int {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' || n > 1<<24 {
			return 0
		}
		n = n*10 + int(c-'0')
	}
	return n
}

const platform = "x86_64"

// isString says whether a word becomes a string on the stack (an argument or an
// environment entry, not a kernel parameter).
func isString(w word) bool {
	k := cmdline.Kind(w.kind)
	return k == cmdline.Arg || k == cmdline.Env
}

// stackBytes is how many bytes layoutStack will use.
func stackBytes(strs []byte, words []word, argv0 word, aux *auxv) uint64 {
	n := uint64(8 + 16 + len(platform) + 1 + 2*(int(argv0.n)+1))
	ptrs := uint64(1 + 1 + 1 + 1 + 2*(len(aux)+4))
	for _, w := range words {
		if isString(w) {
			n += uint64(w.n) + 1
			ptrs++
		}
	}
	return n + ptrs*8 + 16
}

// stackImage is the initial stack being written: img ends at user address top.
type stackImage struct {
	img []byte
	top uint64
	p   uint64 // lowest address written so far
}

// at is the image from user address addr on.
func (m *stackImage) at(addr uint64) []byte { return m.img[uint64(len(m.img))-(m.top-addr):] }

// push places b (and a NUL if nul) just below what is there and returns its
// address.
func (m *stackImage) push(b []byte, nul bool) uint64 {
	n := uint64(len(b))
	if nul {
		n++
	}
	m.p -= n
	d := m.at(m.p)
	copy(d, b)
	if nul {
		d[len(b)] = 0
	}
	return m.p
}

func (m *stackImage) put64(addr, v uint64) { binary.LittleEndian.PutUint64(m.at(addr), v) }

// layoutStack writes Linux's initial process stack into the end of img, which
// will be copied to end at user address top, and returns the initial stack
// pointer. From the top down: an 8-byte end marker, argv[0] again (AT_EXECFN),
// "x86_64" (AT_PLATFORM), 16 random bytes (AT_RANDOM), argv[0], then the other
// argument and environment strings in command-line order; below them, 16-byte
// aligned and read upwards from the stack pointer: argc, argv[] and NULL, envp[]
// and NULL, and the auxiliary vector ending in AT_NULL.
func layoutStack(img []byte, top uint64, strs []byte, words []word, argv0 word, aux *auxv, random [16]byte) (sp uint64, ok bool) {
	if stackBytes(strs, words, argv0, aux) > uint64(len(img)) {
		return 0, false
	}
	m := stackImage{img: img, top: top, p: top - 8}
	clear(m.at(m.p)[:8])
	name := strs[argv0.off : argv0.off+argv0.n]
	execfn := m.push(name, true)
	plat := m.push(kmem.StringBytes(platform), true)
	rnd := m.push(random[:], false)
	argv0Addr := m.push(name, true)

	// The other strings, lowest first: find where they start, then write
	// upwards so that their order on the stack is the command line's.
	nargs, nenv := 1, 0
	low := m.p
	for _, w := range words {
		switch cmdline.Kind(w.kind) {
		case cmdline.Arg:
			nargs++
		case cmdline.Env:
			nenv++
		default:
			continue
		}
		low -= uint64(w.n) + 1
	}
	cur := low
	for _, w := range words {
		if isString(w) {
			d := m.at(cur)
			copy(d, strs[w.off:w.off+w.n])
			d[w.n] = 0
			cur += uint64(w.n) + 1
		}
	}

	nvec := uint64(1 + nargs + 1 + nenv + 1 + 2*(len(aux)+4))
	sp = (low - nvec*8) &^ 15
	if top-sp > uint64(len(img)) {
		return 0, false
	}
	v := sp
	put := func(x uint64) {
		m.put64(v, x)
		v += 8
	}
	put(uint64(nargs))
	put(argv0Addr)
	for _, kind := range [2]cmdline.Kind{cmdline.Arg, cmdline.Env} {
		cur = low
		for _, w := range words {
			if !isString(w) {
				continue
			}
			if cmdline.Kind(w.kind) == kind {
				put(cur)
			}
			cur += uint64(w.n) + 1
		}
		put(0)
	}
	for _, e := range aux {
		if e[0] != linux.AT_NULL { // unused slots
			put(e[0])
			put(e[1])
		}
	}
	for _, e := range [4][2]uint64{{linux.AT_RANDOM, rnd}, {linux.AT_PLATFORM, plat}, {linux.AT_EXECFN, execfn}, {linux.AT_NULL, 0}} {
		put(e[0])
		put(e[1])
	}
	return sp, true
}
