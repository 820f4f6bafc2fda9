//go:build !unikernel

package mm

// flushPage drops a stale TLB entry; host tests have no TLB.
func flushPage(va uint64) {}

// shootdown: host tests have one "CPU".
func shootdown(m *Memory) {}
