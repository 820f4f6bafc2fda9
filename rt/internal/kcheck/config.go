package kcheck

import "strings"

// Entry is one kernel entry point and the stack it runs on.
type Entry struct {
	// Symbol is the entry's .symtab name. An assembly entry may be named
	// without its ".abi0" suffix; if both an ABIInternal function and its ABI0
	// counterpart exist, both are checked and the worse result is reported.
	Symbol string
	// StackBytes is the size of the stack the entry runs on, measured from the
	// stack pointer at the entry's first instruction: whatever is already on
	// the stack then (a hardware interrupt frame, a caller's return address)
	// is not counted by the checker and must not be counted in StackBytes.
	StackBytes int
}

// Config says what to check. Name lists hold patterns: a pattern matches a
// symbol whose name begins with it ("runtime.gcWriteBarrier" matches
// runtime.gcWriteBarrier1 … 8), unless it ends in "$", which asks for the
// whole name (an ".abi0" suffix on the symbol is ignored then).
type Config struct {
	Entries []Entry
	// Deny lists functions that kernel code must never reach. Reaching one is
	// a "deny" violation; the function is not followed further.
	Deny []string
	// Terminal lists functions that may be called but are not followed: they
	// never return to kernel code (compiler-inserted panics end in the
	// kernel's fault report). A call to one costs its return address only.
	Terminal []string
	// Ignore lists call targets that are not edges at all: the call to
	// runtime.morestack in a function prologue, which is never taken while
	// the stack depth check passes (which is what this checker proves).
	Ignore []string
	// AllowIndirect lists functions allowed to contain indirect calls or
	// unresolvable indirect jumps. Their targets are still unknown, so any
	// name here is a hole in the proof and must be justified by hand.
	AllowIndirect []string
	// Guard is the number of bytes the fake g keeps below stackguard0 (Go's
	// StackGuard, 928 on linux/amd64); an entry may use StackBytes-Guard.
	Guard int
}

// StackGuard is Go's stack guard on linux/amd64 without the race detector
// (internal/abi.StackNosplitBase*1 + StackSmall = 800 + 128).
const StackGuard = 928

// DefaultConfig returns the deny, terminal and ignore lists for Go 1.26
// linux/amd64 and Guard = StackGuard. Entries is empty: the caller adds them.
func DefaultConfig() Config {
	return Config{
		Deny: []string{
			// Heap allocation.
			"runtime.mallocgc", // and its size-class variants mallocgcSmallNoScanSC*, mallocgcTiny, …
			"runtime.newobject",
			"runtime.newarray",
			"runtime.makeslice", // and makeslicecopy
			"runtime.growslice",
			"runtime.makemap", // and makemap_small
			"runtime.makechan",
			"runtime.mapassign", // may grow the map
			"runtime.convT",     // convT, convT16/32/64, convTstring, convTslice, convTnoptr
			"runtime.concatstring",
			"runtime.slicebytetostring",
			"runtime.stringtoslicebyte",
			"runtime.slicerunetostring",
			"runtime.stringtoslicerune",
			"runtime.intstring",
			"runtime.rawstring",
			"runtime.rawbyteslice",
			"runtime.rawruneslice",
			"runtime.persistentalloc",
			"runtime.sysAlloc",
			"runtime.deferproc", // heap-allocated defer records
			"runtime.newproc",   // go statements
			// Write barriers and the typed copies that run them.
			"runtime.gcWriteBarrier", // gcWriteBarrier1 … 8
			"runtime.wbBuf",
			"runtime.wbZero",
			"runtime.wbMove",
			"runtime.typedmemmove",
			"runtime.typedmemclr",
			"runtime.typedslicecopy",
			"runtime.bulkBarrierPreWrite",
			"runtime.memclrHasPointers",
			// The scheduler, Go locks, and stack switching.
			"runtime.lock", // lock, lock2, lockWithRank, …
			"runtime.unlock",
			"runtime.gopark", // and goparkunlock
			"runtime.goready",
			"runtime.Gosched",
			"runtime.gosched",
			"runtime.mcall",
			"runtime.systemstack", // and systemstack_switch
			"runtime.gogo",
			"runtime.newstack",
			"runtime.chansend",
			"runtime.chanrecv",
			"runtime.closechan",
			"runtime.selectgo",
			"runtime.semacquire",
			"runtime.semrelease",
			"runtime.notesleep",
			"runtime.notetsleep",
			"runtime.notewakeup",
			"runtime.futexsleep",
			"runtime.entersyscall",
			"runtime.exitsyscall",
			"runtime.gcStart",
		},
		Terminal: []string{
			// Compiler-inserted checks. On amd64 every bounds failure calls the
			// assembly runtime.panicBounds; the rest are named per check.
			"runtime.panic", // panicBounds, panicdivide, panicshift, panicmem, panicdottype*, panicunsafe*, …
			"runtime.goPanic",
			// Explicit panic and fatal errors: the kernel must turn these into a
			// fault report too. If it cannot, move them to Deny.
			"runtime.gopanic",
			"runtime.throw",
			"runtime.fatal",
			"runtime.abort",
		},
		Ignore: []string{
			"runtime.morestack", // morestack, morestack_noctxt
		},
		Guard: StackGuard,
	}
}

// matcher tests symbol names against a list of patterns (see Config).
type matcher []string

// match returns the first pattern that matches name, or "".
func (m matcher) match(name string) string {
	for _, p := range m {
		if exact, ok := strings.CutSuffix(p, "$"); ok {
			if name == exact || strings.TrimSuffix(name, abi0Suffix) == exact {
				return p
			}
		} else if strings.HasPrefix(name, p) {
			return p
		}
	}
	return ""
}
