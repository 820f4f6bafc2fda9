//go:build unigo_kcheck_bad

package syscalls

// Deliberately broken kernel code, linked only with the build tag
// unigo_kcheck_bad, so that rt/internal/kcheck's tests can prove the check
// catches each kind of mistake in a real kernel image: reached from the system
// call path through selfTest, like any kernel code.

var badGlobal *[64]byte

//go:noinline
func badAlloc(n uint64) uint64 {
	b := make([]byte, n) // heap allocation: runtime.makeslice
	return uint64(len(b))
}

//go:noinline
func badWriteBarrier(n uint64) uint64 {
	badGlobal = new([64]byte) // pointer store to a global: write barrier (and new)
	return n
}

//go:noinline
func badRecursion(n uint64) uint64 {
	if n == 0 {
		return 0
	}
	return badRecursion(n-1) + 1
}

var badFunc = func(n uint64) uint64 { return n }

//go:noinline
func badIndirect(n uint64) uint64 { return badFunc(n) }

//go:noinline
func badDeepStack(n uint64) uint64 {
	var big [96 << 10]byte // more than the whole kernel stack
	big[n%uint64(len(big))] = 1
	return uint64(big[(n+1)%uint64(len(big))])
}

func kcheckBad(what uint64) uint64 {
	switch what {
	case 10:
		return badAlloc(what)
	case 11:
		return badWriteBarrier(what)
	case 12:
		return badRecursion(what)
	case 13:
		return badIndirect(what)
	case 14:
		return badDeepStack(what)
	}
	return 0
}
