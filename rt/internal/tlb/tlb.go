// Package tlb keeps the CPUs' TLBs coherent with the page tables: when the
// kernel removes a mapping or takes a permission away, every other CPU that may
// cache the old entry must drop it before the frame or the access can be reused
// (a shootdown).
//
// Protocol: the CPU that changed the tables (holding the kernel lock) bumps Gen,
// sends each other online CPU an IPI, and waits until each has acknowledged that
// generation. A CPU acknowledges in Ack by reloading CR3 (which drops every
// non-global entry; user mappings are never global) and recording the
// generation. Every CPU calls Ack while it waits for the kernel lock and on
// every kernel entry, so the IPI only has to make a CPU in ring 3, or halted,
// enter the kernel: a CPU spinning on the lock with interrupts off still
// acknowledges, and the initiator cannot deadlock against it.
//
// Context: kernel context. No allocation; State lives in kernel memory.
// May call drivers/apic and internal/x86.
package tlb

import (
	"sync/atomic"

	"github.com/unigo-dev/unigo/drivers/apic"
	"github.com/unigo-dev/unigo/internal/x86"
)

// MaxCPUs bounds the CPUs tracked (sched.MaxCPUs).
const MaxCPUs = 16

// State is the machine's shootdown bookkeeping.
type State struct {
	gen uint64
	ack [MaxCPUs]uint64
	// Online has a bit per CPU that takes part (started and in the kernel's
	// lock protocol).
	Online uint32
	// APIC and APICID send the IPIs; Vector is the interrupt they carry.
	APIC   apic.APIC
	APICID [MaxCPUs]uint32
	Vector uint8
	// Self is the CPU that holds the kernel lock now.
	Self int
	// Count is how many shootdowns there were (for the boot log and tests).
	Count uint64
}

// Flush makes every other online CPU drop its cached translations and returns
// once they all have. The caller holds the kernel lock and has flushed its own
// TLB for the addresses concerned.
func (s *State) Flush() {
	others := atomic.LoadUint32(&s.Online) &^ (1 << s.Self)
	if others == 0 {
		return
	}
	s.Count++
	gen := atomic.AddUint64(&s.gen, 1)
	atomic.StoreUint64(&s.ack[s.Self], gen)
	for i := 0; i < MaxCPUs; i++ {
		if others&(1<<i) != 0 {
			s.APIC.SendIPI(s.APICID[i], s.Vector)
		}
	}
	for i := 0; i < MaxCPUs; i++ {
		if others&(1<<i) == 0 {
			continue
		}
		for atomic.LoadUint64(&s.ack[i]) < gen {
			x86.Pause()
		}
	}
}

// Ack acknowledges every shootdown so far for CPU cpu, flushing its TLB if one
// is outstanding.
func (s *State) Ack(cpu int) {
	gen := atomic.LoadUint64(&s.gen)
	if atomic.LoadUint64(&s.ack[cpu]) < gen {
		x86.WriteCR3(x86.ReadCR3())
		atomic.StoreUint64(&s.ack[cpu], gen)
	}
}
