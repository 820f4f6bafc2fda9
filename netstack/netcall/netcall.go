// Package netcall is the contract between unigo's kernel and the network
// service: the private system calls through which the kernel hands the
// program's socket calls to the goroutines that run the network stack, and
// through which drivers reach their devices. Both sides import it; it holds only
// numbers and record layouts.
//
// Context: none of its own (constants and types). The kernel side is
// rt/internal/syscalls (kernel context); the service side is package netstack
// (goroutines).
//
// # Socket calls
//
// A socket system call the program makes becomes a Request, queued in the
// kernel; the calling thread blocks. The service takes requests with
// SysNetTake, which copies the Request and the call's input (the bytes to send,
// a socket address, an option value) into the service's buffer, and answers
// each with SysNetReply: the result (a value or -errno) and the call's output
// (received bytes, an address, an option value), which the kernel copies into
// the caller's memory before waking it. The service may answer later (a
// blocking call); if the caller is interrupted first (a signal: EINTR), the
// kernel queues a Cancel record with the request's ID, and drops the late
// answer. The service never reads or writes the caller's memory itself: the
// kernel's copies survive bad pointers (EFAULT).
//
// Readiness (the epoll events of each socket) is the service's to report:
// SysNetReady sets a socket's current events, which epoll reads, and wakes
// whoever waits on them.
//
// # Rings
//
// A connected stream socket's data does not go through requests: the service
// asks for the socket's rings (SysNetRing), memory the kernel allocates and
// maps for it, and from then on the kernel serves read, write and their
// relatives itself, copying between the caller's buffers and the rings with
// no thread switch. Layout: a RingHeader page, then the receive ring, then the
// send ring, RingHeader.Size bytes each. Each ring has one producer and one
// consumer and free-running 32-bit indices (an index's byte is at index mod
// Size):
// the service produces into the receive ring from the stack and consumes the
// send ring into it; the kernel does the opposite for the program.
//
// Neither side waits on the other's ring. Each announces that it wants to
// hear of the other's next move with a flag in the header, sets it, and then
// looks at the ring again (both sides use locked or fenced stores for flags
// and indices, so one of the two always sees the other's move):
//   - RxWant, TxWant (the service's): the receive ring was full or the send
//     ring empty; the kernel pokes the service (OpRingPoke) when it consumes
//     or produces.
//   - RxBlocked, TxBlocked (the kernel's): the program found the receive ring
//     empty or the send ring full; the service reports the socket's readiness
//     (SysNetReady: an edge for epoll, and a wake-up for a blocking caller)
//     when it produces or consumes.
//
// End of file and errors travel in the header (RxEOF, RxErr, TxErr). The
// kernel derives EPOLLIN, EPOLLOUT and EPOLLRDHUP from the rings; the other
// events stay the service's reports.
//
// # Accept queues
//
// A listening TCP socket's connections are accepted by the service as they
// come, ahead of the program: each gets a socket id (SysNetAcceptReserve), its
// addresses and its rings, and then joins the listener's queue in the kernel
// (SysNetAcceptPush), which serves accept and accept4 from it, and EPOLLIN on
// the listener while it is not empty.
package netcall

// Private system call numbers (a range Linux does not use).
const (
	// SysDevice(index, *Device) describes device index: 0, or -ENODEV past
	// the last.
	SysDevice = 0x1010
	// SysDeviceMap(index, which) maps device registers (uncached,
	// read-write) and returns their address; the same address every time.
	// which is 0 for a virtio-mmio device's registers, and n for BAR n
	// (0 to 5) of a PCI function; a BAR that is absent, unassigned, the
	// upper half of a 64-bit BAR or an I/O port range is EINVAL.
	SysDeviceMap = 0x1011
	// SysDMAAlloc(size, *phys) allocates physically contiguous, zeroed,
	// pinned memory, maps it read-write, stores its physical address at
	// *phys and returns its address. It is never freed.
	SysDMAAlloc = 0x1012
	// SysIRQWait(index, seen) returns the device's interrupt count as soon
	// as it differs from seen, blocking until then; 0 when woken by an
	// interrupt (call again for the count) and -EINTR for a signal.
	SysIRQWait = 0x1013
	// SysEntropy(buf, len) mixes up to 64 bytes from an entropy device
	// (virtio-rng) into the kernel's pool, which getrandom draws on.
	SysEntropy = 0x1014
	// SysPCIConfig(index, buf, len) copies the first len bytes (at most the
	// function's configuration space: 4096 bytes through ECAM, 256 through
	// port I/O) of PCI function index's configuration space, read now, into
	// buf and returns how many it copied; EINVAL for a device that is not a
	// PCI function.
	SysPCIConfig = 0x1015
	// SysQueueWatch(avail, used) names, by guest-physical address in
	// memory from SysDMAAlloc (2-byte aligned), the 16-bit available and
	// used indices of a device queue the driver fills and the device
	// empties: a network device's transmit queue. exit_group waits (up to
	// its bound, as for the socket rings) until every watched queue's used
	// index has caught up with its available one, so the frames the
	// program sent before it exited leave the machine: the hypervisor
	// takes them from the queue after the notification, and ends at once
	// with the guest. EINVAL: an address outside DMA memory; ENOSPC: the
	// table is full.
	SysQueueWatch = 0x1016
	// SysNetTake(buf, len, flags) blocks until there is a request (or
	// cancel), copies it with its input data into buf and returns the bytes
	// written. With flags TakeNoWait it says EAGAIN instead of blocking.
	SysNetTake = 0x1020
	// SysNetReply(id, result, data, dataLen, addr, addrLen) answers request
	// id: result, and output data and a socket address for the caller.
	SysNetReply = 0x1021
	// SysNetReady(buf, n) takes n Ready records: each socket's events now.
	SysNetReady = 0x1022
	// SysNetConfig(buf, len) copies the kernel command line's network
	// parameters (unigo.net.*=VALUE, one per line) and returns their length.
	SysNetConfig = 0x1023
	// SysNetResolv(buf, len) sets /etc/resolv.conf (at most 1 KiB).
	SysNetResolv = 0x1024
	// SysNetNames(sock, local, localLen, peer, peerLen) sets the socket's
	// addresses, which the kernel answers getsockname and getpeername from
	// (peerLen 0: not connected).
	SysNetNames = 0x1025
	// SysNetStart() says the service runs: 1 when the program makes socket
	// calls at all (it has Go's net.sysSocket; the linker drops it from a
	// program that never opens a socket), 0 when the service should not
	// start. Before it says 1, socket() fails with EAFNOSUPPORT. A service
	// that waits for requests keeps the Go runtime from ever seeing a
	// deadlock ("all goroutines are asleep"), as any network waiter does on
	// Linux: a program without sockets keeps that report.
	SysNetStart = 0x1026
	// SysNetRing(sock, *slot) gives the connected stream socket sock its
	// rings (see Rings): it stores the rings' slot at *slot and returns
	// their address. From then on the kernel serves the socket's reads and
	// writes from the rings. EBUSY: a read or write on the socket is in
	// flight (try again later); ENOMEM: no ring memory (the socket stays
	// forwarded); EEXIST: it has rings.
	SysNetRing = 0x1027
	// SysNetRingFree(slot) gives back the rings of a socket the program
	// closed (OpClose), once the service has sent what they held: the
	// kernel reuses them for another socket. EBUSY while the socket is open.
	SysNetRingFree = 0x1028
	// SysNetAcceptQueue(listener) says the service accepts the listening
	// socket's connections ahead of the program (see Accept queues): from
	// then on the kernel serves the program's accept calls on it from its
	// queue, and never forwards them.
	SysNetAcceptQueue = 0x1029
	// SysNetAcceptReserve(listener) reserves a socket id for a connection
	// the service accepted on listener, for it to set up (names, rings)
	// before SysNetAcceptPush.
	SysNetAcceptReserve = 0x102A
	// SysNetAcceptPush(listener, sock) queues the reserved connection sock
	// for the program's accept. EAGAIN: the queue is full (try again
	// later); EBADF: the listener is closed, and the kernel has closed
	// sock (OpClose follows). A listener of NoListener gives sock back
	// that way on purpose.
	SysNetAcceptPush = 0x102B
	// NoListener is no socket id: SysNetAcceptPush(NoListener, sock)
	// closes a reserved sock whose listener the service knows is gone.
	NoListener = MaxSockets
)

// Device kinds.
const (
	DeviceVirtioMMIO = 1
	// DevicePCI is a PCI function (the kernel lists virtio ones, vendor
	// 0x1af4), with its memory and bus mastering enabled and every MSI-X
	// entry sending the device's one interrupt vector to the boot CPU.
	DevicePCI = 2
)

// Device is what SysDevice reports.
type Device struct {
	Kind uint32
	// IRQ is a virtio-mmio device's interrupt line (GSI); for a PCI
	// function, the vector its MSI-X messages carry.
	IRQ uint32
	// Phys and Size are a virtio-mmio device's registers; for a PCI
	// function, its configuration space (Phys 0: reached through port I/O).
	Phys uint64
	Size uint64
	PCI  PCIFunction // DevicePCI only
}

// DeviceSize is the size of Device in bytes.
const DeviceSize = 184

// PCIFunction describes a PCI function.
type PCIFunction struct {
	Bus, Dev, Fn uint8
	_            uint8
	Vendor       uint16
	DeviceID     uint16
	// Class is the class code, subclass and programming interface.
	Class uint32
	// MSIXEntries is how many MSI-X table entries the kernel programmed.
	MSIXEntries uint32
	BARs        [6]BAR
}

// BAR is one base address register as the firmware assigned it.
type BAR struct {
	Phys  uint64 // 0: not assigned
	Size  uint64 // 0: not implemented
	Flags uint32 // BARIO, BAR64, BARPrefetch, BARUpper
	_     uint32
}

// BAR flags (the same values as drivers/pci's).
const (
	BARIO       = 1 << 0
	BAR64       = 1 << 1
	BARPrefetch = 1 << 2
	BARUpper    = 1 << 3
)

// TakeNoWait is SysNetTake's flag for a take that does not block.
const TakeNoWait = 1

// Request is one socket call, as SysNetTake hands it over; its input data
// (DataLen bytes) and destination address (AddrLen bytes) follow it in the
// buffer.
type Request struct {
	ID   uint32 // answer with it
	Op   uint32 // the Linux system call number (OpCancel: the request ID was canceled)
	Sock int32  // the socket (-1 for socket())
	// Nonblock is the descriptor's O_NONBLOCK (or MSG_DONTWAIT): with it the
	// service must not wait.
	Nonblock uint32
	Args     [6]uint64 // the call's arguments, as the program passed them
	DataLen  uint32    // input bytes after the header
	AddrLen  uint32    // destination address bytes after the data
	// Want is how many output bytes the caller can take (read size, option
	// buffer); WantAddr the size of its address buffer.
	Want     uint32
	WantAddr uint32
}

// RequestSize is the size of Request in bytes.
const RequestSize = 80

// Ops that are not Linux system calls.
const (
	// OpSocket: the kernel made socket Sock for socket(Args[0], Args[1],
	// Args[2]) (already checked: AF_INET or AF_INET6, SOCK_STREAM or
	// SOCK_DGRAM) and gave it a descriptor. No answer. socket,
	// getsockname and getpeername are served by the kernel: the Go runtime
	// makes them without releasing its P (RawSyscall), so a program at
	// GOMAXPROCS=1 would leave the service no P to answer them with.
	OpSocket = 0x10003
	// OpCancel: the request whose ID is in Args[0] was interrupted; stop
	// waiting for it (its answer is dropped).
	OpCancel = 0x10000
	// OpSetNonblock: Args[0] is the new O_NONBLOCK state of the socket (fcntl
	// F_SETFL). No answer.
	OpSetNonblock = 0x10001
	// OpClose: the last descriptor of the socket was closed. No answer.
	OpClose = 0x10002
	// OpRingPoke: the kernel consumed from the receive ring or produced into
	// the send ring of slot Args[0] while the service asked to hear of it
	// (RingHeader.RxWant, TxWant). No answer.
	OpRingPoke = 0x10004
)

// Ready is one socket's readiness report for SysNetReady.
type Ready struct {
	Sock   int32
	Events uint32 // EPOLLIN, EPOLLOUT, EPOLLERR, EPOLLHUP, EPOLLRDHUP
}

// MaxData bounds a request's input data (a larger write is cut to it: a
// partial write, as Linux may do) and a reply's output.
const MaxData = 64 << 10

// Ring sizes, powers of two. Every time a ring fills or empties the program
// waits and the service's pump runs a round: with 64 KiB rings that was every
// frame, and bulk ran at half the rate it runs with 256 KiB, in both
// directions (docs/perf.md). Small rings let more sockets have rings in the
// same memory: the kernel gives a socket large ones while large ones take at
// most half of its ring memory, small ones after that.
const (
	RingSizeLarge = 256 << 10
	RingSizeSmall = 64 << 10
)

// RingHeaderSize is the size of the page before the rings.
const RingHeaderSize = 4096

// RingBytes is the size of a socket's two rings of size bytes each, with
// their header.
func RingBytes(size uint32) int { return RingHeaderSize + 2*int(size) }

// RingHeader is the shared state at the start of a socket's rings.
type RingHeader struct {
	RxHead uint32 // receive ring: consumed to here (the kernel's)
	RxTail uint32 // receive ring: produced to here (the service's)
	TxHead uint32 // send ring: consumed to here (the service's)
	TxTail uint32 // send ring: produced to here (the kernel's)
	// RxEOF (the service's): nothing comes after what the receive ring
	// holds. RxErr: the error (errno) a read gets once the ring is empty,
	// once; the kernel clears it.
	RxEOF uint32
	RxErr uint32
	// TxErr (the service's): the socket can send no more; writes fail with
	// this errno (EPIPE raises SIGPIPE).
	TxErr     uint32
	RxWant    uint32 // the service waits for room in the receive ring
	TxWant    uint32 // the service waits for data in the send ring
	RxBlocked uint32 // the program waits for data in the receive ring
	TxBlocked uint32 // the program waits for room in the send ring
	// Size (the kernel's, set before it hands the rings over): each ring's
	// size, RingSizeLarge or RingSizeSmall. The kernel goes by its own copy.
	Size uint32
}

// AcceptQueueMax bounds the connections queued on a listener.
const AcceptQueueMax = 128

// MaxSockets bounds the socket IDs (0 to MaxSockets-1), which the kernel
// chooses. It is the descriptor table's size.
const MaxSockets = 1024

// MayWait says whether a socket call (a Linux system call number) may wait for
// the network on a blocking socket: accept, connect, and the calls that move
// data. Both sides go by it: the service runs such a call on a goroutine of its
// own, and the kernel cancels and restarts it when a signal comes.
func MayWait(op uint32) bool {
	switch op {
	case 43, 288, 42, // accept, accept4, connect
		0, 19, 45, 47, // read, readv, recvfrom, recvmsg
		1, 20, 44, 46: // write, writev, sendto, sendmsg
		return true
	}
	return false
}
