package qemu

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/unigo-dev/unigo/boot/image"
	"github.com/unigo-dev/unigo/boot/status"
)

// Result is how a run ended.
type Result struct {
	// Outcome is what the guest reported (status.Decode of QEMU's exit status).
	// A run that timed out, was stopped or never started is status.NoStatus.
	Outcome status.Outcome
	// ProcessStatus is the app's exit status when Outcome is status.Exited.
	ProcessStatus int
	// ExitCode is what the runner exits with: ProcessStatus, status.RunnerKernelFault,
	// status.RunnerNoStatus, or 128+signal when a signal stopped the run.
	ExitCode int
	// TimedOut says Config.Timeout expired and the VM was killed.
	TimedOut bool
	// GraceExpired says the power button was pressed (Config.PowerDown; QEMU
	// accepted the press) and the VM was killed because QEMU had not exited
	// Config.Grace after the first press. ExitCode is then status.RunnerNoStatus,
	// as for any VM that ended without the guest reporting a status.
	GraceExpired bool
	// Signal is the signal (from an Interrupted cause) that stopped the run, or nil.
	Signal os.Signal
	// QEMUStatus is QEMU's exit status, or -1 when QEMU was killed by a signal or
	// never ran.
	QEMUStatus int
	// Reason explains, in one line for the user, an outcome other than the app
	// exiting; "" when it exited.
	Reason string
}

// Interrupted is the context cause with which a runner cancels Run's context when
// it receives a signal: Run stops the VM and reports ExitCode 128+signal, as a shell
// does for a process a signal ended. It is not returned as an error.
type Interrupted struct{ Signal os.Signal }

func (i Interrupted) Error() string { return "received " + i.Signal.String() }

// stopWait bounds how long Run waits, after QEMU has gone, for whatever else still
// holds QEMU's output pipes (a wrapper's children) to let go of them.
const stopWait = 2 * time.Second

// Run boots binary (a unigo app) under QEMU with args (argv[1:]) and env
// (NAME=VALUE entries, normally os.Environ()); the guest's argv[0] is binary as
// given. The guest console goes to stdout as QEMU produces it; QEMU's own messages
// go to stderr. binary itself is never modified: the image is made in a temporary
// directory that Run removes.
//
// The error is non-nil when the VM could not be run (QEMU missing, image or command
// line failing, QEMU failing to start), with a message that says what to do; when
// ctx is canceled for a reason other than Interrupted; and when the power button
// could not be pressed (the error wraps ErrPowerButton, and the VM is killed). The
// Result is filled in either way, with ExitCode status.RunnerNoStatus for such
// failures.
//
// How a run can be stopped from outside: a value on Config.PowerDown presses the
// VM's ACPI power button, and the guest's exit status, if it then exits within
// Config.Grace, is the Result as for any other exit; canceling ctx kills the VM
// at once.
func Run(ctx context.Context, c Config, binary string, args, env []string, stdout, stderr io.Writer) (Result, error) {
	cmdline, err := KernelCmdline(binary, args, env, c.AppendExtra)
	if err != nil {
		return failed(err)
	}
	if err := c.CheckNet(); err != nil {
		return failed(err)
	}
	if err := c.CheckMachine(); err != nil {
		return failed(err)
	}
	if c.QEMU, err = lookQEMU(c.qemu()); err != nil {
		return failed(err)
	}
	if c.Accel, err = c.Accelerator(); err != nil {
		return failed(err)
	}
	// A copy, never binary itself: go test caches the binary it hands the runner.
	dir, err := os.MkdirTemp("", "unigo-run-")
	if err != nil {
		return failed(fmt.Errorf("cannot make a directory for the boot image: %w", err))
	}
	defer os.RemoveAll(dir)
	kernel := filepath.Join(dir, "kernel.elf")
	if err := c.makeImage(binary, kernel); err != nil {
		// image's errors say what to do (build with -tags unikernel, ...).
		return failed(fmt.Errorf("cannot make a bootable image of %s: %w", binary, err))
	}
	argv := c.Command(kernel, cmdline)
	var qmpPath string
	if c.PowerDown != nil {
		qmpPath = filepath.Join(dir, "qmp.sock")
		if len(qmpPath) > maxSocketPath {
			return failed(fmt.Errorf("the QMP socket path %s is over the %d bytes a Unix socket address holds: point TMPDIR at a shorter directory", qmpPath, maxSocketPath))
		}
		argv = append(argv, "-qmp", listenUnix(qmpPath))
	}
	if c.Verbose && stderr != nil {
		fmt.Fprintln(stderr, shellJoin(argv))
	}
	return boot(ctx, c, argv, qmpPath, stdout, stderr)
}

func (c Config) makeImage(src, dst string) error {
	if c.MakeImage != nil {
		return c.MakeImage(src, dst)
	}
	_, err := image.WriteFile(src, dst)
	return err
}

// lookQEMU finds the QEMU binary, telling the user how to install it when missing.
func lookQEMU(name string) (string, error) {
	path, err := exec.LookPath(name)
	switch {
	case err == nil:
		return path, nil
	case errors.Is(err, exec.ErrNotFound), errors.Is(err, fs.ErrNotExist):
		return "", notFoundError{name}
	}
	return "", fmt.Errorf("cannot run QEMU: %w", err)
}

func failed(err error) (Result, error) {
	return Result{
		Outcome:    status.NoStatus,
		ExitCode:   status.RunnerNoStatus,
		QEMUStatus: -1,
		Reason:     err.Error(),
	}, err
}

// boot runs QEMU and waits for it, the timeout, ctx, or the power button's grace
// period. qmpPath is QEMU's QMP socket ("" when c.PowerDown is nil).
func boot(ctx context.Context, c Config, argv []string, qmpPath string, stdout, stderr io.Writer) (Result, error) {
	timeout := c.Timeout
	if ctx.Err() != nil {
		// Stopped (by a signal, say) while the image was being made.
		return stopped(context.Cause(ctx), timeout, "VM not started")
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	// Stdin stays nil: QEMU reads /dev/null, so it never takes the terminal.
	if stdout != nil {
		cmd.Stdout = pipeOnly{stdout}
	}
	cmd.Stderr = stderr
	cmd.WaitDelay = stopWait
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Its own process group: a Ctrl-C in the terminal reaches the runner only,
		// which decides how the VM stops, and a kill of the group takes anything
		// QEMU (or a wrapper script) started along with it.
		Setpgid: true,
		// If the runner dies without stopping the VM (SIGKILL from go test's
		// timeout), the kernel kills QEMU: no orphaned VMs.
		Pdeathsig: syscall.SIGKILL,
	}

	started := make(chan error, 1)
	exited := make(chan struct{})
	go func() {
		// Pdeathsig fires when the thread that started QEMU exits, not the
		// process; keep this goroutine on that thread until QEMU is gone.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		err := cmd.Start()
		started <- err
		if err == nil {
			// Wait's error is QEMU's status (in cmd.ProcessState) or a failed
			// copy of its output, which cannot change the outcome.
			cmd.Wait()
			close(exited)
		}
	}()
	if err := <-started; err != nil {
		return failed(fmt.Errorf("cannot start QEMU (%s): %w", argv[0], err))
	}

	var expired <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expired = t.C
	}
	var (
		presses   = c.PowerDown
		btn       *button
		btnFailed <-chan error
		graceOver <-chan time.Time
	)
	if qmpPath != "" {
		btn = startButton(qmpPath, exited)
		btnFailed = btn.failed
	}
	var why error // set when Run ends the VM early
wait:
	for why == nil {
		select {
		case <-exited:
			break wait
		case <-expired:
			why = errTimeout
		case <-ctx.Done():
			why = context.Cause(ctx)
		case _, ok := <-presses:
			if !ok { // closed: no more presses
				presses = nil
				break
			}
			btn.press()
			if graceOver == nil {
				t := time.NewTimer(c.grace())
				defer t.Stop()
				graceOver = t.C
			}
		case <-graceOver:
			why = graceExpired{c.grace()}
			if !btn.pressed() {
				// Still connecting: say so rather than blame the guest.
				why = fmt.Errorf("%w: QEMU's QMP monitor had not taken the press by the end of the %v grace period", ErrPowerButton, c.grace())
			}
		case err := <-btnFailed:
			why = fmt.Errorf("%w: %w", ErrPowerButton, err)
		}
	}
	if why != nil {
		stop(cmd.Process, exited, why)
	}
	if cmd.ProcessState == nil { // Wait could not reap QEMU; not seen in practice
		return failed(fmt.Errorf("lost track of QEMU (pid %d)", cmd.Process.Pid))
	}
	return result(cmd.ProcessState, why, timeout)
}

var errTimeout = errors.New("timed out")

// graceExpired is why Run kills a VM that was still running Config.Grace after
// the first press of its power button.
type graceExpired struct{ grace time.Duration }

func (g graceExpired) Error() string {
	return fmt.Sprintf("did not power off within %v of the power button", g.grace)
}

// ErrPowerButton is wrapped by the error Run returns when it could not press the
// VM's power button (QEMU's QMP socket did not appear, or QMP failed); the VM is
// then killed, since it cannot be asked to stop.
var ErrPowerButton = errors.New("cannot press the VM's power button")

// button presses the VM's ACPI power button over QMP. Its goroutine connects as
// soon as QEMU has started, so that a press costs one command, and presses in
// order; it ends when QEMU exits or a press fails, reporting the failure on
// failed (a connection that failed before anyone pressed is reported only then).
type button struct {
	presses chan struct{}
	failed  chan error
	acked   chan struct{} // closed once QEMU has accepted a press
}

func startButton(qmpPath string, exited <-chan struct{}) *button {
	b := &button{presses: make(chan struct{}, 16), failed: make(chan error, 1), acked: make(chan struct{})}
	go b.run(qmpPath, qmpTimeout, exited)
	return b
}

// pressed says whether QEMU has accepted a press yet.
func (b *button) pressed() bool {
	select {
	case <-b.acked:
		return true
	default:
		return false
	}
}

// press asks for one more press. Past a backlog of 16 a press is dropped: a VM
// that has not yet been told of those would not be told more by one more.
func (b *button) press() {
	select {
	case b.presses <- struct{}{}:
	default:
	}
}

func (b *button) run(qmpPath string, timeout time.Duration, exited <-chan struct{}) {
	q, err := dialQMP(qmpPath, timeout, exited)
	if err == nil {
		defer q.Close()
	}
	for {
		select {
		case <-exited:
			return
		case <-b.presses:
		}
		if err == nil {
			_, err = q.execute("system_powerdown")
		}
		if err != nil {
			b.failed <- err
			return
		}
		if !b.pressed() {
			close(b.acked)
		}
	}
}

// stop ends the VM early and returns once QEMU has exited. why is errTimeout, an
// Interrupted or another reason the caller's context gave, graceExpired, or a
// failed press of the power button. Every reason kills QEMU's process group now:
// the gentle way, the power button, has already been tried by then when it was
// asked for (Config.PowerDown), and a canceled context is a hard stop.
func stop(p *os.Process, exited <-chan struct{}, why error) {
	select {
	case <-exited: // gone by itself, and reaped: its pid may be someone else's now
		return
	default:
	}
	killGroup(p.Pid)
	<-exited
}

func killGroup(pid int) {
	// -pid: the whole group; Setpgid made QEMU its leader.
	syscall.Kill(-pid, syscall.SIGKILL)
}

// result turns QEMU's end (and why Run stopped it early, if it did) into a Result.
// A VM that ended by itself before the stop took effect reports what it said.
func result(ps *os.ProcessState, why error, timeout time.Duration) (Result, error) {
	qemuStatus, sig := -1, syscall.Signal(0)
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		sig = ws.Signal()
	} else {
		qemuStatus = ps.ExitCode()
	}
	if why != nil && sig == syscall.SIGKILL {
		return stopped(why, timeout, "VM killed")
	}
	return decode(qemuStatus, sig), nil
}

// stopped is the Result of a run that Run ended for reason why; what says what
// became of the VM.
func stopped(why error, timeout time.Duration, what string) (Result, error) {
	r := Result{Outcome: status.NoStatus, ExitCode: status.RunnerNoStatus, QEMUStatus: -1}
	var intr Interrupted
	switch {
	case errors.Is(why, errTimeout):
		r.TimedOut = true
		r.Reason = fmt.Sprintf("timed out after %v; %s", timeout, what)
		return r, nil
	case errors.As(why, new(graceExpired)):
		r.GraceExpired = true
		r.Reason = why.Error() + "; " + what
		return r, nil
	case errors.As(why, &intr):
		r.Signal = intr.Signal
		if s, ok := intr.Signal.(syscall.Signal); ok {
			r.ExitCode = 128 + int(s)
		}
		r.Reason = intr.Error() + "; " + what
		return r, nil
	}
	r.Reason = fmt.Sprintf("%v; %s", why, what)
	return r, why
}

// decode maps how QEMU ended, by itself, to a Result: its exit status (sig 0) or
// the signal that killed it.
func decode(qemuStatus int, sig syscall.Signal) Result {
	r := Result{QEMUStatus: qemuStatus, ExitCode: status.RunnerNoStatus}
	if sig != 0 {
		r.Outcome = status.NoStatus
		r.Reason = fmt.Sprintf("QEMU was killed by signal %d (%v) before the guest reported an exit status", int(sig), sig)
		return r
	}
	r.Outcome, r.ProcessStatus = status.Decode(qemuStatus)
	switch r.Outcome {
	case status.Exited:
		r.ExitCode = r.ProcessStatus
	case status.Fault:
		r.ExitCode = status.RunnerKernelFault
		r.Reason = "the kernel stopped on a fault (report above)"
	default:
		r.Reason = noStatusReason(qemuStatus)
	}
	return r
}

func noStatusReason(qemuStatus int) string {
	switch qemuStatus {
	case 0:
		// -no-reboot turns a reset into QEMU exiting 0; so does QEMU quitting on
		// SIGTERM or SIGINT from someone else.
		return "the VM ended without the guest reporting an exit status: it reset (a triple fault?) or QEMU was told to quit"
	case 1:
		return "QEMU failed (exit status 1) before the guest reported an exit status; see QEMU's message above"
	}
	return fmt.Sprintf("QEMU exited with status %d, which carries no guest exit status", qemuStatus)
}

// pipeOnly hides an *os.File from exec.Cmd, which would otherwise hand QEMU the
// file itself. QEMU sets O_NONBLOCK on its stdout, and on a file shared with the
// runner and go test that breaks their writes (EAGAIN). With a pipe of its own,
// QEMU's output is copied to the writer as it comes, chunk by chunk.
type pipeOnly struct{ w io.Writer }

func (p pipeOnly) Write(b []byte) (int, error) { return p.w.Write(b) }

// shellJoin quotes argv for a POSIX shell, for -v.
func shellJoin(argv []string) string {
	var b strings.Builder
	for i, a := range argv {
		if i > 0 {
			b.WriteByte(' ')
		}
		if a != "" && strings.Trim(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=+,./:@%") == "" {
			b.WriteString(a)
			continue
		}
		b.WriteString("'" + strings.ReplaceAll(a, "'", `'\''`) + "'")
	}
	return b.String()
}
