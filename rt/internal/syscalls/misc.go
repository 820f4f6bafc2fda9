package syscalls

import (
	"github.com/unigo-dev/unigo/internal/x86"
	"github.com/unigo-dev/unigo/rt/internal/klog"
	"github.com/unigo-dev/unigo/rt/internal/kmem"
	"github.com/unigo-dev/unigo/rt/internal/linux"
	"github.com/unigo-dev/unigo/rt/internal/mm"
	"github.com/unigo-dev/unigo/rt/internal/sched"
)

func (s *System) mmap(addr, length, prot, flags, fd uint64) uint64 {
	if flags&linux.MAP_ANONYMOUS == 0 && int32(fd) >= 0 {
		if _, ok := s.fd(fd); !ok {
			return neg(linux.EBADF)
		}
	}
	a, e := s.Mem.Mmap(addr, length, uint32(prot), uint32(flags))
	if e == linux.ENOMEM && prot != linux.PROT_NONE {
		// Say why: the program will report only that it ran out.
		committed, resident := s.Mem.Stats()
		var l klog.Line
		l.S("unigo: mmap of ").U(length >> 10).S(" KiB refused: ").U(committed * mm.PageSize >> 20).S(" MiB committed (").
			U(resident * mm.PageSize >> 20).S(" MiB touched), ").D(s.Mem.Frames.Avail() * mm.PageSize >> 20).S(" MiB uncommitted of ").
			U(s.Mem.Frames.Total() * mm.PageSize >> 20).S(" MiB").Out()
	}
	return ret(a, e)
}

func fill(dst *[65]byte, v string) { copy(dst[:64], v) }

func (s *System) uname(buf uint64) uint64 {
	var u linux.Utsname
	fill(&u.Sysname, "Linux")
	fill(&u.Nodename, "unigo")
	fill(&u.Release, "6.1.0-unigo")
	fill(&u.Version, "#1 SMP unigo")
	fill(&u.Machine, "x86_64")
	fill(&u.Domainname, "(none)")
	return ret(0, s.copyOut(buf, kmem.Addr(&u), 65*6))
}

// clockNs reads one of Linux's clocks, in nanoseconds.
func (s *System) clockNs(t *sched.Thread, id uint64) (int64, linux.Errno) {
	switch id {
	case linux.CLOCK_REALTIME, linux.CLOCK_REALTIME_COARSE:
		return s.Clock.Realtime(), 0
	case linux.CLOCK_MONOTONIC, linux.CLOCK_MONOTONIC_RAW, linux.CLOCK_MONOTONIC_COARSE, linux.CLOCK_BOOTTIME:
		return s.Clock.Now(), 0
	case linux.CLOCK_PROCESS_CPUTIME_ID:
		return s.Sched.ProcessCPUTime(s.Clock.Now()), 0
	case linux.CLOCK_THREAD_CPUTIME_ID:
		return t.ThreadCPUTime(s.Clock.Now()), 0
	}
	return 0, linux.EINVAL
}

func (s *System) clockGettime(t *sched.Thread, id, buf uint64) uint64 {
	ns, e := s.clockNs(t, id)
	if e != 0 {
		return neg(e)
	}
	ts := linux.Timespec{Sec: ns / 1_000_000_000, Nsec: ns % 1_000_000_000}
	return ret(0, s.copyOut(buf, kmem.Addr(&ts), 16))
}

func (s *System) clockGetres(id, buf uint64) uint64 {
	switch id {
	case linux.CLOCK_REALTIME, linux.CLOCK_MONOTONIC, linux.CLOCK_PROCESS_CPUTIME_ID, linux.CLOCK_THREAD_CPUTIME_ID,
		linux.CLOCK_MONOTONIC_RAW, linux.CLOCK_REALTIME_COARSE, linux.CLOCK_MONOTONIC_COARSE, linux.CLOCK_BOOTTIME:
	default:
		return neg(linux.EINVAL)
	}
	if buf == 0 {
		return 0
	}
	ts := linux.Timespec{Nsec: 1}
	return ret(0, s.copyOut(buf, kmem.Addr(&ts), 16))
}

func (s *System) gettimeofday(tv, tz uint64) uint64 {
	if tv != 0 {
		ns := s.Clock.Realtime()
		v := [2]int64{ns / 1_000_000_000, ns % 1_000_000_000 / 1000}
		if e := s.copyOut(tv, kmem.Addr(&v), 16); e != 0 {
			return neg(e)
		}
	}
	if tz != 0 {
		z := [2]int32{}
		if e := s.copyOut(tz, kmem.Addr(&z), 8); e != 0 {
			return neg(e)
		}
	}
	return 0
}

func (s *System) time(p uint64) uint64 {
	sec := s.Clock.Realtime() / 1_000_000_000
	if p != 0 {
		if e := s.copyOut(p, kmem.Addr(&sec), 8); e != 0 {
			return neg(e)
		}
	}
	return uint64(sec)
}

func (s *System) prlimit(pid, res, newp, oldp uint64) uint64 {
	if int64(pid) != 0 && pid != 1 {
		return neg(linux.ESRCH)
	}
	if res >= linux.RLIM_NLIMITS {
		return neg(linux.EINVAL)
	}
	cur := s.rlimits[res]
	if newp != 0 {
		var n linux.Rlimit
		if e := s.copyIn(kmem.Addr(&n), newp, 16); e != 0 {
			return neg(e)
		}
		if n.Cur > n.Max {
			return neg(linux.EINVAL)
		}
		if n.Max > cur.Max {
			return neg(linux.EPERM)
		}
		s.rlimits[res] = n
	}
	if oldp != 0 {
		if e := s.copyOut(oldp, kmem.Addr(&cur), 16); e != 0 {
			return neg(e)
		}
	}
	return 0
}

func (s *System) getrusage(t *sched.Thread, who, buf uint64) uint64 {
	now := s.Clock.Now()
	var ns int64
	switch int64(who) {
	case 0: // RUSAGE_SELF
		ns = s.Sched.ProcessCPUTime(now)
	case 1: // RUSAGE_THREAD
		ns = t.ThreadCPUTime(now)
	case -1: // RUSAGE_CHILDREN: there are none
	default:
		return neg(linux.EINVAL)
	}
	var ru linux.Rusage
	// All time is user time: the kernel's share is not told apart.
	ru.Utime = [2]int64{ns / 1_000_000_000, ns % 1_000_000_000 / 1000}
	_, resident := s.Mem.Stats()
	ru.Rest[0] = int64(resident * mm.PageSize / 1024) // ru_maxrss in KiB (current, not peak)
	return ret(0, s.copyOut(buf, kmem.Addr(&ru), 144))
}

func (s *System) sysinfo(buf uint64) uint64 {
	var si linux.Sysinfo
	si.Uptime = s.Clock.Now() / 1_000_000_000
	si.Totalram = s.Mem.Frames.Total() * mm.PageSize
	si.Freeram = uint64(max(s.Mem.Frames.Avail(), 0)) * mm.PageSize
	si.Procs = uint16(s.Sched.Count())
	si.MemUnit = 1
	return ret(0, s.copyOut(buf, kmem.Addr(&si), 112))
}

// getrandom fills the buffer from the CPU's random number generator: RDSEED when
// the CPU has it (full entropy), RDRAND otherwise. Both may report a transient
// shortage; the loop retries, as Intel advises.
func (s *System) getrandom(buf, n, flags uint64) uint64 {
	if flags&^(linux.GRND_NONBLOCK|linux.GRND_RANDOM|linux.GRND_INSECURE) != 0 ||
		flags&(linux.GRND_RANDOM|linux.GRND_INSECURE) == linux.GRND_RANDOM|linux.GRND_INSECURE {
		return neg(linux.EINVAL)
	}
	n = min(n, 33554431) // Linux's cap per call
	if e := s.Mem.Prepare(buf, n, mm.Write); e != 0 {
		return neg(e)
	}
	var chunk [256]byte
	done := uint64(0)
	for done < n {
		m := min(n-done, uint64(len(chunk)))
		if !s.randomBytes(chunk[:m]) {
			return neg(linux.EIO)
		}
		if e := s.copyOut(buf+done, kmem.Addr(&chunk[0]), m); e != 0 {
			return neg(e)
		}
		done += m
	}
	return n
}

// randomBytes fills b: the CPU's RDSEED/RDRAND words XORed with the entropy
// pool's keystream when the pool has been seeded (virtio-rng), or either alone.
func (s *System) randomBytes(b []byte) bool {
	hw := s.HasRDSEED || s.HasRDRAND
	if !hw && !s.Entropy.Seeded {
		return false
	}
	if s.Entropy.Seeded {
		s.Entropy.Fill(b)
	} else {
		clear(b)
	}
	for i := 0; hw && i < len(b); i += 8 {
		v, ok := s.random()
		if !ok {
			return false
		}
		for j := 0; j < 8 && i+j < len(b); j++ {
			b[i+j] ^= byte(v >> (8 * j))
		}
	}
	return true
}

// mixEntropy is SysEntropy(buf, n): a driver's entropy (virtio-rng) for the pool.
func (s *System) mixEntropy(buf, n uint64) uint64 {
	if n > 64 {
		n = 64
	}
	var b [64]byte
	if e := s.copyIn(kmem.Addr(&b[0]), buf, n); e != 0 {
		return neg(e)
	}
	s.Entropy.Mix(b[:n])
	return 0
}

func (s *System) random() (uint64, bool) {
	for try := 0; try < 1000; try++ {
		if s.HasRDSEED {
			if v, ok := x86.Rdseed(); ok {
				return v, true
			}
		}
		if s.HasRDRAND {
			if v, ok := x86.Rdrand(); ok {
				return v, true
			}
		}
		x86.Pause()
	}
	return 0, false
}

// RandomBytes fills b from the kernel's sources (AT_RANDOM at boot).
func (s *System) RandomBytes(b []byte) bool { return s.randomBytes(b) }
