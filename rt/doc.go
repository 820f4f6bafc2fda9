// Package rt turns a Go program into a unigo unikernel.
//
// Import it for its side effect from the main package:
//
//	import _ "github.com/unigo-dev/unigo/rt"
//
// and build with the stock toolchain: CGO_ENABLED=0 go build -tags unikernel.
// The result is one static ELF holding the program, the unmodified Go runtime and
// the unigo kernel; boot/'s image tool makes it bootable under QEMU, Firecracker or
// Cloud Hypervisor (PVH).
//
// Without the unikernel build tag this package is empty and importing it changes
// nothing: the same program runs as an ordinary Linux process.
package rt
