package kcheck

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestMatcher(t *testing.T) {
	m := matcher{"runtime.gcWriteBarrier", "main.f$", "runtime.memmove$"}
	for name, want := range map[string]string{
		"runtime.gcWriteBarrier1":   "runtime.gcWriteBarrier",
		"runtime.gcWriteBarrier8":   "runtime.gcWriteBarrier",
		"main.f":                    "main.f$",
		"main.f.abi0":               "main.f$",
		"main.fg":                   "",
		"runtime.memmove.abi0":      "runtime.memmove$",
		"runtime.memmoveX":          "",
		"runtime.gcWriteBarrie":     "",
		"other.runtime.gcWriteBarr": "",
	} {
		assert.Equal(t, want, m.match(name), name)
	}
}

func TestDefaultLists(t *testing.T) {
	cfg := DefaultConfig()
	assert.Equal(t, StackGuard, cfg.Guard)
	deny, term, ign := matcher(cfg.Deny), matcher(cfg.Terminal), matcher(cfg.Ignore)
	for _, n := range []string{"runtime.mallocgc", "runtime.mallocgcSmallNoScanSC2", "runtime.newobject",
		"runtime.makeslice", "runtime.growslice", "runtime.convT64", "runtime.convTstring",
		"runtime.gcWriteBarrier2", "runtime.wbBufFlush", "runtime.typedmemmove", "runtime.lock2",
		"runtime.gopark", "runtime.systemstack.abi0", "runtime.mcall"} {
		assert.NotEmpty(t, deny.match(n), n)
	}
	for _, n := range []string{"runtime.panicBounds", "runtime.panicdivide", "runtime.panicshift",
		"runtime.panicmem", "runtime.goPanicIndex", "runtime.throw"} {
		assert.NotEmpty(t, term.match(n), n)
		assert.Empty(t, deny.match(n), n)
	}
	assert.NotEmpty(t, ign.match("runtime.morestack_noctxt.abi0"))
	// Things kernel code may use.
	for _, n := range []string{"runtime.memmove", "runtime.memclrNoHeapPointers", "runtime.memequal"} {
		assert.Empty(t, deny.match(n)+term.match(n)+ign.match(n), n)
	}
}
