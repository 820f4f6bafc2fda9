package acpi

import "unsafe"

// bytesAt views n bytes at addr, an address a Memory window names: the caller's
// mapping of physical memory, never the Go heap's (tests pin their buffers).
func bytesAt(addr uintptr, n int) []byte {
	if n == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(ptr(addr)), n)
}

// ptr turns an address into a pointer through memory, as rt/internal/kmem does,
// so vet's unsafeptr check stays meaningful elsewhere. Not inlined: Go 1.26's
// compiler fails (internal error in disjointTypes) when this is inlined into a
// copy.
//
//go:noinline
func ptr(a uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&a)) }
