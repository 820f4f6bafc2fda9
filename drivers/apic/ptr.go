package apic

import "unsafe"

// ptr turns the kernel address of device registers into a pointer (see
// rt/internal/kmem.Pointer for why it goes through memory).
func ptr(a uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&a)) }
