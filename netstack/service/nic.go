package service

import (
	"context"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"sync"
	"syscall"
	"unsafe"

	"github.com/unigo-dev/unigo/drivers/hw"
	"github.com/unigo-dev/unigo/drivers/virtio"
	"github.com/unigo-dev/unigo/drivers/virtionet"
	"github.com/unigo-dev/unigo/drivers/virtiorng"
	"github.com/unigo-dev/unigo/netstack"
	"github.com/unigo-dev/unigo/netstack/link"
	"github.com/unigo-dev/unigo/netstack/netcall"
)

// virtio device types.
const (
	virtioNet     = 1
	virtioEntropy = 4
)

// bringUp finds the network device, attaches it to the stack and gives it an
// address: the static one from the command line, or DHCP's. Without a device
// the program has the loopback interface only.
// up is closed once the device has an address, or there is no device.
func (s *Service) bringUp(c config, up chan struct{}) {
	var once sync.Once
	done := func() { once.Do(func() { close(up) }) }
	defer func() {
		if !s.hasNIC {
			done() // no device: nothing to wait for
		}
	}()
	var dma hw.DMA
	for _, d := range hw.Devices() {
		t, err := transport(d)
		if err != nil {
			warn(err)
			continue
		}
		if t == nil {
			continue
		}
		if t.DeviceType() == virtioEntropy {
			mixEntropy(t, &dma, d)
			continue
		}
		if t.DeviceType() != virtioNet || s.hasNIC {
			continue
		}
		ep, err := link.Open(virtionet.Config{Transport: t, Alloc: &dma, Interrupt: hw.NewIRQ(d)})
		if err != nil {
			warn(fmt.Errorf("virtio-net: %w", err))
			continue
		}
		if err := s.st.AddNIC(ep, ep.Device().MAC()); err != nil {
			warn(err)
			return
		}
		s.hasNIC = true
		// The program's exit waits for the device to take the frames sent
		// before it (netcall.SysQueueWatch).
		avail, used := ep.Device().TxIndexAddrs()
		if _, _, e := syscall.RawSyscall(netcall.SysQueueWatch, uintptr(avail), uintptr(used), 0); e != 0 {
			warn(fmt.Errorf("virtio-net: watching the transmit queue: %w", e))
		}
		if c.fuzz > 0 {
			fuzz(ep, c.fuzz)
		}
		s.configure(c, done)
		// One network device; go on for an entropy device.
	}
}

// transport opens d's virtio transport: virtio-mmio registers, or a virtio
// PCI function (modern virtio-pci). nil, nil for a device that is not virtio
// or has no device behind it.
func transport(d hw.Device) (virtio.Transport, error) {
	switch d.Kind {
	case netcall.DeviceVirtioMMIO:
		regs, err := hw.Map(d)
		if err != nil {
			return nil, err
		}
		t, err := virtio.NewMMIO(regs)
		if err != nil || t == nil {
			return nil, nil // an empty slot: microvm lists more than it fills
		}
		return t, nil
	case netcall.DevicePCI:
		f, err := hw.OpenPCI(d)
		if err != nil {
			return nil, err
		}
		t, err := virtio.NewPCI(f)
		if err != nil {
			return nil, fmt.Errorf("PCI %02x:%02x.%d: %w", d.PCI.Bus, d.PCI.Dev, d.PCI.Fn, err)
		}
		return t, nil
	}
	return nil, nil
}

// mixEntropy reads 64 bytes from a virtio-rng device and gives them to the
// kernel's pool (SysEntropy): mixed into getrandom's output with the CPU's.
func mixEntropy(t virtio.Transport, dma *hw.DMA, d hw.Device) {
	rng, err := virtiorng.Open(t, dma, hw.NewIRQ(d))
	if err != nil {
		warn(fmt.Errorf("virtio-rng: %w", err))
		return
	}
	var b [64]byte
	n, err := rng.Read(b[:])
	if err != nil || n == 0 {
		warn(fmt.Errorf("virtio-rng: read %d bytes: %v", n, err))
		return
	}
	syscall.RawSyscall(netcall.SysEntropy, uintptr(unsafe.Pointer(&b[0])), uintptr(n), 0)
}

// configure gives the device its address.
func (s *Service) configure(c config, done func()) {
	if !c.dhcp {
		if err := s.st.ConfigureStatic(c.addr, c.gw, c.dns); err != nil {
			warn(fmt.Errorf("unigo.net.ip=%v: %w", c.addr, err))
			return
		}
		setResolv(c.dns)
		done()
		return
	}
	err := s.st.StartDHCP(context.Background(), func(l netstack.Lease) {
		dns := l.DNS
		if len(c.dns) > 0 {
			dns = c.dns // the command line's DNS servers win over DHCP's
		}
		setResolv(dns)
		done()
	})
	if err != nil {
		warn(fmt.Errorf("DHCP: %w", err))
	}
}

func warn(err error) { fmt.Fprintln(os.Stderr, "unigo: network:", err) }

// fuzz injects n random, mostly malformed frames into the stack through the
// device's receive path (unigo.net.fuzz=N): Ethernet headers with the IPv4,
// IPv6 and ARP types and random bodies, truncations, and random virtio-net
// headers. The stack must drop them and go on serving.
func fuzz(ep *link.Endpoint, n int) {
	r := mrand.New(mrand.NewPCG(uint64(n), 0x756e69676f))
	types := []uint16{0x0800, 0x86DD, 0x0806, uint16(r.Uint32())}
	frame := make([]byte, 2048)
	for i := 0; i < n; i++ {
		size := r.IntN(len(frame))
		f := frame[:size]
		for j := range f {
			f[j] = byte(r.Uint32())
		}
		if size >= 14 {
			copy(f[0:6], ep.LinkAddress()) // addressed to us
			t := types[r.IntN(len(types))]
			f[12], f[13] = byte(t>>8), byte(t)
			if size >= 34 && t == 0x0800 {
				f[14] = 0x45 // mostly well-formed IPv4 version/length, the rest random
			}
		}
		var h virtionet.NetHdr
		if r.IntN(4) == 0 {
			h = virtionet.NetHdr{Flags: uint8(r.Uint32()), GSOType: uint8(r.Uint32()), HdrLen: uint16(r.Uint32()),
				GSOSize: uint16(r.Uint32()), CsumStart: uint16(r.Uint32()), CsumOffset: uint16(r.Uint32())}
		}
		ep.Inject(h, f)
	}
	fmt.Fprintf(os.Stderr, "unigo: network: injected %d random frames\n", n)
}
