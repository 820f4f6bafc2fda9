//go:build unikernel

package mm

import (
	"github.com/unigo-dev/unigo/internal/x86"
)

// flushPage drops the TLB entry for va on this CPU. (One CPU for now; a
// shootdown comes with SMP.)
func flushPage(va uint64) { x86.Invlpg(uintptr(va)) }
