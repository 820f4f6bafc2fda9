// Package cmdline is the kernel command line grammar: how the runner (or a person
// typing QEMU's -append) hands a unigo guest its kernel parameters, environment and
// arguments, byte-exactly.
//
// The host side ([Encode]) may allocate; the guest side ([Scanner]) runs in kernel
// context during boot, so it allocates nothing, keeps no package state and decodes
// into a buffer the caller owns.
//
// # Grammar
//
// The command line is a sequence of words separated by ASCII white space. Inside a
// word, a double-quoted segment may hold white space; within quotes a backslash
// escapes: \\ is a backslash, \" a quote, \xHH the byte HH. Outside quotes every
// byte stands for itself. So `a"b c"d` is the one word "ab cd".
//
// Words are sorted as Linux sorts the words it hands to init:
//
//   - `--` on its own ends the kernel's part: every later word is an argument.
//   - Before `--`, an unquoted word KEY=VALUE whose KEY contains a dot is a kernel
//     parameter (unigo.*, virtio_mmio.*); NAME=VALUE with a dotless NAME is an
//     environment variable; anything else, and any word that starts with a quote,
//     is an argument.
//   - After `--`, every word is an argument, except an unquoted word that starts
//     with "virtio_mmio.device=": QEMU's microvm appends those to the command
//     line, after whatever the user gave.
//
// Parameters this package defines: unigo.argv0=PATH sets argv[0] (default
// [DefaultArgv0]); unigo.env=NAME=VALUE adds an environment variable whatever its
// name.
//
// The runner's encoding puts every environment variable before `--` and every
// argument after it, quoting what needs it, so `go run -exec` hands the guest
// exactly the bytes a Linux process would get.
package cmdline

import (
	"errors"
	"fmt"
	"strings"
)

// DefaultArgv0 is argv[0] when the command line sets none.
const DefaultArgv0 = "/unigo/app"

// Kind says what a word is for.
type Kind uint8

const (
	// Arg is an argument for the program (argv[1:]).
	Arg Kind = iota + 1
	// Env is an environment entry NAME=VALUE.
	Env
	// Param is a kernel parameter KEY=VALUE.
	Param
)

// Error is a decoding failure. It is a small integer so that kernel context can
// return and compare it without allocating.
type Error uint8

const (
	ErrNone Error = iota
	// ErrQuote: a quote is not closed.
	ErrQuote
	// ErrEscape: a backslash inside quotes is not followed by \, " or xHH.
	ErrEscape
	// ErrTooLong: a decoded word does not fit the caller's buffer.
	ErrTooLong
)

func (e Error) Error() string {
	switch e {
	case ErrQuote:
		return "cmdline: unterminated quote"
	case ErrEscape:
		return `cmdline: bad escape inside quotes (want \\, \" or \xHH)`
	case ErrTooLong:
		return "cmdline: word longer than the buffer"
	}
	return "cmdline: no error"
}

const (
	paramArgv0 = "unigo.argv0="
	paramEnv   = "unigo.env="
	qemuMMIO   = "virtio_mmio.device="
)

// Scanner walks a command line word by word. The zero value is not usable; make
// one with NewScanner.
type Scanner struct {
	src      []byte
	pos      int
	argsOnly bool
}

// NewScanner returns a Scanner over src.
func NewScanner(src []byte) Scanner {
	return Scanner{src: src}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// Next decodes the next word into dst and says what kind it is. At the end of the
// command line it returns kind 0. A Param or Env word is returned whole
// ("KEY=VALUE"); see [Split]. unigo.env= and unigo.argv0= come back as they are:
// [Classify] maps them.
func (s *Scanner) Next(dst []byte) (k Kind, n int, err Error) {
	for {
		for s.pos < len(s.src) && isSpace(s.src[s.pos]) {
			s.pos++
		}
		if s.pos >= len(s.src) {
			return 0, 0, ErrNone
		}
		quoted := s.src[s.pos] == '"'
		n, keyDot, keyEnd, anyQuote, err := s.word(dst)
		if err != ErrNone {
			return 0, 0, err
		}
		word := dst[:n]
		// Only the bare two bytes "--" separate; a word that merely decodes
		// to "--" (-"-", --"") is an argument like any quoted word.
		if !anyQuote && !s.argsOnly && n == 2 && word[0] == '-' && word[1] == '-' {
			s.argsOnly = true
			continue
		}
		switch {
		case quoted || keyEnd < 0:
			return Arg, n, ErrNone
		case s.argsOnly:
			if hasPrefix(word, qemuMMIO) {
				return Param, n, ErrNone
			}
			return Arg, n, ErrNone
		case keyDot:
			return Param, n, ErrNone
		case keyEnd > 0:
			return Env, n, ErrNone
		}
		return Arg, n, ErrNone
	}
}

// word decodes one word at s.pos into dst. keyEnd is the index in dst of the first
// '=' that came from outside quotes before any quote, or -1; keyDot says whether
// the key before it holds a dot; sawQuote whether the word used quotes at all.
func (s *Scanner) word(dst []byte) (n int, keyDot bool, keyEnd int, sawQuote bool, err Error) {
	keyEnd = -1
	inQuote := false
	for s.pos < len(s.src) {
		c := s.src[s.pos]
		if !inQuote && isSpace(c) {
			break
		}
		s.pos++
		if c == '"' {
			inQuote = !inQuote
			sawQuote = true
			continue
		}
		if inQuote && c == '\\' {
			if s.pos >= len(s.src) {
				return 0, false, -1, false, ErrEscape
			}
			e := s.src[s.pos]
			s.pos++
			switch e {
			case '\\', '"':
				c = e
			case 'x':
				if s.pos+2 > len(s.src) {
					return 0, false, -1, false, ErrEscape
				}
				hi, ok1 := unhex(s.src[s.pos])
				lo, ok2 := unhex(s.src[s.pos+1])
				if !ok1 || !ok2 {
					return 0, false, -1, false, ErrEscape
				}
				s.pos += 2
				c = hi<<4 | lo
			default:
				return 0, false, -1, false, ErrEscape
			}
		} else if !inQuote && !sawQuote && keyEnd < 0 {
			if c == '=' {
				keyEnd = n
			} else if c == '.' {
				keyDot = true
			}
		}
		if n >= len(dst) {
			return 0, false, -1, false, ErrTooLong
		}
		dst[n] = c
		n++
	}
	if inQuote {
		return 0, false, -1, false, ErrQuote
	}
	if keyEnd < 0 {
		keyDot = false
	}
	return n, keyDot, keyEnd, sawQuote, ErrNone
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func hasPrefix(b []byte, p string) bool {
	if len(b) < len(p) {
		return false
	}
	for i := 0; i < len(p); i++ {
		if b[i] != p[i] {
			return false
		}
	}
	return true
}

// Split cuts a Param or Env word at its first '='.
func Split(word []byte) (key, value []byte) {
	for i, c := range word {
		if c == '=' {
			return word[:i], word[i+1:]
		}
	}
	return word, nil
}

// Classify refines a Param: unigo.env=NAME=VALUE becomes an Env word (returned
// without the prefix) and unigo.argv0=PATH is reported with isArgv0 set and the
// path as value. Other parameters come back unchanged.
func Classify(k Kind, word []byte) (kind Kind, value []byte, isArgv0 bool) {
	if k != Param {
		return k, word, false
	}
	if hasPrefix(word, paramEnv) {
		return Env, word[len(paramEnv):], false
	}
	if hasPrefix(word, paramArgv0) {
		return Param, word[len(paramArgv0):], true
	}
	return Param, word, false
}

// Encode builds a command line that decodes to exactly argv0, args and env (each
// env entry NAME=VALUE), after the given kernel parameters (KEY=VALUE, KEY with a
// dot). It fails on a NUL byte, which no Linux argument or environment entry can
// hold, and on malformed env or params.
func Encode(params []string, argv0 string, args, env []string) (string, error) {
	var b strings.Builder
	sep := func() {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
	}
	for _, p := range params {
		k, _, ok := strings.Cut(p, "=")
		if !ok || !strings.Contains(k, ".") || strings.ContainsAny(k, "\" \t\r\n") {
			return "", fmt.Errorf("cmdline: kernel parameter %q is not KEY=VALUE with a dotted KEY", p)
		}
		if strings.IndexByte(p, 0) >= 0 {
			return "", errNUL
		}
		sep()
		b.WriteString(k)
		b.WriteByte('=')
		quote(&b, p[len(k)+1:])
	}
	if argv0 != "" {
		if strings.IndexByte(argv0, 0) >= 0 {
			return "", errNUL
		}
		sep()
		b.WriteString(paramArgv0)
		quote(&b, argv0)
	}
	for _, e := range env {
		name, val, ok := strings.Cut(e, "=")
		if !ok || name == "" {
			return "", fmt.Errorf("cmdline: environment entry %q is not NAME=VALUE", e)
		}
		if strings.IndexByte(e, 0) >= 0 {
			return "", errNUL
		}
		sep()
		if plainEnvName(name) {
			b.WriteString(name)
			b.WriteByte('=')
			quote(&b, val)
		} else {
			b.WriteString(paramEnv)
			quote(&b, e)
		}
	}
	sep()
	b.WriteString("--")
	for _, a := range args {
		if strings.IndexByte(a, 0) >= 0 {
			return "", errNUL
		}
		b.WriteByte(' ')
		if a == "" || needsQuote(a) || strings.HasPrefix(a, qemuMMIO) {
			forceQuote(&b, a)
		} else {
			b.WriteString(a)
		}
	}
	return b.String(), nil
}

var errNUL = errors.New("cmdline: a NUL byte cannot be passed to a Linux program")

// plainEnvName says whether NAME=VALUE can be written bare before `--` and still
// decode as an environment entry.
func plainEnvName(name string) bool {
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c == '.' || c == '"' || c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return name != "-"
}

func needsQuote(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '"' {
			return true
		}
	}
	return false
}

// quote writes s so that it decodes to itself as the tail of a word: bare when it
// can be, in quotes otherwise.
func quote(b *strings.Builder, s string) {
	if s != "" && !needsQuote(s) {
		b.WriteString(s)
		return
	}
	forceQuote(b, s)
}

func forceQuote(b *strings.Builder, s string) {
	const hex = "0123456789abcdef"
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < ' ' || c >= 0x7f:
			b.WriteString(`\x`)
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
}
