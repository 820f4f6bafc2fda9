// Package virtio is the virtio 1.x core that unigo's virtio device drivers
// (network, block, entropy, console) are built on.
//
// What it owns: split virtqueues in DMA memory (descriptor table, available
// and used rings, the free-descriptor list, indirect descriptor tables and
// event-index notification suppression), the device initialization sequence
// (reset, status bits, 64-bit feature negotiation with VERSION_1 required,
// FEATURES_OK check), and the two transports unigo's hypervisors offer:
// virtio-mmio version 2 and modern virtio-pci. Legacy (pre-1.0) devices are
// refused with ErrLegacyDevice: QEMU, Firecracker and Cloud Hypervisor all
// offer modern devices.
//
// Context: ordinary goroutines in ring 3 (ARCHITECTURE.md decision 6), never
// kernel context. Code here may allocate, block and take mutexes while a
// device is set up; the data path (Queue.Add, Queue.Kick, Queue.Pop,
// Queue.EnableInterrupts) does not allocate.
//
// What it may call: nothing of the kernel directly. Everything it needs from
// the machine comes through three small interfaces the kernel (or a host
// test) supplies: Registers (a device's register window, MMIO or port I/O),
// DMA (physically contiguous memory with a known guest-physical address; an
// Allocator hands it out) and Interrupt (block until the device's interrupt
// fires). PCIFunction adds a PCI function's configuration space and BAR
// windows for the PCI transport. The subpackage virtiosim implements all of
// them with a simulated device for host tests.
//
// # Memory ordering
//
// The driver and the device share ring memory and run on different CPUs (the
// device is a hypervisor thread). Ring fields that cross that boundary (the
// indices, flags and event words, and the used-ring entries) are accessed
// with sync/atomic 32-bit loads and stores through unsafe pointers into the
// DMA slice; descriptors and available-ring slots are written with plain
// stores and published by the atomic store of the available index.
//
// Go's atomics are sequentially consistent. On x86-64 an atomic load is a
// plain MOV and an atomic store is an XCHG, which is a full barrier. x86-64's
// own model (TSO) already keeps stores in order with stores and loads in order
// with loads, and DMA is cache coherent, so the only reorderings the virtio
// rules forbid that the hardware could do are a later load passing an earlier
// store: "publish the available index, then read the device's avail_event or
// NO_NOTIFY flag" and "write used_event, then re-read the used index". Both
// stores are XCHGs, so both are covered. The atomics also stop the compiler
// from reordering or caching ring accesses, which plain Go stores would not.
// Go has no 16-bit atomics, so each 16-bit ring field is accessed through the
// naturally aligned 32-bit word that holds it; the layout puts the other half
// of each such word in memory this side owns or in padding this package
// reserves (see QueueLayout).
//
// A device is untrusted input: a used-ring entry whose id is out of range or
// not in flight, or whose length exceeds the buffer's writable capacity, is
// reported as an error by Queue.Pop and never indexes out of bounds.
package virtio
