package qemu_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unigo-dev/unigo/boot/qemu"
	"github.com/unigo-dev/unigo/boot/status"
)

// powerRun is one Run of the fake QEMU with a power button. The fake prints "up"
// and then runs for a minute unless the env says otherwise; every run is bounded
// by a 30s Timeout.
type powerRun struct {
	cfg     qemu.Config
	presses chan struct{}
	up      *notify // Run's stdout; up.ch closes when "up" has arrived
	log     string  // FAKEQEMU_QMP_LOG
	rec     string  // FAKEQEMU_RECORD
	env     []string
}

func newPowerRun(t *testing.T, grace time.Duration, env ...string) *powerRun {
	t.Helper()
	dir := t.TempDir()
	p := &powerRun{
		presses: make(chan struct{}, 4),
		up:      &notify{want: "up", ch: make(chan struct{})},
		log:     filepath.Join(dir, "qmp.log"),
		rec:     filepath.Join(dir, "record.json"),
	}
	p.cfg = qemu.Config{QEMU: buildFakeQEMU(t), Accel: qemu.AccelTCG, MakeImage: copyFile,
		Timeout: 30 * time.Second, PowerDown: p.presses, Grace: grace}
	p.env = append([]string{"FAKEQEMU_STDOUT=up", "FAKEQEMU_RECORD=" + p.rec, "FAKEQEMU_QMP_LOG=" + p.log,
		"FAKEQEMU_SLEEP=1m"}, env...)
	return p
}

// pressWhenUp presses the button n times once the console says "up", and
// returns when that is.
func (p *powerRun) pressWhenUp(n int) <-chan time.Time {
	at := make(chan time.Time, 1)
	go func() {
		<-p.up.ch
		at <- time.Now()
		for range n {
			p.presses <- struct{}{}
		}
	}()
	return at
}

func (p *powerRun) run(t *testing.T, ctx context.Context) (qemu.Result, error) {
	t.Helper()
	return qemu.Run(ctx, p.cfg, fakeApp(t), nil, p.env, p.up, nil)
}

// commands is what the fake's QMP monitor was asked, in order.
func (p *powerRun) commands(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(p.log)
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(t, err)
	return strings.Fields(string(data))
}

func TestPowerDownPassesTheGuestStatus(t *testing.T) {
	for _, n := range []int{0, 3} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			p := newPowerRun(t, 20*time.Second,
				"FAKEQEMU_POWERDOWN_EXIT="+strconv.Itoa(n), "FAKEQEMU_POWERDOWN_DELAY=100ms")
			p.pressWhenUp(1)
			res, err := p.run(t, context.Background())
			require.NoError(t, err)
			v, _ := status.Encode(n)
			assert.Equal(t, qemu.Result{Outcome: status.Exited, ProcessStatus: n, ExitCode: n, QEMUStatus: int(v)<<1 | 1}, res,
				"the guest's own exit is the result, as if no one had pressed")
			assert.Equal(t, []string{"qmp_capabilities", "system_powerdown"}, p.commands(t))

			r := readRecord(t, p.rec)
			kernel := option(t, r.Argv, "-kernel")
			assert.Equal(t, "unix:"+filepath.Join(filepath.Dir(kernel), "qmp.sock")+",server=on,wait=off", option(t, r.Argv, "-qmp"),
				"the QMP socket is in Run's temporary directory")
		})
	}
}

func TestPowerDownIgnoredKillsAfterGrace(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	p := newPowerRun(t, 300*time.Millisecond, "FAKEQEMU_CHILD="+pidFile)
	pressed := p.pressWhenUp(2)
	res, err := p.run(t, context.Background())
	require.NoError(t, err, "a VM that ignores the button is an outcome, not an error")
	took := time.Since(<-pressed)
	assert.Equal(t, qemu.Result{Outcome: status.NoStatus, ExitCode: status.RunnerNoStatus, QEMUStatus: -1, GraceExpired: true,
		Reason: "did not power off within 300ms of the power button; VM killed"}, res)
	assert.GreaterOrEqual(t, took, 300*time.Millisecond)
	assert.Less(t, took, 10*time.Second, "the grace period is from the first press; the second does not extend it")
	assert.Equal(t, []string{"qmp_capabilities", "system_powerdown", "system_powerdown"}, p.commands(t),
		"each value on PowerDown is one press")

	data, err := os.ReadFile(pidFile)
	require.NoError(t, err)
	child, err := strconv.Atoi(string(data))
	require.NoError(t, err)
	assert.Eventually(t, func() bool { return processGone(child) }, 5*time.Second, 10*time.Millisecond,
		"a process QEMU started outlived the kill")
}

func TestPowerDownDefaultGrace(t *testing.T) {
	assert.Equal(t, 10*time.Second, qemu.DefaultGrace)
}

func TestPowerDownThenCancelKillsAtOnce(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	p := newPowerRun(t, time.Minute)
	p.pressWhenUp(1)
	go func() {
		// Once the press has reached QEMU (or, at worst, after 10s).
		for i := 0; i < 1000; i++ {
			if data, _ := os.ReadFile(p.log); strings.Contains(string(data), "system_powerdown") {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		cancel(qemu.Interrupted{Signal: syscall.SIGINT})
	}()
	start := time.Now()
	res, err := p.run(t, ctx)
	require.NoError(t, err)
	assert.Less(t, time.Since(start), 20*time.Second, "canceling waited for the grace period")
	assert.Equal(t, []string{"qmp_capabilities", "system_powerdown"}, p.commands(t))
	assert.Equal(t, qemu.Result{Outcome: status.NoStatus, ExitCode: 130, QEMUStatus: -1, Signal: syscall.SIGINT,
		Reason: "received interrupt; VM killed"}, res)
}

func TestPowerDownBeforeQMPIsUp(t *testing.T) {
	// Pressed before QEMU even starts, and its socket comes late: the press waits
	// for it.
	p := newPowerRun(t, 20*time.Second, "FAKEQEMU_QMP_DELAY=300ms", "FAKEQEMU_POWERDOWN_EXIT=5")
	p.presses <- struct{}{}
	res, err := p.run(t, context.Background())
	require.NoError(t, err)
	assert.Equal(t, 5, res.ExitCode, res.Reason)
	assert.Equal(t, status.Exited, res.Outcome)
}

func TestPowerDownNeverPressed(t *testing.T) {
	p := newPowerRun(t, 0, "FAKEQEMU_SLEEP=200ms", "FAKEQEMU_GUEST_EXIT=4")
	close(p.presses) // a closed channel presses nothing
	res, err := p.run(t, context.Background())
	require.NoError(t, err)
	assert.Equal(t, 4, res.ExitCode, res.Reason)
	assert.NotContains(t, p.commands(t), "system_powerdown")
}

func TestPowerDownQMPSocketNeverAppears(t *testing.T) {
	defer qemu.SetQMPTimeout(300 * time.Millisecond)()
	p := newPowerRun(t, time.Minute, "FAKEQEMU_QMP=off")
	p.pressWhenUp(1)
	start := time.Now()
	res, err := p.run(t, context.Background())
	require.ErrorIs(t, err, qemu.ErrPowerButton)
	assert.Less(t, time.Since(start), 20*time.Second, "Run waited for the grace period")
	msg := err.Error()
	assert.Regexp(t, `^cannot press the VM's power button: QEMU's QMP socket /\S+/qmp.sock did not accept a connection within 300ms of QEMU starting: `, msg)
	assert.Contains(t, msg, "no such file or directory")
	assert.Equal(t, msg+"; VM killed", res.Reason)
	assert.Equal(t, status.RunnerNoStatus, res.ExitCode)
	assert.Equal(t, status.NoStatus, res.Outcome)
	assert.False(t, res.GraceExpired)
}

func TestPowerDownQMPSlowerThanGrace(t *testing.T) {
	// The socket never appears and the grace period ends before the QMP timeout
	// (5s): the result blames QMP, not the guest.
	p := newPowerRun(t, 300*time.Millisecond, "FAKEQEMU_QMP=off")
	p.pressWhenUp(1)
	res, err := p.run(t, context.Background())
	require.ErrorIs(t, err, qemu.ErrPowerButton)
	assert.EqualError(t, err, "cannot press the VM's power button: QEMU's QMP monitor had not taken the press by the end of the 300ms grace period")
	assert.False(t, res.GraceExpired)
	assert.Equal(t, status.RunnerNoStatus, res.ExitCode)
	assert.Equal(t, err.Error()+"; VM killed", res.Reason)
}

func TestPowerDownQMPError(t *testing.T) {
	p := newPowerRun(t, time.Minute, "FAKEQEMU_QMP_FAIL=no ACPI here")
	p.pressWhenUp(1)
	res, err := p.run(t, context.Background())
	require.ErrorIs(t, err, qemu.ErrPowerButton)
	assert.EqualError(t, err, "cannot press the VM's power button: QMP: system_powerdown failed: GenericError: no ACPI here")
	assert.Equal(t, status.RunnerNoStatus, res.ExitCode)
	assert.Equal(t, err.Error()+"; VM killed", res.Reason)
}

func TestNoPowerDownNoQMP(t *testing.T) {
	rec := filepath.Join(t.TempDir(), "record.json")
	_, err, _, _ := run(t, qemu.Config{}, nil, "FAKEQEMU_RECORD="+rec, "FAKEQEMU_GUEST_EXIT=0")
	require.NoError(t, err)
	assert.NotContains(t, readRecord(t, rec).Argv, "-qmp")
}

func TestPowerDownSocketPathTooLong(t *testing.T) {
	long := filepath.Join(t.TempDir(), strings.Repeat("d", 110))
	require.NoError(t, os.Mkdir(long, 0o755))
	t.Setenv("TMPDIR", long)
	p := newPowerRun(t, 0)
	res, err := p.run(t, context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "/qmp.sock is over the 107 bytes a Unix socket address holds: point TMPDIR at a shorter directory")
	assert.Equal(t, status.RunnerNoStatus, res.ExitCode)
	assert.NoFileExists(t, p.rec, "QEMU was started anyway")
}
