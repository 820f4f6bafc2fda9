// Command fakeapp is the least an ELF needs for boot/image to make it bootable: a
// pvh.Marker in read-only data pointing at an entry that starts with
// pvh.EntrySignature (entry_amd64.s). unigo-run's tests hand it to the real
// image step and then to a fake QEMU; nothing ever runs it.
package main

// entry is the fake 32-bit PVH entry.
func entry()

// marker returns the address of the marker, which keeps it linked in.
func marker() uintptr

func main() {
	println(marker())
	entry()
}
