// Package linux holds the numbers and layouts of the Linux x86-64 ABI that unigo's
// kernel implements: errno values, system call numbers, flags and the structures
// user memory carries. Constants and plain struct types only; no code runs here.
//
// Values are Linux's own (include/uapi), so they are not tied to what the syscall
// package of the Go release in use happens to export.
package linux

// Errno is a Linux error number; system calls return its negation.
type Errno uintptr

// Error numbers (asm-generic/errno-base.h, errno.h).
const (
	EPERM           Errno = 1
	ENOENT          Errno = 2
	ESRCH           Errno = 3
	EINTR           Errno = 4
	EIO             Errno = 5
	E2BIG           Errno = 7
	EBADF           Errno = 9
	ECHILD          Errno = 10
	EAGAIN          Errno = 11
	ENOMEM          Errno = 12
	EACCES          Errno = 13
	EFAULT          Errno = 14
	EBUSY           Errno = 16
	EEXIST          Errno = 17
	ENODEV          Errno = 19
	ENOTDIR         Errno = 20
	EISDIR          Errno = 21
	EINVAL          Errno = 22
	EMFILE          Errno = 24
	ENOTTY          Errno = 25
	ESPIPE          Errno = 29
	ENOSPC          Errno = 28
	EROFS           Errno = 30
	EPIPE           Errno = 32
	ERANGE          Errno = 34
	ENAMETOOLONG    Errno = 36
	ENOSYS          Errno = 38
	ELOOP           Errno = 40
	ENOTSOCK        Errno = 88
	EPROTONOSUPPORT Errno = 93
	ESOCKTNOSUPPORT Errno = 94
	EAFNOSUPPORT    Errno = 97
	ENOTCONN        Errno = 107
	EMSGSIZE        Errno = 90
	EOPNOTSUPP      Errno = 95
	ENOBUFS         Errno = 105
	ETIMEDOUT       Errno = 110
)

// mmap, mprotect and madvise.
const (
	PROT_NONE  = 0
	PROT_READ  = 1
	PROT_WRITE = 2
	PROT_EXEC  = 4

	MAP_SHARED          = 0x01
	MAP_PRIVATE         = 0x02
	MAP_SHARED_VALIDATE = 0x03
	MAP_TYPE            = 0x0f
	MAP_FIXED           = 0x10
	MAP_ANONYMOUS       = 0x20
	MAP_GROWSDOWN       = 0x100
	MAP_DENYWRITE       = 0x800
	MAP_EXECUTABLE      = 0x1000
	MAP_LOCKED          = 0x2000
	MAP_NORESERVE       = 0x4000
	MAP_POPULATE        = 0x8000
	MAP_NONBLOCK        = 0x10000
	MAP_STACK           = 0x20000
	MAP_HUGETLB         = 0x40000
	MAP_SYNC            = 0x80000
	MAP_FIXED_NOREPLACE = 0x100000

	MADV_NORMAL     = 0
	MADV_RANDOM     = 1
	MADV_SEQUENTIAL = 2
	MADV_WILLNEED   = 3
	MADV_DONTNEED   = 4
	MADV_FREE       = 8
	MADV_HUGEPAGE   = 14
	MADV_NOHUGEPAGE = 15
	MADV_DONTDUMP   = 16
	MADV_DODUMP     = 17
	MADV_COLLAPSE   = 25
)
