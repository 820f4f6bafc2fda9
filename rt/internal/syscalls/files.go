package syscalls

import (
	"github.com/unigo-dev/unigo/drivers/serial"
	"github.com/unigo-dev/unigo/rt/internal/kmem"
	"github.com/unigo-dev/unigo/rt/internal/linux"
	"github.com/unigo-dev/unigo/rt/internal/mm"
	"github.com/unigo-dev/unigo/rt/internal/sched"
)

// Kinds of open file. There is no file system: the console, /dev/null, and (with
// networking) sockets.
const (
	kindClosed = iota
	kindConsoleIn
	kindConsoleOut
	kindNull
	kindEventfd
	kindEpoll
	kindSocket  // val: the network service's socket id (net.go)
	kindMemFile // val: which (etc.go); off: the read position
)

type file struct {
	kind    uint8
	cloexec bool
	sem     bool // eventfd: EFD_SEMAPHORE
	_       [5]byte
	status  uint32 // open flags: access mode and O_NONBLOCK
	// seq counts the times the file became ready again, so edge-triggered
	// epoll reports each edge once.
	seq uint32
	val uint64 // eventfd: the counter; epoll: the interest set's index
	off uint64 // a memory file's read position
}

func (s *System) fd(n uint64) (*file, bool) {
	if n >= MaxFiles || s.files[n].kind == kindClosed {
		return nil, false
	}
	return &s.files[n], true
}

// The console is a serial port: output goes out as it is written; it has no
// input wired, so reading standard input finds end of file, as from /dev/null.
func (s *System) read(t *sched.Thread, n, buf, count uint64) uint64 {
	f, ok := s.fd(n)
	if !ok {
		return neg(linux.EBADF)
	}
	switch f.kind {
	case kindEventfd:
		return s.eventfdRead(t, n, f, buf, count)
	case kindSocket:
		return s.sockCall(t, linux.SYS_read, n, buf, count, 0, 0, 0)
	case kindMemFile:
		return s.memRead(f, buf, count)
	case kindConsoleIn, kindNull:
		if count > 0 {
			if e := s.Mem.Prepare(buf, 1, mm.Write); e != 0 {
				return neg(e)
			}
		}
		return 0
	}
	return neg(linux.EBADF)
}

func (s *System) write(t *sched.Thread, n, buf, count uint64) uint64 {
	f, ok := s.fd(n)
	if !ok {
		return neg(linux.EBADF)
	}
	switch f.kind {
	case kindSocket:
		return s.sockCall(t, linux.SYS_write, n, buf, count, 0, 0, 0)
	case kindEventfd:
		return s.eventfdWrite(f, buf, count)
	case kindConsoleOut:
		return ret(count, s.console(buf, count))
	case kindNull:
		return ret(count, s.Mem.Prepare(buf, count, mm.Read))
	}
	return neg(linux.EBADF)
}

// console writes count bytes of user memory at buf to the serial console, through
// a buffer on the kernel stack.
func (s *System) console(buf, count uint64) linux.Errno {
	if e := s.Mem.Prepare(buf, count, mm.Read); e != 0 {
		return e
	}
	var chunk [512]byte
	for count > 0 {
		n := min(count, uint64(len(chunk)))
		if e := s.copyIn(kmem.Addr(&chunk[0]), buf, n); e != 0 {
			return e
		}
		serial.Write(serial.COM1, chunk[:n])
		buf += n
		count -= n
	}
	return 0
}

// iovec is struct iovec.
type iovec struct{ base, len uint64 }

func (s *System) writev(t *sched.Thread, n, iov, cnt uint64) uint64 {
	if cnt > 1024 {
		return neg(linux.EINVAL)
	}
	if f, ok := s.fd(n); ok && f.kind == kindSocket {
		return s.sockCall(t, linux.SYS_writev, n, iov, cnt, 0, 0, 0)
	}
	var total uint64
	for i := uint64(0); i < cnt; i++ {
		var v iovec
		if e := s.copyIn(kmem.Addr(&v), iov+i*16, 16); e != 0 {
			return neg(e)
		}
		if v.len == 0 {
			continue
		}
		r := s.write(t, n, v.base, v.len)
		if int64(r) < 0 {
			if total > 0 {
				return total
			}
			return r
		}
		total += r
	}
	return total
}

func (s *System) readv(t *sched.Thread, n, iov, cnt uint64) uint64 {
	if cnt > 1024 {
		return neg(linux.EINVAL)
	}
	f, ok := s.fd(n)
	if !ok {
		return neg(linux.EBADF)
	}
	if f.kind == kindSocket {
		return s.sockCall(t, linux.SYS_readv, n, iov, cnt, 0, 0, 0)
	}
	var v iovec
	if cnt > 0 {
		if e := s.copyIn(kmem.Addr(&v), iov, 16); e != 0 {
			return neg(e)
		}
	}
	return s.read(t, n, v.base, v.len)
}

func (s *System) close(t *sched.Thread, n uint64) uint64 {
	f, ok := s.fd(n)
	if !ok {
		return neg(linux.EBADF)
	}
	s.forget(int32(n))
	if f.kind == kindEpoll && !s.sharedEpoll(n) {
		s.epolls[f.val].used = false
	}
	if f.kind == kindSocket {
		s.closeSock(t, f)
	}
	*f = file{}
	return 0
}

func (s *System) seek(n uint64) uint64 {
	if _, ok := s.fd(n); !ok {
		return neg(linux.EBADF)
	}
	return neg(linux.ESPIPE)
}

func (s *System) ioctl(n, req, arg uint64) uint64 {
	f, ok := s.fd(n)
	if !ok {
		return neg(linux.EBADF)
	}
	if f.kind == kindSocket && req == linux.FIONBIO {
		var v int32
		if e := s.copyIn(kmem.Addr(&v), arg, 4); e != 0 {
			return neg(e)
		}
		f.status &^= linux.O_NONBLOCK
		if v != 0 {
			f.status |= linux.O_NONBLOCK
		}
		s.setSockNonblock(f)
		return 0
	}
	return neg(linux.ENOTTY) // the console is a serial line, not a terminal
}

func (s *System) fstat(n, buf uint64) uint64 {
	f, ok := s.fd(n)
	if !ok {
		return neg(linux.EBADF)
	}
	return s.statFile(f, buf)
}

// statFile writes f's struct stat to buf.
func (s *System) statFile(f *file, buf uint64) uint64 {
	var st linux.Stat
	st.Mode = linux.S_IFCHR | 0o620
	st.Nlink = 1
	st.Blksize = 4096
	st.Dev = 5
	switch f.kind {
	case kindConsoleIn, kindConsoleOut:
		st.Rdev = 5<<8 | 1 // /dev/console
		st.Ino = 1
	case kindNull:
		st.Mode = linux.S_IFCHR | 0o666
		st.Rdev = 1<<8 | 3 // /dev/null
		st.Ino = 2
	case kindSocket:
		st.Mode = linux.S_IFSOCK | 0o777
		st.Dev, st.Ino = 8, 1000+f.val
	case kindMemFile:
		st.Mode = linux.S_IFREG | 0o644
		st.Dev, st.Ino = 9, 100+f.val
		st.Size = int64(len(s.etcContent(f.val)))
		st.Mtime.Sec = s.net.resolvTime / 1_000_000_000
		st.Mtime.Nsec = s.net.resolvTime % 1_000_000_000
	}
	return ret(0, s.copyOut(buf, kmem.Addr(&st), uint64(unsafeSizeofStat)))
}

// allocFD returns the lowest free descriptor at or above min.
func (s *System) allocFD(min uint64) (uint64, bool) {
	limit := s.rlimits[linux.RLIMIT_NOFILE].Cur
	for i := min; i < MaxFiles && i < limit; i++ {
		if s.files[i].kind == kindClosed {
			return i, true
		}
	}
	return 0, false
}

func (s *System) dup(old, min uint64, cloexec bool) uint64 {
	f, ok := s.fd(old)
	if !ok {
		return neg(linux.EBADF)
	}
	n, ok := s.allocFD(min)
	if !ok {
		return neg(linux.EMFILE)
	}
	s.files[n] = *f
	s.files[n].cloexec = cloexec
	s.shareFile(f)
	return n
}

// shareFile notes that another descriptor refers to f's open file.
func (s *System) shareFile(f *file) {
	if f.kind == kindSocket {
		s.net.socks[f.val].refs++
	}
}

func (s *System) dup2(old, new uint64) uint64 {
	if _, ok := s.fd(old); !ok {
		return neg(linux.EBADF)
	}
	if old == new {
		return new
	}
	return s.dup3(old, new, 0)
}

func (s *System) dup3(old, new, flags uint64) uint64 {
	f, ok := s.fd(old)
	if !ok {
		return neg(linux.EBADF)
	}
	if old == new || flags&^linux.O_CLOEXEC != 0 {
		return neg(linux.EINVAL)
	}
	if new >= MaxFiles {
		return neg(linux.EBADF)
	}
	if _, open := s.fd(new); open {
		s.close(nil, new) // dup3 closes what new was, as close would
	}
	s.files[new] = *f
	s.files[new].cloexec = flags&linux.O_CLOEXEC != 0
	s.shareFile(f)
	return new
}

func (s *System) fcntl(n, cmd, arg uint64) uint64 {
	f, ok := s.fd(n)
	if !ok {
		return neg(linux.EBADF)
	}
	switch cmd {
	case linux.F_GETFD:
		if f.cloexec {
			return linux.FD_CLOEXEC
		}
		return 0
	case linux.F_SETFD:
		f.cloexec = arg&linux.FD_CLOEXEC != 0
		return 0
	case linux.F_GETFL:
		return uint64(f.status)
	case linux.F_SETFL:
		old := f.status
		f.status = f.status&linux.O_ACCMODE | uint32(arg)&linux.O_NONBLOCK
		if f.kind == kindSocket && old != f.status {
			s.setSockNonblock(f)
		}
		return 0
	case linux.F_DUPFD:
		return s.dup(n, arg, false)
	case linux.F_DUPFD_CLOEXEC:
		return s.dup(n, arg, true)
	}
	return neg(linux.EINVAL)
}

// path copies a NUL-terminated path from user memory into buf and returns its
// length. ENAMETOOLONG past PATH_MAX; EFAULT for a bad pointer.
func (s *System) path(addr uint64, buf *[linux.PATH_MAX]byte) (int, linux.Errno) {
	for i := 0; i < len(buf); i++ {
		// Copy a page at a time up to the next page boundary, then look for NUL.
		if i%512 == 0 {
			n := uint64(512)
			if e := s.copyIn(kmem.Addr(&buf[i]), addr+uint64(i), n); e != 0 {
				// The last page may end early: fall back to byte by byte.
				for j := i; j < i+512 && j < len(buf); j++ {
					if e := s.copyIn(kmem.Addr(&buf[j]), addr+uint64(j), 1); e != 0 {
						return 0, e
					}
					if buf[j] == 0 {
						return j, 0
					}
				}
				return 0, linux.ENAMETOOLONG
			}
		}
		if buf[i] == 0 {
			return i, 0
		}
	}
	return 0, linux.ENAMETOOLONG
}

func equal(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		if b[i] != s[i] {
			return false
		}
	}
	return true
}

// lookup resolves a path to the few names that exist: /dev/null and /dev/console,
// the network files in /etc (etc.go), and / itself. Everything else is ENOENT:
// there is no file system.
func lookup(p []byte) (kind uint8, val uint64, dir bool, e linux.Errno) {
	switch {
	case equal(p, "/dev/null"):
		return kindNull, 0, false, 0
	case equal(p, "/dev/console"), equal(p, "/dev/tty"):
		return kindConsoleOut, 0, false, 0
	case equal(p, "/"), equal(p, "/dev"), equal(p, "."), equal(p, "/etc"):
		return 0, 0, true, 0
	}
	if i, ok := etcFile(p); ok {
		return kindMemFile, i, false, 0
	}
	return 0, 0, false, linux.ENOENT
}

func (s *System) openat(dirfd, addr, flags uint64) uint64 {
	var buf [linux.PATH_MAX]byte
	n, e := s.path(addr, &buf)
	if e != 0 {
		return neg(e)
	}
	kind, val, dir, e := lookup(buf[:n])
	if e != 0 {
		return neg(e)
	}
	if dir {
		return neg(linux.EISDIR)
	}
	if kind == kindMemFile && flags&linux.O_ACCMODE != linux.O_RDONLY {
		return neg(linux.EROFS)
	}
	fd, ok := s.allocFD(0)
	if !ok {
		return neg(linux.EMFILE)
	}
	s.files[fd] = file{kind: kind, cloexec: flags&linux.O_CLOEXEC != 0, status: uint32(flags) & (linux.O_ACCMODE | linux.O_NONBLOCK), val: val}
	return fd
}

func (s *System) fstatat(dirfd, addr, buf, flags uint64) uint64 {
	var p [linux.PATH_MAX]byte
	n, e := s.path(addr, &p)
	if e != 0 {
		return neg(e)
	}
	if n == 0 {
		if flags&linux.AT_EMPTY_PATH != 0 {
			return s.fstat(dirfd, buf)
		}
		return neg(linux.ENOENT)
	}
	kind, val, dir, e := lookup(p[:n])
	if e != 0 {
		return neg(e)
	}
	if kind == kindMemFile {
		f := file{kind: kind, val: val}
		return s.statFile(&f, buf)
	}
	var st linux.Stat
	st.Nlink = 1
	st.Blksize = 4096
	if dir {
		st.Mode = linux.S_IFDIR | 0o755
		st.Nlink = 2
		return ret(0, s.copyOut(buf, kmem.Addr(&st), uint64(unsafeSizeofStat)))
	}
	st.Mode = linux.S_IFCHR | 0o666
	if kind == kindNull {
		st.Rdev = 1<<8 | 3
	} else {
		st.Rdev = 5<<8 | 1
	}
	return ret(0, s.copyOut(buf, kmem.Addr(&st), uint64(unsafeSizeofStat)))
}

func (s *System) faccessat(dirfd, addr uint64) uint64 {
	var p [linux.PATH_MAX]byte
	n, e := s.path(addr, &p)
	if e != 0 {
		return neg(e)
	}
	_, _, _, e = lookup(p[:n])
	return ret(0, e)
}

// readlinkat knows one link: /proc/self/exe, the program's path (argv[0], as the
// runner passes it).
func (s *System) readlinkat(dirfd, addr, buf, size uint64) uint64 {
	var p [linux.PATH_MAX]byte
	n, e := s.path(addr, &p)
	if e != 0 {
		return neg(e)
	}
	if !equal(p[:n], "/proc/self/exe") {
		return neg(linux.ENOENT)
	}
	if int64(size) <= 0 {
		return neg(linux.EINVAL)
	}
	m := min(size, uint64(s.exeLen))
	return ret(m, s.copyOut(buf, kmem.Addr(&s.exe[0]), m))
}

func (s *System) getcwd(buf, size uint64) uint64 {
	root := [2]byte{'/', 0}
	if size < 2 {
		return neg(linux.ERANGE)
	}
	return ret(2, s.copyOut(buf, kmem.Addr(&root[0]), 2))
}
