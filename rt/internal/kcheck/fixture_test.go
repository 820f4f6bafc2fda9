package kcheck

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The fixture is built once per test binary run. Not into t.TempDir: that is
// removed when the first test that asked for it ends, and the build is shared.
var fixture struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if fixture.dir != "" {
		os.RemoveAll(fixture.dir)
	}
	os.Exit(code)
}

// goTool is the go command of the toolchain running the tests.
func goTool() string { return filepath.Join(runtime.GOROOT(), "bin", "go") }

// fixtureELF builds testdata/fixture for linux/amd64 and returns its path.
func fixtureELF(t *testing.T) string {
	t.Helper()
	fixture.once.Do(func() {
		fixture.dir, fixture.err = os.MkdirTemp("", "kcheck-fixture-")
		if fixture.err != nil {
			return
		}
		out := filepath.Join(fixture.dir, "fixture")
		cmd := exec.Command(goTool(), "build", "-o", out, "./testdata/fixture")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
		if msg, err := cmd.CombinedOutput(); err != nil {
			fixture.err = fmt.Errorf("building fixture: %v\n%s", err, msg)
			return
		}
		fixture.path = out
	})
	require.NoError(t, fixture.err)
	return fixture.path
}

// check analyzes the fixture with the default lists and the given entries.
func check(t *testing.T, entries ...Entry) *Report {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Entries = entries
	return checkWith(t, cfg)
}

func checkWith(t *testing.T, cfg Config) *Report {
	t.Helper()
	rep, err := Analyze(fixtureELF(t), cfg)
	require.NoError(t, err)
	t.Logf("report:\n%s", rep)
	return rep
}

// kinds lists the violation kinds of a report, in order.
func kinds(rep *Report) []string {
	var ks []string
	for _, v := range rep.Violations {
		ks = append(ks, v.Kind)
	}
	return ks
}

const (
	small = 16 << 10
	large = 128 << 10
)

// objdumpFrames returns, for each function matching re in the fixture, the
// stack its own instructions push as Go's disassembler shows it: 8 per PUSHQ
// plus every SUBQ $n, SP. It is an independent reading of the same machine
// code, good for the straight-line prologues of the fixture's functions.
func objdumpFrames(t *testing.T, re string) map[string]int {
	t.Helper()
	out, err := exec.Command(goTool(), "tool", "objdump", "-s", re, fixtureELF(t)).Output()
	require.NoError(t, err)
	frames := map[string]int{}
	var cur string
	subq := regexp.MustCompile(`SUBQ \$(0x[0-9a-f]+), SP`)
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if name, ok := strings.CutPrefix(line, "TEXT "); ok {
			cur = strings.TrimSuffix(strings.Fields(name)[0], "(SB)")
			frames[cur] = 0
			continue
		}
		if strings.Contains(line, "PUSHQ ") {
			frames[cur] += 8
		}
		if m := subq.FindStringSubmatch(line); m != nil {
			n, err := strconv.ParseInt(m[1], 0, 64)
			require.NoError(t, err)
			frames[cur] += int(n)
		}
	}
	return frames
}

func TestCleanPasses(t *testing.T) {
	rep := check(t, Entry{"main.Clean", small})
	assert.True(t, rep.OK(), "violations: %v", rep.Violations)

	// Clean's frame holds a [8]int (64 bytes); its helpers are frameless
	// leaves. Anything far from that means SP tracking is off.
	depth := rep.MaxDepth["main.Clean"]
	assert.GreaterOrEqual(t, depth, 8+64+8, "frame pointer + array + return address")
	assert.Less(t, depth, 256)
	assert.Equal(t, "main.Clean", rep.DeepestPath["main.Clean"][0])

	// Exactly: Clean's own pushes and SUBQ, a return address, the deeper helper.
	f := objdumpFrames(t, `^main\.(Clean|mix|sum)$`)
	require.Len(t, f, 3)
	assert.Equal(t, f["main.Clean"]+8+max(f["main.mix"], f["main.sum"]), depth)
}

func TestAsmFrameIsCounted(t *testing.T) {
	rep := check(t, Entry{"main.AsmEntry", small}, Entry{"main.asmPush", small})
	assert.True(t, rep.OK(), "violations: %v", rep.Violations)

	// asmPush's frame is its $24, the assembler's PUSHQ BP and three PUSHQs.
	f := objdumpFrames(t, `^main\.(AsmEntry|asmPush\.abi0)$`)
	require.Len(t, f, 2)
	assert.Equal(t, 8+24+3*8, f["main.asmPush.abi0"], "fixture assembly changed?")
	assert.Equal(t, f["main.asmPush.abi0"], rep.MaxDepth["main.asmPush"], "named without .abi0, resolved to it")
	assert.Equal(t, f["main.AsmEntry"]+8+f["main.asmPush.abi0"], rep.MaxDepth["main.AsmEntry"])
	assert.Equal(t, []string{"main.AsmEntry", "main.asmPush.abi0"}, rep.DeepestPath["main.AsmEntry"])
}

func TestABIWrapperAndBodyAreBothChecked(t *testing.T) {
	// main.asmLeaf is the linker's ABIInternal wrapper of main.asmLeaf.abi0;
	// the entry name without suffix covers both and reports the deeper.
	rep := check(t, Entry{"main.asmLeaf", small}, Entry{"main.asmLeaf.abi0", small})
	assert.True(t, rep.OK(), "violations: %v", rep.Violations)
	f := objdumpFrames(t, `^main\.asmLeaf(\.abi0)?$`)
	require.Len(t, f, 2)
	assert.Equal(t, f["main.asmLeaf"]+8+f["main.asmLeaf.abi0"], rep.MaxDepth["main.asmLeaf"])
	assert.Equal(t, []string{"main.asmLeaf", "main.asmLeaf.abi0"}, rep.DeepestPath["main.asmLeaf"])
	assert.Equal(t, 0, rep.MaxDepth["main.asmLeaf.abi0"], "frameless assembly")
}

func TestAllocationIsDenied(t *testing.T) {
	rep := check(t, Entry{"main.Alloc", large}, Entry{"main.NewObj", large})
	require.Equal(t, []string{KindDeny, KindDeny}, kinds(rep))
	assert.Equal(t, "main.Alloc", rep.Violations[0].Entry)
	assert.Equal(t, []string{"main.Alloc", "runtime.makeslice"}, rep.Violations[0].Path)
	assert.Contains(t, rep.Violations[0].Detail, "main.Alloc+0x")
	assert.Equal(t, []string{"main.NewObj", "runtime.newobject"}, rep.Violations[1].Path)
}

func TestWriteBarrierIsDenied(t *testing.T) {
	rep := check(t, Entry{"main.StoreGlobal", large})
	require.Equal(t, []string{KindDeny}, kinds(rep))
	path := rep.Violations[0].Path
	require.Len(t, path, 2)
	assert.Equal(t, "main.StoreGlobal", path[0])
	assert.True(t, strings.HasPrefix(path[1], "runtime.gcWriteBarrier"), path[1])
}

func TestPathNamesEveryCaller(t *testing.T) {
	rep := check(t, Entry{"main.Layered", large})
	require.Equal(t, []string{KindDeny}, kinds(rep))
	assert.Equal(t, []string{"main.Layered", "main.middle", "main.Alloc", "runtime.makeslice"}, rep.Violations[0].Path)
}

func TestJumpTableCasesAreFollowed(t *testing.T) {
	// Only case 7 of the switch allocates; it is reached only through the table.
	rep := check(t, Entry{"main.Switch", large})
	require.Equal(t, []string{KindDeny}, kinds(rep))
	assert.Equal(t, []string{"main.Switch", "main.Alloc", "runtime.makeslice"}, rep.Violations[0].Path)
}

func TestRecursion(t *testing.T) {
	rep := check(t, Entry{"main.Recurse", large}, Entry{"main.Ping", large}, Entry{"main.Pong", large})
	require.Equal(t, []string{KindRecursion, KindRecursion, KindRecursion}, kinds(rep))
	assert.Equal(t, []string{"main.Recurse", "main.Recurse"}, rep.Violations[0].Path)
	assert.Equal(t, []string{"main.Ping", "main.Pong", "main.Ping"}, rep.Violations[1].Path)
	assert.Equal(t, []string{"main.Pong", "main.Ping", "main.Pong"}, rep.Violations[2].Path)
}

func TestBigFrame(t *testing.T) {
	rep := check(t, Entry{"main.BigFrame", small})
	require.Equal(t, []string{KindStack}, kinds(rep))
	assert.Equal(t, []string{"main.BigFrame", "main.fill"}, rep.Violations[0].Path)
	assert.Greater(t, rep.MaxDepth["main.BigFrame"], 64<<10)
	assert.Contains(t, rep.Violations[0].Detail, fmt.Sprint(small-StackGuard))

	rep = check(t, Entry{"main.BigFrame", large})
	assert.True(t, rep.OK(), "violations: %v", rep.Violations)
}

func TestTinyStackFails(t *testing.T) {
	rep := check(t, Entry{"main.Clean", StackGuard + 64})
	require.Equal(t, []string{KindStack}, kinds(rep))
	v := rep.Violations[0]
	assert.Equal(t, rep.DeepestPath["main.Clean"], v.Path)
	assert.Equal(t, "main.Clean", v.Path[0])
	assert.Contains(t, v.Detail, fmt.Sprintf("needs %d bytes", rep.MaxDepth["main.Clean"]))
}

func TestIndirectCall(t *testing.T) {
	rep := check(t, Entry{"main.Indirect", large})
	require.Equal(t, []string{KindIndirect}, kinds(rep))
	assert.Equal(t, []string{"main.Indirect"}, rep.Violations[0].Path)
	assert.Contains(t, rep.Violations[0].Detail, "CALL")

	cfg := DefaultConfig()
	cfg.Entries = []Entry{{"main.Indirect", large}}
	cfg.AllowIndirect = []string{"main.Indirect$"}
	assert.True(t, checkWith(t, cfg).OK())
}

func TestBoundsCheckIsTerminal(t *testing.T) {
	rep := check(t, Entry{"main.Bounds", small})
	assert.True(t, rep.OK(), "violations: %v", rep.Violations)
	assert.Equal(t, []string{"main.Bounds", "runtime.panicBounds"}, rep.DeepestPath["main.Bounds"])

	// Followed instead, the panic path allocates, locks and switches stacks:
	// Terminal is what makes the entry pass.
	cfg := DefaultConfig()
	cfg.Entries = []Entry{{"main.Bounds", small}}
	cfg.Terminal = nil
	assert.False(t, checkWith(t, cfg).OK())
}

func TestMorestackIsIgnored(t *testing.T) {
	// Every fixture entry with a split check calls morestack; with Ignore
	// emptied that call becomes an ordinary edge into a stack switch.
	cfg := DefaultConfig()
	cfg.Entries = []Entry{{"main.Clean", small}}
	cfg.Ignore = nil
	rep := checkWith(t, cfg)
	require.False(t, rep.OK())
	assert.Equal(t, []string{"main.Clean", "runtime.morestack_noctxt.abi0"}, rep.Violations[0].Path[:2])
}

func TestDenyPatterns(t *testing.T) {
	// An exact pattern and a user-chosen deny list work like the defaults.
	cfg := DefaultConfig()
	cfg.Entries = []Entry{{"main.Clean", small}}
	cfg.Deny = append(cfg.Deny, "main.sum$")
	rep := checkWith(t, cfg)
	require.Equal(t, []string{KindDeny}, kinds(rep))
	assert.Equal(t, []string{"main.Clean", "main.sum"}, rep.Violations[0].Path)
}

func TestConfigErrors(t *testing.T) {
	elf := fixtureELF(t)
	for name, cfg := range map[string]Config{
		"no entries":    DefaultConfig(),
		"unknown entry": {Entries: []Entry{{"main.NoSuchFunction", small}}, Guard: StackGuard},
		"stack < guard": {Entries: []Entry{{"main.Clean", 100}}, Guard: StackGuard},
		"listed twice":  {Entries: []Entry{{"main.Clean", small}, {"main.Clean", large}}, Guard: StackGuard},
	} {
		_, err := Analyze(elf, cfg)
		assert.Error(t, err, name)
	}
	cfg := DefaultConfig()
	cfg.Entries = []Entry{{"main.Clean", small}}
	_, err := Analyze("fixture_test.go", cfg)
	assert.Error(t, err, "not an ELF file")
}

func TestReportString(t *testing.T) {
	s := check(t, Entry{"main.Layered", large}).String()
	assert.Contains(t, s, "main.Layered: deny: main.Layered -> main.middle -> main.Alloc -> runtime.makeslice: main.Alloc+0x")
	assert.Contains(t, s, "1 violations")
}

// TestSpeed times a check of every fixture entry, and the decoding of every
// function in the binary (a hello-world-sized Go program, ~2 MB).
func TestSpeed(t *testing.T) {
	elf := fixtureELF(t)
	var entries []Entry
	for _, e := range []string{"Clean", "Alloc", "NewObj", "StoreGlobal", "Recurse", "Ping", "BigFrame",
		"Indirect", "Bounds", "AsmEntry", "asmLeaf", "Layered", "Switch", "main"} {
		entries = append(entries, Entry{"main." + e, large})
	}
	cfg := DefaultConfig()
	cfg.Entries = entries
	start := time.Now()
	rep, err := Analyze(elf, cfg)
	require.NoError(t, err)
	entriesTook := time.Since(start)

	start = time.Now()
	img, err := loadImage(elf)
	require.NoError(t, err)
	for _, fn := range img.funcs {
		analyzeFrame(img, fn)
	}
	allTook := time.Since(start)

	st, err := os.Stat(elf)
	require.NoError(t, err)
	t.Logf("%d-byte ELF: %d entries (%d functions) in %v; all %d functions in %v",
		st.Size(), len(entries), rep.Functions, entriesTook, len(img.funcs), allTook)
	assert.Less(t, entriesTook, 2*time.Second)
	assert.Less(t, allTook, 2*time.Second)
}
