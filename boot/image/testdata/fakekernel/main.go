// Command fakekernel stands in for a program linked with unigo's rt while rt
// does not exist: its assembly provides a PVH entry that starts with
// pvh.EntrySignature and a pvh.Marker in read-only data pointing at it.
// It is only ever patched by the image tool's tests, never run as a kernel.
package main

import "fmt"

// pvhEntry is the fake 32-bit entry (entry_amd64.s).
func pvhEntry()

// markerAddr returns the address of the fake pvh.Marker (entry_amd64.s).
func markerAddr() uintptr

// entry keeps pvhEntry reachable, as rt's reference would.
var entry = pvhEntry

func main() {
	if entry == nil {
		return
	}
	fmt.Printf("marker at %#x\n", markerAddr())
}
