package qemu_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unigo-dev/unigo/boot/qemu"
	"github.com/unigo-dev/unigo/boot/status"
)

// echoKernel is 32-bit code for a PVH entry that writes the kernel command line
// to the serial port, then a newline, then reports exit status 0:
//
//	mov  esi, [ebx+24]   ; hvm_start_info.cmdline_paddr
//	mov  dx, 0x3f8       ; COM1
//	test esi, esi
//	jz   done
//	loop: mov al, [esi]
//	test al, al
//	jz   done
//	out  dx, al
//	inc  esi
//	jmp  loop
//	done: mov al, 10
//	out  dx, al
//	mov  dx, 0xf4        ; isa-debug-exit
//	mov  eax, 1          ; status.Encode(0)
//	out  dx, eax
//	halt: hlt
//	jmp  halt
var echoKernel = []byte{
	0x8b, 0x73, 0x18, 0x66, 0xba, 0xf8, 0x03, 0x85, 0xf6, 0x74, 0x0a, 0x8a, 0x06,
	0x84, 0xc0, 0x74, 0x04, 0xee, 0x46, 0xeb, 0xf6, 0xb0, 0x0a, 0xee, 0x66, 0xba,
	0xf4, 0x00, 0xb8, 0x01, 0x00, 0x00, 0x00, 0xef, 0xf4, 0xeb, 0xfd,
}

// pvhELF is a minimal ELF64 executable that a PVH loader boots at code: one
// PT_LOAD of the whole file at 1 MiB, and a PT_NOTE with the Xen PHYS32_ENTRY note.
func pvhELF(code []byte) []byte {
	const (
		base    = 0x100000
		phOff   = 64
		noteOff = phOff + 2*56
		codeOff = noteOff + 32
	)
	le := binary.LittleEndian
	b := make([]byte, codeOff+len(code))
	copy(b, "\x7fELF\x02\x01\x01") // 64-bit, little-endian, version 1
	le.PutUint16(b[16:], 2)        // ET_EXEC
	le.PutUint16(b[18:], 62)       // EM_X86_64
	le.PutUint32(b[20:], 1)
	le.PutUint64(b[24:], base+codeOff)
	le.PutUint64(b[32:], phOff)
	le.PutUint16(b[52:], 64) // ELF header size
	le.PutUint16(b[54:], 56) // program header size
	le.PutUint16(b[56:], 2)  // program headers
	prog := func(p []byte, typ, flags uint32, off, size, align uint64) {
		le.PutUint32(p[0:], typ)
		le.PutUint32(p[4:], flags)
		le.PutUint64(p[8:], off)
		le.PutUint64(p[16:], base+off) // vaddr
		le.PutUint64(p[24:], base+off) // paddr
		le.PutUint64(p[32:], size)     // filesz
		le.PutUint64(p[40:], size)     // memsz
		le.PutUint64(p[48:], align)
	}
	prog(b[phOff:], 1, 5, 0, uint64(len(b)), 0x1000) // PT_LOAD, R+X
	prog(b[phOff+56:], 4, 4, noteOff, 24, 4)         // PT_NOTE, R
	note := b[noteOff:]
	le.PutUint32(note[0:], 4)  // namesz
	le.PutUint32(note[4:], 8)  // descsz
	le.PutUint32(note[8:], 18) // XEN_ELFNOTE_PHYS32_ENTRY
	copy(note[12:], "Xen\x00")
	le.PutUint64(note[16:], base+codeOff)
	copy(b[codeOff:], code)
	return b
}

// TestRealQEMU boots a tiny PVH kernel that echoes its command line under the
// real QEMU with the command line Run builds: the machine boots, the console and
// the exit device work, and arguments arrive byte-exact, even at MaxAppend.
func TestRealQEMU(t *testing.T) {
	path, err := exec.LookPath(qemu.DefaultQEMU)
	if err != nil {
		t.Skipf("%s is not installed (apt-get install -y qemu-system-x86): %v", qemu.DefaultQEMU, err)
	}
	cfg := qemu.Config{
		QEMU:    path,
		Timeout: time.Minute,
		MakeImage: func(src, dst string) error {
			return os.WriteFile(dst, pvhELF(echoKernel), 0o644)
		},
	}
	accel, err := cfg.Accelerator()
	require.NoError(t, err)
	t.Logf("accelerator: %s", accel)

	base := []string{"-test.run=^TestX$", "a b", `q"uote`, `back\slash`, "", "--", "ünï\x01\x7f"}
	env := []string{"HOME=/root", "my.dotted=1", "SPACES=a b c"}
	full, err := qemu.KernelCmdline("/app", base, env, "")
	require.NoError(t, err)
	filler := strings.Repeat("z", qemu.MaxAppend-len(full)-1) // one more word: space + filler

	for name, args := range map[string][]string{"short": base, "at MaxAppend": append(base, filler)} {
		t.Run(name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			res, err := qemu.Run(context.Background(), cfg, "/app", args, env, &stdout, &stderr)
			require.NoError(t, err)
			require.Equal(t, status.Exited, res.Outcome, "%s\n%s", res.Reason, stderr.String())
			assert.Equal(t, 0, res.ExitCode)

			line, ok := strings.CutSuffix(stdout.String(), "\n")
			require.True(t, ok, "no newline after the echoed command line")
			assert.Equal(t, decoded{Argv0: "/app", Args: args, Env: env}, decode(t, line))
			if name != "short" {
				assert.Len(t, line, qemu.MaxAppend)
			}
		})
	}
}

// upKernel is 32-bit code for a PVH entry that writes "up" and a newline to the
// serial port and then halts for good (a PVH entry runs with interrupts off, and
// it never turns them on), so it does not react to the power button:
//
//	mov dx, 0x3f8
//	mov al, 'u'
//	out dx, al
//	mov al, 'p'
//	out dx, al
//	mov al, 10
//	out dx, al
//	halt: hlt
//	jmp halt
var upKernel = []byte{
	0x66, 0xba, 0xf8, 0x03, 0xb0, 0x75, 0xee, 0xb0, 0x70, 0xee, 0xb0, 0x0a, 0xee,
	0xf4, 0xeb, 0xfd,
}

// TestRealQEMUPowerButton presses the power button of a real QEMU running Run's
// command line, with a guest that ignores it: QEMU opens the QMP socket, accepts
// the handshake and system_powerdown (any QMP error would be Run's error), and Run
// kills the VM when the grace period ends.
func TestRealQEMUPowerButton(t *testing.T) {
	path, err := exec.LookPath(qemu.DefaultQEMU)
	if err != nil {
		t.Skipf("%s is not installed (apt-get install -y qemu-system-x86): %v", qemu.DefaultQEMU, err)
	}
	presses := make(chan struct{}, 1)
	cfg := qemu.Config{
		QEMU:      path,
		Timeout:   time.Minute,
		PowerDown: presses,
		Grace:     time.Second,
		MakeImage: func(src, dst string) error {
			return os.WriteFile(dst, pvhELF(upKernel), 0o644)
		},
	}
	stdout := &notify{want: "up\n", ch: make(chan struct{})}
	go func() {
		<-stdout.ch
		presses <- struct{}{}
	}()
	var stderr bytes.Buffer
	start := time.Now()
	res, err := qemu.Run(context.Background(), cfg, "/app", nil, nil, stdout, &stderr)
	require.NoError(t, err, "QEMU said: %s", stderr.String())
	assert.Equal(t, qemu.Result{Outcome: status.NoStatus, ExitCode: status.RunnerNoStatus, QEMUStatus: -1, GraceExpired: true,
		Reason: "did not power off within 1s of the power button; VM killed"}, res, "QEMU said: %s", stderr.String())
	assert.Less(t, time.Since(start), 50*time.Second, "the timeout, not the grace period, ended the run")
	assert.Equal(t, "up\n", stdout.buf.String())
}

// TestMaxAppendIsTheExecLimit pins MaxAppend to what this host's Linux allows one
// argument: MaxAppend bytes start a program, one more fails with E2BIG.
func TestMaxAppendIsTheExecLimit(t *testing.T) {
	self, err := os.Executable()
	require.NoError(t, err)
	run := func(n int) error {
		return exec.Command(self, "-test.run=^$", strings.Repeat("x", n)).Run()
	}
	require.NoError(t, run(qemu.MaxAppend))
	require.ErrorIs(t, run(qemu.MaxAppend+1), syscall.E2BIG)
}
