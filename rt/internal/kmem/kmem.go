// Package kmem gives typed views of kernel-owned memory: memory the kernel took
// from the physical allocator and reaches through its direct map, outside the Go
// heap.
//
// Context: any (kernel context, boot, and host tests, where "kernel memory" is a
// byte slice the test owns). Nothing here allocates or keeps state.
//
// Kernel structures hold addresses as uintptr, never as Go pointers: a pointer
// store compiles to a write-barrier check, and kernel context must not reach the
// write barrier (ARCHITECTURE.md, decision 5). At turns an address back into a
// typed pointer at the point of use; the pointer lives only in locals.
package kmem

import "unsafe"

// At returns a *T for the kernel memory at addr.
func At[T any](addr uintptr) *T {
	return (*T)(Pointer(addr))
}

// Pointer converts an address of kernel memory (never Go heap) to an
// unsafe.Pointer. Reading the uintptr through memory instead of converting it
// keeps vet's unsafeptr check meaningful elsewhere: the addresses this package
// handles are not Go pointers that the collector could move or free.
func Pointer(addr uintptr) unsafe.Pointer {
	return *(*unsafe.Pointer)(unsafe.Pointer(&addr))
}

// Bytes returns the n bytes of kernel memory at addr as a slice.
func Bytes(addr uintptr, n int) []byte {
	return unsafe.Slice((*byte)(Pointer(addr)), n)
}

// Words returns the n 64-bit words of kernel memory at addr as a slice.
func Words(addr uintptr, n int) []uint64 {
	return unsafe.Slice((*uint64)(Pointer(addr)), n)
}

// Zero clears n bytes at addr.
func Zero(addr uintptr, n int) {
	clear(Bytes(addr, n))
}

// Copy copies n bytes from src to dst (which may overlap).
func Copy(dst, src uintptr, n int) {
	copy(Bytes(dst, n), Bytes(src, n))
}

// Addr returns the address of p. For kernel structures reached through At and for
// stack locals being handed to assembly.
func Addr[T any](p *T) uintptr {
	return uintptr(unsafe.Pointer(p))
}

// StringBytes views a string's bytes without copying.
func StringBytes(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}
