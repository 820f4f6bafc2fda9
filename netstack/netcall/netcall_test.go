package netcall

import (
	"syscall"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
)

// TestMayWait pins MayWait's literal numbers to Linux's (the syscall package's
// on linux/amd64), and the Request layout to RequestSize.
func TestMayWait(t *testing.T) {
	for _, op := range []uint32{syscall.SYS_ACCEPT, syscall.SYS_ACCEPT4, syscall.SYS_CONNECT, syscall.SYS_READ,
		syscall.SYS_READV, syscall.SYS_RECVFROM, syscall.SYS_RECVMSG, syscall.SYS_WRITE, syscall.SYS_WRITEV,
		syscall.SYS_SENDTO, syscall.SYS_SENDMSG} {
		assert.True(t, MayWait(op), "%d", op)
	}
	for _, op := range []uint32{syscall.SYS_BIND, syscall.SYS_LISTEN, syscall.SYS_SHUTDOWN, syscall.SYS_SETSOCKOPT,
		syscall.SYS_GETSOCKOPT, syscall.SYS_SOCKET, OpClose, OpCancel} {
		assert.False(t, MayWait(op), "%d", op)
	}
	assert.EqualValues(t, RequestSize, unsafe.Sizeof(Request{}))
}
