package syscalls

import (
	"github.com/unigo-dev/unigo/rt/internal/kmem"
	"github.com/unigo-dev/unigo/rt/internal/linux"
	"github.com/unigo-dev/unigo/rt/internal/sched"
)

// Interval timers that send signals: POSIX timers (timer_create and friends) and
// the three setitimer timers, which are kept in the same table after the POSIX
// ones. A timer runs on a clock: the monotonic or real-time clock, the process's
// CPU clock, or one thread's CPU clock (how Go's CPU profiler measures each
// thread, SIGEV_THREAD_ID with CLOCK_THREAD_CPUTIME_ID).
//
// Expiry is checked at the end of every trap (RunTimers), and the hardware timer
// is armed for the earliest moment one could expire (TimerDeadline): for a CPU
// clock that is when the running thread would have used up the remaining time.

// maxTimers is how many POSIX timers the process may have (Go makes one per
// thread while profiling).
const maxTimers = 1024

// The setitimer timers' slots.
const itimerBase = maxTimers

type ptimer struct {
	used   bool
	_      [3]byte
	clock  int32 // CLOCK_*
	notify int32 // SIGEV_*
	signo  int32
	// tid is the thread the signal goes to (SIGEV_THREAD_ID); cpuTID the
	// thread whose CPU clock it runs on (CLOCK_THREAD_CPUTIME_ID).
	tid, cpuTID int32
	overrun     int32
	_           int32
	value       int64 // next expiry on the timer's clock; 0: disarmed
	interval    int64
	sival       uint64
}

// timerClock reads clock for the timer; ok is false when the thread whose CPU
// clock it is has gone.
func (s *System) timerClock(p *ptimer, now int64) (int64, bool) {
	switch p.clock {
	case linux.CLOCK_REALTIME:
		return now + s.Clock.RealOffset(), true
	case linux.CLOCK_PROCESS_CPUTIME_ID:
		return s.Sched.ProcessCPUTime(now), true
	case linux.CLOCK_THREAD_CPUTIME_ID:
		t, ok := s.Sched.ByTID(p.cpuTID)
		if !ok {
			return 0, false
		}
		return t.ThreadCPUTime(now), true
	}
	return now, true
}

// RunTimers fires every timer whose clock has reached its expiry, and ends
// the shutdown grace period when it is over.
func (s *System) RunTimers(now int64) {
	if s.forceOffAt != 0 && now >= s.forceOffAt {
		s.powerOff("the program did not exit within the shutdown grace period after SIGTERM")
	}
	if s.exitAt != 0 && (now >= s.exitAt || !s.outputPending()) {
		s.ExitGroup(s.exitStatus)
	}
	if s.armed == 0 {
		return
	}
	for i := 0; i < s.timerTop; i++ {
		p := &s.timers[i]
		if p.value == 0 {
			continue
		}
		v, ok := s.timerClock(p, now)
		if !ok {
			s.disarm(p)
			continue
		}
		if v < p.value {
			continue
		}
		if p.interval > 0 {
			n := (v-p.value)/p.interval + 1
			p.value += n * p.interval
			p.overrun = int32(min(n-1, 1<<31-1))
		} else {
			s.disarm(p)
		}
		s.fire(i, p)
	}
}

// fire sends timer i's signal.
func (s *System) fire(i int, p *ptimer) {
	switch {
	case p.notify == linux.SIGEV_NONE:
	case i >= itimerBase:
		s.SendProcess(int(p.signo), linux.SI_KERNEL)
	case p.notify == linux.SIGEV_THREAD_ID:
		if t, ok := s.Sched.ByTID(p.tid); ok {
			t.SigTimer = int32(i)
			s.SendThread(t, int(p.signo), linux.SI_TIMER)
		}
	default:
		s.SendProcess(int(p.signo), linux.SI_TIMER)
	}
}

// TimerDeadline is the earliest monotonic time at which a timer could expire if
// the running thread keeps the CPU, or 0.
func (s *System) TimerDeadline(now int64) int64 {
	next := s.forceOffAt
	if s.exitAt != 0 && (next == 0 || now+exitPoll < next) {
		next = now + exitPoll // an exit waits for the rings to drain: look again then
	}
	if s.armed == 0 {
		return next
	}
	cur := int32(-1)
	if s.Sched.Current() >= 0 {
		cur = s.Sched.Thread(s.Sched.Current()).TID
	}
	for i := 0; i < s.timerTop; i++ {
		p := &s.timers[i]
		if p.value == 0 {
			continue
		}
		var d int64
		switch p.clock {
		case linux.CLOCK_PROCESS_CPUTIME_ID, linux.CLOCK_THREAD_CPUTIME_ID:
			if cur < 0 || p.clock == linux.CLOCK_THREAD_CPUTIME_ID && p.cpuTID != cur {
				continue // its clock stands still until its thread runs
			}
			v, _ := s.timerClock(p, now)
			d = now + max(p.value-v, 0)
		case linux.CLOCK_REALTIME:
			d = p.value - s.Clock.RealOffset()
		default:
			d = p.value
		}
		if next == 0 || d < next {
			next = d
		}
	}
	return next
}

func (s *System) arm(p *ptimer, value, interval int64) {
	if p.value == 0 && value != 0 {
		s.armed++
	} else if p.value != 0 && value == 0 {
		s.armed--
	}
	p.value, p.interval, p.overrun = value, interval, 0
}

func (s *System) disarm(p *ptimer) { s.arm(p, 0, 0) }

// timerCreate is timer_create(clock, sevp, id).
func (s *System) timerCreate(t *sched.Thread, clock, sevp, idp uint64) uint64 {
	switch clock {
	case linux.CLOCK_REALTIME, linux.CLOCK_MONOTONIC, linux.CLOCK_BOOTTIME,
		linux.CLOCK_PROCESS_CPUTIME_ID, linux.CLOCK_THREAD_CPUTIME_ID:
	default:
		return neg(linux.EINVAL)
	}
	ev := linux.Sigevent{Signo: linux.SIGALRM, Notify: linux.SIGEV_SIGNAL}
	if sevp != 0 {
		if e := s.copyIn(kmem.Addr(&ev), sevp, 64); e != 0 {
			return neg(e)
		}
	}
	switch ev.Notify {
	case linux.SIGEV_NONE:
	case linux.SIGEV_SIGNAL, linux.SIGEV_THREAD_ID:
		if !validSignal(uint64(ev.Signo)) {
			return neg(linux.EINVAL)
		}
		if ev.Notify == linux.SIGEV_THREAD_ID {
			if _, ok := s.Sched.ByTID(ev.TID); !ok {
				return neg(linux.EINVAL)
			}
		}
	default:
		return neg(linux.EINVAL) // SIGEV_THREAD is the C library's business
	}
	id := -1
	for i := 0; i < maxTimers; i++ {
		if !s.timers[i].used {
			id = i
			break
		}
	}
	if id < 0 {
		return neg(linux.EAGAIN)
	}
	v := uint32(id)
	if e := s.copyOut(idp, kmem.Addr(&v), 4); e != 0 {
		return neg(e)
	}
	s.timers[id] = ptimer{used: true, clock: int32(clock), notify: ev.Notify, signo: ev.Signo,
		tid: ev.TID, cpuTID: t.TID, sival: ev.Value}
	if sevp == 0 {
		s.timers[id].sival = uint64(id)
	}
	s.timerTop = max(s.timerTop, id+1)
	return 0
}

func (s *System) timer(id uint64) (*ptimer, bool) {
	if id >= maxTimers || !s.timers[id].used {
		return nil, false
	}
	return &s.timers[id], true
}

// remaining is how long until p expires, on its own clock.
func (s *System) remaining(p *ptimer) linux.Itimerspec {
	var its linux.Itimerspec
	its.Interval = nsTimespec(p.interval)
	if p.value != 0 {
		v, _ := s.timerClock(p, s.Clock.Now())
		its.Value = nsTimespec(max(p.value-v, 1))
	}
	return its
}

func nsTimespec(ns int64) linux.Timespec {
	return linux.Timespec{Sec: ns / 1_000_000_000, Nsec: ns % 1_000_000_000}
}

func (s *System) itimerspec(addr uint64) (value, interval int64, e linux.Errno) {
	var its linux.Itimerspec
	if e := s.copyIn(kmem.Addr(&its), addr, 32); e != 0 {
		return 0, 0, e
	}
	for _, ts := range [2]linux.Timespec{its.Interval, its.Value} {
		if ts.Sec < 0 || ts.Nsec < 0 || ts.Nsec >= 1_000_000_000 {
			return 0, 0, linux.EINVAL
		}
	}
	return min(its.Value.Sec, 1<<32)*1_000_000_000 + its.Value.Nsec,
		min(its.Interval.Sec, 1<<32)*1_000_000_000 + its.Interval.Nsec, 0
}

// settime arms p for value (relative, or absolute on its clock) and interval.
func (s *System) settime(p *ptimer, value, interval int64, abs bool) {
	if value == 0 {
		s.disarm(p)
		return
	}
	if !abs {
		v, _ := s.timerClock(p, s.Clock.Now())
		value += v
	}
	s.arm(p, max(value, 1), interval)
}

func (s *System) timerSettime(id, flags, newp, oldp uint64) uint64 {
	p, ok := s.timer(id)
	if !ok {
		return neg(linux.EINVAL)
	}
	value, interval, e := s.itimerspec(newp)
	if e != 0 {
		return neg(e)
	}
	old := s.remaining(p)
	s.settime(p, value, interval, flags&linux.TIMER_ABSTIME != 0)
	if oldp != 0 {
		return ret(0, s.copyOut(oldp, kmem.Addr(&old), 32))
	}
	return 0
}

func (s *System) timerGettime(id, cur uint64) uint64 {
	p, ok := s.timer(id)
	if !ok {
		return neg(linux.EINVAL)
	}
	its := s.remaining(p)
	return ret(0, s.copyOut(cur, kmem.Addr(&its), 32))
}

func (s *System) timerGetoverrun(id uint64) uint64 {
	p, ok := s.timer(id)
	if !ok {
		return neg(linux.EINVAL)
	}
	return uint64(p.overrun)
}

func (s *System) timerDelete(id uint64) uint64 {
	p, ok := s.timer(id)
	if !ok {
		return neg(linux.EINVAL)
	}
	s.disarm(p)
	p.used = false
	return 0
}

// itimer is the setitimer timer which (ITIMER_REAL, _VIRTUAL, _PROF).
func (s *System) itimer(which uint64) (*ptimer, bool) {
	if which > linux.ITIMER_PROF {
		return nil, false
	}
	p := &s.timers[itimerBase+which]
	if !p.used {
		// Virtual time is not told apart from CPU time: all of it is user
		// time here (getrusage says the same).
		clock, sig := int32(linux.CLOCK_MONOTONIC), int32(linux.SIGALRM)
		switch which {
		case linux.ITIMER_VIRTUAL:
			clock, sig = linux.CLOCK_PROCESS_CPUTIME_ID, linux.SIGVTALRM
		case linux.ITIMER_PROF:
			clock, sig = linux.CLOCK_PROCESS_CPUTIME_ID, linux.SIGPROF
		}
		*p = ptimer{used: true, clock: clock, notify: linux.SIGEV_SIGNAL, signo: sig}
		s.timerTop = max(s.timerTop, itimerBase+int(which)+1)
	}
	return p, true
}

func usTimeval(ns int64) [2]int64 {
	us := (ns + 999) / 1000
	return [2]int64{us / 1_000_000, us % 1_000_000}
}

func timevalNs(tv [2]int64) int64 { return min(tv[0], 1<<32)*1_000_000_000 + tv[1]*1000 }

func (s *System) getitimer(which, cur uint64) uint64 {
	p, ok := s.itimer(which)
	if !ok {
		return neg(linux.EINVAL)
	}
	its := s.remaining(p)
	v := linux.Itimerval{Interval: usTimeval(its.Interval.Sec*1e9 + its.Interval.Nsec),
		Value: usTimeval(its.Value.Sec*1e9 + its.Value.Nsec)}
	return ret(0, s.copyOut(cur, kmem.Addr(&v), 32))
}

func (s *System) setitimer(which, newp, oldp uint64) uint64 {
	p, ok := s.itimer(which)
	if !ok {
		return neg(linux.EINVAL)
	}
	var v linux.Itimerval
	if newp != 0 {
		if e := s.copyIn(kmem.Addr(&v), newp, 32); e != 0 {
			return neg(e)
		}
		for _, tv := range [2][2]int64{v.Interval, v.Value} {
			if tv[0] < 0 || tv[1] < 0 || tv[1] >= 1_000_000 {
				return neg(linux.EINVAL)
			}
		}
	}
	if oldp != 0 {
		if r := s.getitimer(which, oldp); r != 0 {
			return r
		}
	}
	s.settime(p, timevalNs(v.Value), timevalNs(v.Interval), false)
	return 0
}

func (s *System) alarm(secs uint64) uint64 {
	p, _ := s.itimer(linux.ITIMER_REAL)
	left := s.remaining(p).Value
	s.settime(p, int64(min(secs, 1<<32))*1_000_000_000, 0, false)
	r := uint64(left.Sec)
	if left.Nsec >= 500_000_000 || r == 0 && left.Nsec > 0 {
		r++
	}
	return r
}
