//go:build unikernel

package mm

import (
	"github.com/unigo-dev/unigo/internal/x86"
	"github.com/unigo-dev/unigo/rt/internal/kmem"
	"github.com/unigo-dev/unigo/rt/internal/tlb"
)

// flushPage drops the TLB entry for va on this CPU.
func flushPage(va uint64) { x86.Invlpg(uintptr(va)) }

// shootdown makes the other CPUs drop their cached translations (package tlb).
func shootdown(m *Memory) {
	if m.TLB != 0 {
		kmem.At[tlb.State](m.TLB).Flush()
	}
}
