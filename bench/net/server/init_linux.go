//go:build linux && !unikernel

package main

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

// modules are the kernel modules a Linux guest needs for virtio-net, in
// dependency order (each after those its .modinfo "depends=" names). The
// initramfs holds them in /lib/modules; missing ones are skipped, so the same
// list serves virtio-pci (q35) and virtio-mmio (microvm).
// sysFinitModule is finit_module(2) on amd64; the syscall package predates it.
const sysFinitModule = 313

var modules = []string{
	"virtio_ring", "virtio",
	"virtio_pci_modern_dev", "virtio_pci_legacy_dev", "virtio_pci",
	"virtio_mmio",
	"failover", "net_failover", "virtio_net",
}

// setupLinuxInit does, when this program is a Linux guest's /init (process
// 1), what an init system would: mounts /proc and /dev, loads the virtio
// modules with finit_module, and gives the first Ethernet interface the
// static address NB_IP (CIDR, default 10.0.9.2/24) with a default route via
// NB_GW (default 10.0.9.1). The kernel passes unrecognised NAME=VALUE
// parameters of its command line to init as environment variables, so
// "-append 'NB_IP=... NB_GW=...'" sets them; the other leftovers become
// arguments, which are dropped.
func setupLinuxInit() error {
	if os.Getpid() != 1 {
		return nil
	}
	os.Args = os.Args[:1]
	os.MkdirAll("/proc", 0o555)
	os.MkdirAll("/dev", 0o755)
	syscall.Mount("proc", "/proc", "proc", 0, "")
	syscall.Mount("devtmpfs", "/dev", "devtmpfs", 0, "")

	params := moduleParams()
	for _, m := range modules {
		if err := loadModule(filepath.Join("/lib/modules", m+".ko"), params[m]); err != nil {
			return err
		}
	}

	ip := envOr("NB_IP", "10.0.9.2/24")
	gw := envOr("NB_GW", "10.0.9.1")
	prefix, err := netip.ParsePrefix(ip)
	if err != nil {
		return fmt.Errorf("NB_IP: %v", err)
	}
	gwAddr, err := netip.ParseAddr(gw)
	if err != nil {
		return fmt.Errorf("NB_GW: %v", err)
	}
	ifname, err := waitEthernet(10 * time.Second)
	if err != nil {
		return err
	}
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer syscall.Close(fd)
	if err := ifUp(fd, "lo"); err != nil {
		return err
	}
	mask := netip.AddrFrom4([4]byte(net.CIDRMask(prefix.Bits(), 32)))
	if err := ifAddr(fd, ifname, syscall.SIOCSIFADDR, prefix.Addr()); err != nil {
		return err
	}
	if err := ifAddr(fd, ifname, syscall.SIOCSIFNETMASK, mask); err != nil {
		return err
	}
	if err := ifUp(fd, ifname); err != nil {
		return err
	}
	if err := defaultRoute(fd, gwAddr); err != nil {
		return err
	}
	fmt.Printf("server: init: %s is %v, gateway %v\n", ifname, prefix, gwAddr)
	return nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// moduleParams collects MODULE.PARAM=VALUE settings from /proc/cmdline, as
// modprobe does (the kernel applies them only to built-in modules itself); a
// microvm's QEMU puts virtio_mmio.device=... there.
func moduleParams() map[string]string {
	b, _ := os.ReadFile("/proc/cmdline")
	p := map[string]string{}
	for _, f := range strings.Fields(string(b)) {
		mod, param, ok := strings.Cut(f, ".")
		if !ok || strings.Contains(mod, "=") {
			continue
		}
		mod = strings.ReplaceAll(mod, "-", "_")
		p[mod] = strings.TrimSpace(p[mod] + " " + param)
	}
	return p
}

func loadModule(path, params string) error {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	p, err := syscall.BytePtrFromString(params)
	if err != nil {
		return err
	}
	_, _, e := syscall.Syscall(sysFinitModule, f.Fd(), uintptr(unsafe.Pointer(p)), 0)
	if e != 0 && e != syscall.EEXIST {
		return fmt.Errorf("finit_module %s: %v", path, e)
	}
	return nil
}

// waitEthernet returns the name of the first interface other than lo, once
// the driver has registered it.
func waitEthernet(limit time.Duration) (string, error) {
	deadline := time.Now().Add(limit)
	for {
		ifs, err := net.Interfaces()
		if err == nil {
			for _, i := range ifs {
				if i.Flags&net.FlagLoopback == 0 && len(i.HardwareAddr) == 6 {
					return i.Name, nil
				}
			}
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("no Ethernet interface after %v (interfaces %v, error %v)", limit, ifs, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ifreq is struct ifreq: the name, then a union (a sockaddr, or the flags).
type ifreq struct {
	name  [16]byte
	union [24]byte
}

func newIfreq(name string) *ifreq {
	var r ifreq
	copy(r.name[:15], name)
	return &r
}

func ioctl(fd int, req uintptr, arg unsafe.Pointer) error {
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), req, uintptr(arg)); e != 0 {
		return e
	}
	return nil
}

// sockaddrIn writes a struct sockaddr_in for a into b.
func sockaddrIn(b []byte, a netip.Addr) {
	clear(b[:16])
	binary.NativeEndian.PutUint16(b[0:], syscall.AF_INET)
	a4 := a.As4()
	copy(b[4:8], a4[:])
}

func ifAddr(fd int, name string, req uintptr, a netip.Addr) error {
	r := newIfreq(name)
	sockaddrIn(r.union[:], a)
	if err := ioctl(fd, req, unsafe.Pointer(r)); err != nil {
		return fmt.Errorf("ioctl %#x %s %v: %v", req, name, a, err)
	}
	return nil
}

func ifUp(fd int, name string) error {
	r := newIfreq(name)
	if err := ioctl(fd, syscall.SIOCGIFFLAGS, unsafe.Pointer(r)); err != nil {
		return fmt.Errorf("SIOCGIFFLAGS %s: %v", name, err)
	}
	flags := binary.NativeEndian.Uint16(r.union[:]) | syscall.IFF_UP | syscall.IFF_RUNNING
	binary.NativeEndian.PutUint16(r.union[:], flags)
	if err := ioctl(fd, syscall.SIOCSIFFLAGS, unsafe.Pointer(r)); err != nil {
		return fmt.Errorf("SIOCSIFFLAGS %s: %v", name, err)
	}
	return nil
}

// rtentry is struct rtentry on amd64 (120 bytes).
type rtentry struct {
	pad1    uint64
	dst     [16]byte
	gateway [16]byte
	genmask [16]byte
	flags   uint16
	pad2    int16
	_       [4]byte
	pad3    uint64
	pad4    uintptr
	metric  int16
	_       [6]byte
	dev     uintptr
	mtu     uint64
	window  uint64
	irtt    uint16
	_       [6]byte
}

// The size must be exactly 120.
var (
	_ [120 - unsafe.Sizeof(rtentry{})]byte
	_ [unsafe.Sizeof(rtentry{}) - 120]byte
)

func defaultRoute(fd int, gw netip.Addr) error {
	var rt rtentry
	zero := netip.AddrFrom4([4]byte{})
	sockaddrIn(rt.dst[:], zero)
	sockaddrIn(rt.genmask[:], zero)
	sockaddrIn(rt.gateway[:], gw)
	rt.flags = syscall.RTF_UP | syscall.RTF_GATEWAY
	if err := ioctl(fd, syscall.SIOCADDRT, unsafe.Pointer(&rt)); err != nil {
		return fmt.Errorf("SIOCADDRT default via %v: %v", gw, err)
	}
	return nil
}
