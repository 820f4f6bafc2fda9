// Command floor is the boot-time floor: a PVH kernel that exits at once. Its
// 32-bit entry writes 1 (exit status 0) to QEMU's isa-debug-exit port. It carries
// the same marker as unigo's kernel so that boot/image makes it bootable, and is
// linked by the same Go linker, so it differs from a unigo program only in what
// runs after the entry.
package main

func entry()
func marker() uintptr

func main() {
	println(marker(), entry)
}
