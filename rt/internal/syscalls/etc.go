package syscalls

import (
	"github.com/unigo-dev/unigo/rt/internal/kmem"
	"github.com/unigo-dev/unigo/rt/internal/linux"
)

// The files Go's net package reads, served from memory: /etc/resolv.conf,
// which the network service sets from DHCP or the kernel command line
// (SysNetResolv), fixed /etc/hosts and /etc/nsswitch.conf for the resolver, and
// /proc/sys/net/core/somaxconn, the listen backlog net.Listen asks for (Linux's
// default since 5.4, 4096; without the file Go asks for 128, and a burst of
// connections beyond that waits on TCP's retransmission backoff). They are
// read-only; their modification time is when resolv.conf last changed, so the
// resolver's periodic stat notices a new lease.

const (
	etcResolv = iota
	etcHosts
	etcNsswitch
	etcSomaxconn
)

const (
	hostsContent     = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\tunigo\n"
	nsswitchContent  = "hosts: files dns\n"
	somaxconnContent = "4096\n"
)

func etcFile(p []byte) (uint64, bool) {
	switch {
	case equal(p, "/etc/resolv.conf"):
		return etcResolv, true
	case equal(p, "/etc/hosts"):
		return etcHosts, true
	case equal(p, "/etc/nsswitch.conf"):
		return etcNsswitch, true
	case equal(p, "/proc/sys/net/core/somaxconn"):
		return etcSomaxconn, true
	}
	return 0, false
}

// etcContent is file i's bytes.
func (s *System) etcContent(i uint64) []byte {
	switch i {
	case etcResolv:
		return s.net.resolv[:s.net.resolvN]
	case etcHosts:
		return kmem.StringBytes(hostsContent)
	case etcSomaxconn:
		return kmem.StringBytes(somaxconnContent)
	}
	return kmem.StringBytes(nsswitchContent)
}

// memRead reads a memory file from its position.
func (s *System) memRead(f *file, buf, count uint64) uint64 {
	c := s.etcContent(f.val)
	if f.off >= uint64(len(c)) || count == 0 {
		return 0
	}
	n := min(count, uint64(len(c))-f.off)
	if e := s.copyOut(buf, kmem.Addr(&c[f.off]), n); e != 0 {
		return neg(e)
	}
	f.off += n
	return n
}

// setResolv is SysNetResolv(buf, n).
func (s *System) setResolv(buf, n uint64) uint64 {
	if n > uint64(len(s.net.resolv)) {
		return neg(linux.EINVAL)
	}
	if n > 0 {
		if e := s.copyIn(kmem.Addr(&s.net.resolv[0]), buf, n); e != 0 {
			return neg(e)
		}
	}
	s.net.resolvN = int(n)
	s.net.resolvTime = s.Clock.Realtime()
	return 0
}
