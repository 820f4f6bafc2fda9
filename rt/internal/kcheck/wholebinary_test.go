package kcheck

import (
	"bufio"
	"bytes"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEveryFunctionDecodes walks every function of the fixture, the Go
// runtime's assembly (AVX2, AVX-512) included: none may fail to decode. What
// each one is reported for is logged, as a picture of what the checker makes
// of a whole Go program.
func TestEveryFunctionDecodes(t *testing.T) {
	img, err := loadImage(fixtureELF(t))
	require.NoError(t, err)
	count := map[string]int{}
	for _, fn := range img.funcs {
		for _, p := range analyzeFrame(img, fn).problems {
			count[p.kind]++
			assert.NotContains(t, p.detail, "cannot decode", fn.where(p.pc))
		}
	}
	t.Logf("%d functions; problems by kind: %v", len(img.funcs), count)
}

// TestBoundariesMatchObjdump checks every instruction the checker decodes,
// across the whole fixture, starts where GNU objdump's linear disassembly has
// an instruction. A wrong length anywhere would put later instructions out
// of phase and could hide a call.
func TestBoundariesMatchObjdump(t *testing.T) {
	objdump, err := exec.LookPath("objdump")
	if err != nil {
		t.Skip("GNU objdump not installed")
	}
	path := fixtureELF(t)
	out, err := exec.Command(objdump, "-d", "--no-show-raw-insn", path).Output()
	require.NoError(t, err)
	starts := map[uint64]bool{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		// "  401000:\tmov    ..."
		addr, _, ok := strings.Cut(strings.TrimSpace(sc.Text()), ":")
		if !ok {
			continue
		}
		if v, err := strconv.ParseUint(addr, 16, 64); err == nil {
			starts[v] = true
		}
	}
	require.NotEmpty(t, starts)

	img, err := loadImage(path)
	require.NoError(t, err)
	checked := 0
	for _, fn := range img.funcs {
		w := newWalker(img, fn)
		w.run()
		for pc := range w.insts {
			checked++
			if !starts[pc] {
				t.Errorf("%s: decoded an instruction where objdump has none", fn.where(pc))
			}
		}
	}
	t.Logf("%d instruction starts agree with objdump", checked)
}
