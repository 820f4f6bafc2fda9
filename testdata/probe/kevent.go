package main

import (
	"fmt"
	"syscall"
	"unsafe"
)

// unigo's kernel event descriptors (netstack/netcall: SysEventFD and its
// sources), spelled out here so that the probe stays an ordinary program.
const (
	sysEventFD  = 0x1016
	eventDevice = 0
)

// kevent opens kernel event descriptors and prints what each step gives: the
// errors for sources that do not exist, then, on device 0's interrupts (the
// runner's network device, which nothing drives in this program: it makes no
// socket calls, so the device never interrupts), that the descriptor is
// nonblocking and readable once, then EAGAIN and no longer ready for epoll,
// and that writing is refused.
func kevent() {
	_, _, e := syscall.RawSyscall(sysEventFD, 1<<16, 0, 0)
	fmt.Printf("kevent bad source: %v\n", e)
	_, _, e = syscall.RawSyscall(sysEventFD, eventDevice+7, 0, 0)
	fmt.Printf("kevent device 7: %v\n", e)

	fd, _, e := syscall.RawSyscall(sysEventFD, eventDevice, 0, 0)
	if e != 0 {
		fmt.Printf("kevent device 0: %v\n", e)
		return
	}
	fl, _, _ := syscall.RawSyscall(syscall.SYS_FCNTL, fd, syscall.F_GETFL, 0)
	fmt.Printf("kevent nonblocking: %v\n", fl&syscall.O_NONBLOCK != 0)

	ep, err := syscall.EpollCreate1(0)
	if err != nil {
		fmt.Println("epoll_create1:", err)
		return
	}
	err = syscall.EpollCtl(ep, syscall.EPOLL_CTL_ADD, int(fd), &syscall.EpollEvent{Events: syscall.EPOLLIN | -syscall.EPOLLET, Fd: int32(fd)})
	evs := make([]syscall.EpollEvent, 4)
	n, _ := syscall.EpollWait(ep, evs, 0)
	fmt.Printf("kevent epoll before read: %v %d\n", err, n)

	var v uint64
	read := func() (uintptr, syscall.Errno) {
		r, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&v)), 8)
		return r, e
	}
	r, e := read()
	fmt.Printf("kevent first read: %d %v\n", r, e)
	_, e = read()
	fmt.Printf("kevent second read: %v\n", e)
	n, _ = syscall.EpollWait(ep, evs, 0)
	fmt.Printf("kevent epoll after read: %d\n", n)
	_, _, e = syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&v)), 4)
	fmt.Printf("kevent short read: %v\n", e)
	_, _, e = syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&v)), 8)
	fmt.Printf("kevent write: %v\n", e)
	fmt.Printf("kevent close: %v\n", syscall.Close(int(fd)))
}
