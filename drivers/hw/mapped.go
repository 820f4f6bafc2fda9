package hw

import "unsafe"

// Mapped is the n bytes of memory the kernel mapped for the program at a (a
// device's registers, DMA memory, a socket's rings): never the Go heap, so the
// collector neither moves nor frees it.
func Mapped(a uintptr, n int) []byte { return unsafe.Slice((*byte)(ptr(a)), n) }
