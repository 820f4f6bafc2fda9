package cmdline_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unigo-dev/unigo/boot/cmdline"
)

// word is one decoded word.
type word struct {
	Kind cmdline.Kind
	Text string
}

func arg(s string) word   { return word{cmdline.Arg, s} }
func env(s string) word   { return word{cmdline.Env, s} }
func param(s string) word { return word{cmdline.Param, s} }

// scan decodes every word of line with a buffer of size bufSize (len(line) when
// negative), stopping at the first error.
func scan(line string, bufSize int) ([]word, cmdline.Error) {
	if bufSize < 0 {
		bufSize = len(line)
	}
	sc := cmdline.NewScanner([]byte(line))
	buf := make([]byte, bufSize)
	var words []word
	for {
		k, n, err := sc.Next(buf)
		if err != cmdline.ErrNone {
			return words, err
		}
		if k == 0 {
			return words, cmdline.ErrNone
		}
		words = append(words, word{k, string(buf[:n])})
	}
}

func TestScanner(t *testing.T) {
	tests := []struct {
		name string
		line string
		want []word
	}{
		{"empty", "", nil},
		{"only space", " \t\r\n ", nil},
		{"words", "a  b\tc\nd\re", []word{arg("a"), arg("b"), arg("c"), arg("d"), arg("e")}},
		{"quotes mid-word", `a"b c"d`, []word{arg("ab cd")}},
		{"quoted word", `"a b"`, []word{arg("a b")}},
		{"empty quotes", `"" x""`, []word{arg(""), arg("x")}},
		{"escapes in quotes", `"\\ \" \x41\x7e\xff\x00\xAb"`, []word{arg("\\ \" A~\xff\x00\xab")}},
		{"backslash outside quotes", `a\b c\\`, []word{arg(`a\b`), arg(`c\\`)}},
		{"backslash then quote outside", `a\"b c"`, []word{arg(`a\b c`)}},
		{"all bytes stand for themselves", "ü\x01\x7f\xff", []word{arg("ü\x01\x7f\xff")}},

		{"environment", "FOO=bar", []word{env("FOO=bar")}},
		{"empty value", "FOO=", []word{env("FOO=")}},
		{"quoted value", `FOO="a b" BAR=x"y z"`, []word{env("FOO=a b"), env("BAR=xy z")}},
		{"value with = and dots", "FOO=a=b.c", []word{env("FOO=a=b.c")}},
		{"parameter", "unigo.argv0=/x a.b=", []word{param("unigo.argv0=/x"), param("a.b=")}},
		{"dot in the value only", "FOO=a.b", []word{env("FOO=a.b")}},
		{"microvm's device before --", "virtio_mmio.device=512@0xfeb00000:12",
			[]word{param("virtio_mmio.device=512@0xfeb00000:12")}},
		{"dotted word without =", "a.b", []word{arg("a.b")}},
		{"empty name", "=x", []word{arg("=x")}},
		{"quoted word is an argument", `"FOO=bar" "unigo.x=1"`, []word{arg("FOO=bar"), arg("unigo.x=1")}},
		{"quote before = makes an argument", `F"OO"=bar u"nigo.x"=1`, []word{arg("FOO=bar"), arg("unigo.x=1")}},
		{"quoted dot after = still env", `FOO="a.b"`, []word{env("FOO=a.b")}},
		{"sorted in order", "a.b=1 c=2 x -- y", []word{param("a.b=1"), env("c=2"), arg("x"), arg("y")}},

		{"-- ends the kernel's part", "-- FOO=bar unigo.x=1 a", []word{arg("FOO=bar"), arg("unigo.x=1"), arg("a")}},
		{"a second -- is an argument", "-- -- --", []word{arg("--"), arg("--")}},
		{"quoted -- is an argument", `"--" FOO=bar`, []word{arg("--"), env("FOO=bar")}},
		{"--x is not --", "--x FOO=bar", []word{arg("--x"), env("FOO=bar")}},
		{"microvm's device after --", "-- a virtio_mmio.device=1K@0xfeb00000:5",
			[]word{arg("a"), param("virtio_mmio.device=1K@0xfeb00000:5")}},
		{"quoted device after -- is an argument", `-- "virtio_mmio.device=1" v"irtio_mmio.device=2"`,
			[]word{arg("virtio_mmio.device=1"), arg("virtio_mmio.device=2")}},
		{"other parameters after -- are arguments", "-- virtio_mmio.x=1 unigo.env=A=1",
			[]word{arg("virtio_mmio.x=1"), arg("unigo.env=A=1")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := scan(tt.line, -1)
			require.Equal(t, cmdline.ErrNone, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestScannerErrors(t *testing.T) {
	tests := []struct {
		line    string
		bufSize int
		before  []word // words decoded before the error
		want    cmdline.Error
	}{
		{`"abc`, -1, nil, cmdline.ErrQuote},
		{`ok a"b`, -1, []word{arg("ok")}, cmdline.ErrQuote},
		{`FOO="x`, -1, nil, cmdline.ErrQuote},
		{`"\q"`, -1, nil, cmdline.ErrEscape},
		{`"\`, -1, nil, cmdline.ErrEscape},
		{`"\x4"`, -1, nil, cmdline.ErrEscape},
		{`"\x4`, -1, nil, cmdline.ErrEscape},
		{`"\xzz"`, -1, nil, cmdline.ErrEscape},
		{`"\n"`, -1, nil, cmdline.ErrEscape},
		{"abc", 2, nil, cmdline.ErrTooLong},
		{"ab abc", 2, []word{arg("ab")}, cmdline.ErrTooLong},
		{`"\x41\x42\x43"`, 2, nil, cmdline.ErrTooLong},
		{"--", 1, nil, cmdline.ErrTooLong},
	}
	for _, tt := range tests {
		got, err := scan(tt.line, tt.bufSize)
		assert.Equal(t, tt.want, err, "%q", tt.line)
		assert.Equal(t, tt.before, got, "%q", tt.line)
	}
	assert.Equal(t, "cmdline: unterminated quote", cmdline.ErrQuote.Error())
	assert.Equal(t, `cmdline: bad escape inside quotes (want \\, \" or \xHH)`, cmdline.ErrEscape.Error())
	assert.Equal(t, "cmdline: word longer than the buffer", cmdline.ErrTooLong.Error())
	assert.Equal(t, "cmdline: no error", cmdline.ErrNone.Error())
}

func TestExactBuffer(t *testing.T) {
	got, err := scan(`"\x41\x42\x43" FOO=bar`, 7)
	require.Equal(t, cmdline.ErrNone, err, "a word exactly the buffer's size fits")
	assert.Equal(t, []word{arg("ABC"), env("FOO=bar")}, got)
}

func TestClassify(t *testing.T) {
	tests := []struct {
		kind    cmdline.Kind
		word    string
		want    cmdline.Kind
		value   string
		isArgv0 bool
	}{
		{cmdline.Param, "unigo.env=A.B=x y", cmdline.Env, "A.B=x y", false},
		{cmdline.Param, "unigo.env==", cmdline.Env, "=", false},
		{cmdline.Param, "unigo.argv0=/bin/app", cmdline.Param, "/bin/app", true},
		{cmdline.Param, "unigo.argv0=", cmdline.Param, "", true},
		{cmdline.Param, "unigo.other=1", cmdline.Param, "unigo.other=1", false},
		{cmdline.Param, "virtio_mmio.device=1", cmdline.Param, "virtio_mmio.device=1", false},
		{cmdline.Arg, "unigo.env=A=1", cmdline.Arg, "unigo.env=A=1", false},
		{cmdline.Env, "A=1", cmdline.Env, "A=1", false},
	}
	for _, tt := range tests {
		kind, value, isArgv0 := cmdline.Classify(tt.kind, []byte(tt.word))
		assert.Equal(t, tt.want, kind, tt.word)
		assert.Equal(t, tt.value, string(value), tt.word)
		assert.Equal(t, tt.isArgv0, isArgv0, tt.word)
	}
}

func TestSplit(t *testing.T) {
	for in, want := range map[string][2]string{
		"A=1":     {"A", "1"},
		"A=":      {"A", ""},
		"A=b=c":   {"A", "b=c"},
		"a.b=x y": {"a.b", "x y"},
		"noequal": {"noequal", ""},
	} {
		k, v := cmdline.Split([]byte(in))
		assert.Equal(t, want, [2]string{string(k), string(v)}, in)
	}
}

func TestEncode(t *testing.T) {
	tests := []struct {
		name   string
		params []string
		argv0  string
		args   []string
		env    []string
		want   string
	}{
		{"nothing", nil, "", nil, nil, "--"},
		{"argv0", nil, "/tmp/go-build1/b001/exe/app", nil, nil, "unigo.argv0=/tmp/go-build1/b001/exe/app --"},
		{"argv0 with space", nil, "/my app", nil, nil, `unigo.argv0="/my app" --`},
		{"plain", nil, "/app", []string{"a", "-test.run=^TestX$"}, []string{"HOME=/root", "EMPTY="},
			`unigo.argv0=/app HOME=/root EMPTY="" -- a -test.run=^TestX$`},
		{"quoting", nil, "", []string{"a b", `q"`, `back\slash`, "", "tab\t", "ü", "--"}, nil,
			`-- "a b" "q\"" back\slash "" "tab\x09" "\xc3\xbc" --`},
		{"awkward names", nil, "", nil, []string{"a.b=1", `q"=2`, "-=3", "ü=4", "x y=6"},
			`unigo.env=a.b=1 unigo.env="q\"=2" unigo.env=-=3 unigo.env="\xc3\xbc=4" unigo.env="x y=6" --`},
		{"device-looking argument", nil, "", []string{"virtio_mmio.device=1"}, nil, `-- "virtio_mmio.device=1"`},
		{"params first", []string{"unigo.debug=1", "a.b=x y"}, "/app", []string{"x"}, []string{"A=1"},
			`unigo.debug=1 a.b="x y" unigo.argv0=/app A=1 -- x`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := cmdline.Encode(tt.params, tt.argv0, tt.args, tt.env)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestEncodeErrors(t *testing.T) {
	tests := []struct {
		name   string
		params []string
		argv0  string
		args   []string
		env    []string
		want   string
	}{
		{"NUL in an argument", nil, "", []string{"a\x00"}, nil, "NUL"},
		{"NUL in argv0", nil, "a\x00", nil, nil, "NUL"},
		{"NUL in the environment", nil, "", nil, []string{"A=\x00"}, "NUL"},
		{"NUL in a parameter", []string{"a.b=\x00"}, "", nil, nil, "NUL"},
		{"environment entry without =", nil, "", nil, []string{"NOVALUE"}, `"NOVALUE" is not NAME=VALUE`},
		{"empty environment name", nil, "", nil, []string{"=x"}, `"=x" is not NAME=VALUE`},
		{"parameter without a dot", []string{"a=1"}, "", nil, nil, "dotted KEY"},
		{"parameter without =", []string{"a.b"}, "", nil, nil, "dotted KEY"},
		{"parameter with a space in the key", []string{"a .b=1"}, "", nil, nil, "dotted KEY"},
	}
	for _, tt := range tests {
		_, err := cmdline.Encode(tt.params, tt.argv0, tt.args, tt.env)
		assert.ErrorContains(t, err, tt.want, tt.name)
	}
}

// roundTrip decodes line as a guest does: argv0, args and env in order; any other
// word is a failure.
func roundTrip(t *testing.T, line string) (argv0 string, args, env []string) {
	t.Helper()
	argv0 = cmdline.DefaultArgv0
	sc := cmdline.NewScanner([]byte(line))
	buf := make([]byte, len(line)) // no word decodes longer than it is encoded
	for {
		k, n, err := sc.Next(buf)
		if err != cmdline.ErrNone {
			t.Fatalf("decoding %q: %v", line, err)
		}
		if k == 0 {
			return argv0, args, env
		}
		kind, value, isArgv0 := cmdline.Classify(k, buf[:n])
		switch {
		case isArgv0:
			argv0 = string(value)
		case kind == cmdline.Arg:
			args = append(args, string(value))
		case kind == cmdline.Env:
			env = append(env, string(value))
		default:
			t.Fatalf("decoding %q: unexpected parameter %q", line, value)
		}
	}
}

// splitList splits a fuzzer string into a list: NUL ends each entry (the one byte
// no entry can hold), and a last entry without its NUL counts too. So "" is the
// empty list and "\x00" the list of one empty string.
func splitList(s string) []string {
	if s == "" {
		return nil
	}
	list := strings.Split(s, "\x00")
	if list[len(list)-1] == "" {
		list = list[:len(list)-1]
	}
	return list
}

// envList makes each entry a valid NAME=VALUE: a missing = is added after the
// name, and an empty name becomes "E".
func envList(s string) []string {
	list := splitList(s)
	for i, e := range list {
		if !strings.Contains(e, "=") {
			e += "="
		}
		if e[0] == '=' {
			e = "E" + e
		}
		list[i] = e
	}
	return list
}

func FuzzRoundTrip(f *testing.F) {
	f.Add("/app", "a\x00b c\x00", "HOME=/root\x00PATH=/usr/bin:/bin\x00")
	f.Add("/tmp/go-build123/b001/app.test", "-test.run=^TestX$\x00-test.v=test2json\x00-test.timeout=10m0s\x00-test.paniconexit0\x00", "GOFLAGS=-mod=mod\x00")
	f.Add("", "\x00\x00", "EMPTY=\x00")
	f.Add("/my app", "--\x00-- --\x00\"--\"\x00", "A=--\x00")
	f.Add("/q\"uote", "say \"hi\"\x00\"\x00\"\"\x00a\"b\x00", "Q=\"\x00\"=x\x00")
	f.Add("/back\\slash", "\\\x00\\\\\x00\\\"\x00\\x41\x00", "B=\\x41\x00C=\\\x00")
	f.Add("/ü/app", "ünïcödé\x00日本\x00\xff\xfe\x00\x80", "LANG=C.UTF-8\x00ü=1\x00")
	f.Add("/app", "\x01\x02\t\n\r\v\f \x7f\x00\x1b[31m\x00", "CTRL=\x01\t\n\x00")
	f.Add("/app", "virtio_mmio.device=1\x00unigo.argv0=x\x00unigo.env=A=1\x00a.b=c\x00", "a.b=1\x00unigo.env=x\x00unigo.argv0=y\x00virtio_mmio.device=2\x00")
	f.Add("/app", "FOO=bar\x00=x\x00x=\x00", "-=1\x00--=2\x00-\x00")
	f.Add("=", "=\x00==\x00", "==\x00x===\x00")
	f.Fuzz(func(t *testing.T, argv0, args, env string) {
		if strings.IndexByte(argv0, 0) >= 0 {
			t.Skip("a NUL cannot be in argv[0]")
		}
		argList, envs := splitList(args), envList(env)
		line, err := cmdline.Encode(nil, argv0, argList, envs)
		require.NoError(t, err)

		gotArgv0, gotArgs, gotEnv := roundTrip(t, line)
		if argv0 == "" {
			argv0 = cmdline.DefaultArgv0 // Encode writes no unigo.argv0 for ""
		}
		assert.Equal(t, argv0, gotArgv0, "argv0 of %q", line)
		assert.Equal(t, argList, gotArgs, "args of %q", line)
		assert.Equal(t, envs, gotEnv, "env of %q", line)
		// The encoding is printable ASCII, so it survives any console or log.
		for i := 0; i < len(line); i++ {
			if line[i] < ' ' || line[i] >= 0x7f {
				t.Fatalf("byte %#x at %d in %q", line[i], i, line)
			}
		}
		assert.True(t, utf8.ValidString(line))
	})
}

func TestQuotedDashesAreAnArgument(t *testing.T) {
	for _, line := range []string{`-"-" A=1`, `--"" A=1`} {
		got, err := scan(line, -1)
		require.Equal(t, cmdline.ErrNone, err)
		assert.Equal(t, []word{arg("--"), env("A=1")}, got, line)
	}
}
