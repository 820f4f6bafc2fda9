package mm

import (
	"unsafe"

	"github.com/unigo-dev/unigo/rt/internal/kmem"
)

func unsafeVMAs(addr uintptr, n int) []VMA {
	return unsafe.Slice((*VMA)(kmem.Pointer(addr)), n)
}
