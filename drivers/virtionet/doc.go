// Package virtionet is unigo's virtio-net driver (virtio 1.2 §5.1): one
// receive and one transmit queue of a network device, reached through the
// transports of package virtio (virtio-mmio or modern virtio-pci).
//
// What it owns: feature negotiation for the device (VERSION_1 plus, where
// offered, MAC, MTU, STATUS, MRG_RXBUF, CSUM, GUEST_CSUM, HOST_TSO4/6,
// GUEST_TSO4/6, EVENT_IDX and INDIRECT_DESC; see Open), the device
// configuration (MAC address, MTU, link status), the receive buffers and
// their recycling, collecting the mergeable buffers of one frame, the
// transmit buffer pool and the virtio_net_hdr in both directions. It does not
// own any protocol above Ethernet: received frames go to a callback, in the
// pieces of DMA buffer they arrived in (the callback makes the one copy),
// frames to send come in through Send; netstack/link adapts both to gVisor's
// netstack.
//
// Context: ordinary goroutines in ring 3 (ARCHITECTURE.md decision 6), never
// kernel context. Run is the device's service goroutine: it blocks in
// virtio.Interrupt.Wait, acknowledges the interrupt, drains the used rings
// and re-arms notifications. Before it blocks again it yields, when what it
// delivered asked for that (Config.Receive's urgent), so the goroutines the
// frames woke run at once rather than wait behind a P the blocked driver
// still holds. Send may be called from any goroutine. Code here
// allocates only while opening the device and when a sender has to wait for
// ring space; the receive and transmit paths reuse DMA buffers.
//
// What it may call: package virtio (queues, negotiation, configuration
// reads) and, through it, the three things the kernel supplies for a device:
// its register window (virtio.Registers behind a virtio.Transport), DMA
// memory with known guest-physical addresses (virtio.Allocator) and a way to
// wait for its interrupt (virtio.Interrupt). Nothing else of the kernel.
//
// The device is the hypervisor, which the guest trusts with its memory
// anyway, but a buggy device must not crash the program: used lengths,
// num_buffers and header fields are checked, and a malformed packet is
// dropped and counted (Stats.RxErrors), never indexed out of bounds.
package virtionet
