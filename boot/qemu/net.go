package qemu

import (
	"fmt"
	"strconv"
	"strings"
)

// Networks for Config.Net.
const (
	// NetUser is QEMU's user-mode network (slirp): the guest is 10.0.2.15 by
	// DHCP, the host is 10.0.2.2, DNS is 10.0.2.3, and the guest reaches
	// whatever the host reaches, as a process of the runner's would. Host
	// ports reach the guest only through Config.Forward.
	NetUser = "user"
	// NetNone gives the guest no network device.
	NetNone = "none"
	// NetTapPrefix + IFNAME attaches the guest to an existing tap device
	// (set up by the caller, with permission to open it).
	NetTapPrefix = "tap:"
)

// Forward is a host port forwarded to a guest port under NetUser. The host side
// is bound to 127.0.0.1 only: a VM a developer runs is not reachable from
// other machines by accident.
type Forward struct {
	Proto     string // "tcp" or "udp"
	HostPort  int
	GuestPort int
}

// ParseForward reads PROTO:HOSTPORT:GUESTPORT (PROTO tcp or udp, tcp when
// left out as in HOSTPORT:GUESTPORT).
func ParseForward(s string) (Forward, error) {
	parts := strings.Split(s, ":")
	if len(parts) == 2 {
		parts = append([]string{"tcp"}, parts...)
	}
	if len(parts) != 3 || (parts[0] != "tcp" && parts[0] != "udp") {
		return Forward{}, fmt.Errorf("forward %q: want [tcp|udp:]HOSTPORT:GUESTPORT", s)
	}
	h, err1 := strconv.Atoi(parts[1])
	g, err2 := strconv.Atoi(parts[2])
	if err1 != nil || err2 != nil || h < 0 || h > 65535 || g < 1 || g > 65535 {
		return Forward{}, fmt.Errorf("forward %q: ports are 1 to 65535 (host port 0: any free one)", s)
	}
	return Forward{Proto: parts[0], HostPort: h, GuestPort: g}, nil
}

func (f Forward) String() string { return fmt.Sprintf("%s:%d:%d", f.Proto, f.HostPort, f.GuestPort) }

// netArgs is the QEMU network device for c: a virtio-net device (on the
// microvm's virtio-mmio bus, or a PCI function on q35 and pc), backed by the
// network c.Net names.
func (c Config) netArgs() ([]string, error) {
	var backend string
	switch {
	case c.Net == "" || c.Net == NetUser:
		var b strings.Builder
		b.WriteString("user,id=net0")
		for _, f := range c.Forward {
			if f.Proto != "tcp" && f.Proto != "udp" {
				return nil, fmt.Errorf("forward %v: protocol must be tcp or udp", f)
			}
			fmt.Fprintf(&b, ",hostfwd=%s:127.0.0.1:%d-:%d", f.Proto, f.HostPort, f.GuestPort)
		}
		backend = b.String()
	case c.Net == NetNone:
		if len(c.Forward) > 0 {
			return nil, fmt.Errorf("port forwards need a network; -net is none")
		}
		return nil, nil
	case strings.HasPrefix(c.Net, NetTapPrefix):
		ifname := strings.TrimPrefix(c.Net, NetTapPrefix)
		if ifname == "" || strings.ContainsAny(ifname, ", ") {
			return nil, fmt.Errorf("-net %q: want tap:IFNAME", c.Net)
		}
		if len(c.Forward) > 0 {
			return nil, fmt.Errorf("port forwards are for the user network; with a tap device, reach the guest's address directly")
		}
		backend = "tap,id=net0,ifname=" + ifname + ",script=no,downscript=no"
	default:
		return nil, fmt.Errorf("-net %q: want user, none or tap:IFNAME", c.Net)
	}
	return []string{"-netdev", backend, "-device", c.virtioDevice("net") + ",netdev=net0"}, nil
}
