package main

import (
	"fmt"
	"os"
	"unsafe"
)

//go:noinline
func victim() int { return 42 }

// protect makes an access that memory protection must stop. Each of them ends
// the process with SIGSEGV: on Linux, Go turns it into a fatal error; on unigo,
// until signals are delivered, the kernel ends the process with a report.
func protect(kind string) {
	fmt.Println("probe protect", kind)
	switch kind {
	case "writetext":
		f := victim
		code := **(**unsafe.Pointer)(unsafe.Pointer(&f))
		*(*byte)(code) = 0xC3 // text is read-only
	case "execdata":
		code := []byte{0xC3} // RET, in a heap page: data is not executable
		fv := &struct{ pc unsafe.Pointer }{unsafe.Pointer(&code[0])}
		f := *(*func())(unsafe.Pointer(&fv))
		f()
	case "nil":
		var p *int
		fmt.Println(*p) // page 0 is never mapped
	case "kernel":
		addr := uintptr(0xFFFF888000000000) // unigo's direct map
		p := *(**uint64)(unsafe.Pointer(&addr))
		fmt.Println(*p)
	}
	fmt.Println("probe protect: nothing stopped it")
	os.Exit(1)
}
