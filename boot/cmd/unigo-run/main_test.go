package main

import (
	"bytes"
	"debug/elf"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unigo-dev/unigo/boot/cmdline"
	"github.com/unigo-dev/unigo/boot/qemu"
	"github.com/unigo-dev/unigo/boot/status"
)

func TestTestTimeout(t *testing.T) {
	tests := []struct {
		args []string
		want time.Duration
	}{
		{nil, 0},
		{[]string{"-test.v=true"}, 0},
		{[]string{"-test.timeout=10m0s"}, 10 * time.Minute},
		{[]string{"--test.timeout=30s"}, 30 * time.Second},
		{[]string{"-test.timeout", "2m"}, 2 * time.Minute},
		{[]string{"-test.timeout=1m", "-test.timeout=3m"}, 3 * time.Minute},
		{[]string{"-test.timeout=0"}, 0},
		{[]string{"-test.timeout=bogus"}, 0},
		{[]string{"--", "-test.timeout=1m"}, 0},
		{[]string{"-test.timeoutx=1m"}, 0},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, testTimeout(tt.args), "%q", tt.args)
	}
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name    string
		argv    []string
		env     []string
		want    qemu.Config
		wantErr bool
	}{
		{name: "defaults", argv: []string{"/b/app", "x"},
			want: qemu.Config{Accel: "auto", QEMU: "qemu-system-x86_64", Memory: "256M", SMP: 1, Machine: "microvm", Timeout: 10 * time.Minute, Grace: 10 * time.Second, Net: "user"}},
		{name: "environment", argv: []string{"/b/app"}, env: []string{"UNIGO_ACCEL=tcg", "UNIGO_QEMU=/opt/qemu"},
			want: qemu.Config{Accel: "tcg", QEMU: "/opt/qemu", Memory: "256M", SMP: 1, Machine: "microvm", Timeout: 10 * time.Minute, Grace: 10 * time.Second, Net: "user"}},
		{name: "flags beat environment",
			argv: []string{"-accel", "kvm", "-qemu", "/q", "-m", "1G", "-smp", "4", "-v", "-append-extra", "unigo.x=1", "-timeout", "0", "-grace", "3s", "/b/app"},
			env:  []string{"UNIGO_ACCEL=tcg", "UNIGO_QEMU=/opt/qemu"},
			want: qemu.Config{Accel: "kvm", QEMU: "/q", Memory: "1G", SMP: 4, Machine: "microvm", Verbose: true, AppendExtra: "unigo.x=1", Grace: 3 * time.Second, Net: "user"}},
		{name: "test timeout plus a minute", argv: []string{"/b/app.test", "-test.timeout=3m0s", "-test.v"},
			want: qemu.Config{Accel: "auto", QEMU: "qemu-system-x86_64", Memory: "256M", SMP: 1, Machine: "microvm", Timeout: 4 * time.Minute, Grace: 10 * time.Second, Net: "user"}},
		{name: "explicit timeout wins", argv: []string{"-timeout=20s", "/b/app.test", "-test.timeout=3m0s"},
			want: qemu.Config{Accel: "auto", QEMU: "qemu-system-x86_64", Memory: "256M", SMP: 1, Machine: "microvm", Timeout: 20 * time.Second, Grace: 10 * time.Second, Net: "user"}},
		{name: "flags stop at BINARY", argv: []string{"/b/app", "-v", "-m", "1G"},
			want: qemu.Config{Accel: "auto", QEMU: "qemu-system-x86_64", Memory: "256M", SMP: 1, Machine: "microvm", Timeout: 10 * time.Minute, Grace: 10 * time.Second, Net: "user"}},
		{name: "network", argv: []string{"-net", "user", "-fwd", "8080:80", "-fwd", "udp:5353:53", "/b/app"},
			want: qemu.Config{Accel: "auto", QEMU: "qemu-system-x86_64", Memory: "256M", SMP: 1, Machine: "microvm", Timeout: 10 * time.Minute, Grace: 10 * time.Second, Net: "user",
				Forward: []qemu.Forward{{Proto: "tcp", HostPort: 8080, GuestPort: 80}, {Proto: "udp", HostPort: 5353, GuestPort: 53}}}},
		{name: "machine", argv: []string{"-machine", "q35", "/b/app"},
			want: qemu.Config{Accel: "auto", QEMU: "qemu-system-x86_64", Memory: "256M", SMP: 1, Machine: "q35", Timeout: 10 * time.Minute, Grace: 10 * time.Second, Net: "user"}},
		{name: "gdbstub", argv: []string{"-gdb", "/tmp/vm.gdb", "/b/app"},
			want: qemu.Config{Accel: "auto", QEMU: "qemu-system-x86_64", Memory: "256M", SMP: 1, Machine: "microvm", Timeout: 10 * time.Minute, Grace: 10 * time.Second, Net: "user", GDB: "/tmp/vm.gdb"}},
		{name: "bad machine", argv: []string{"-machine", "virt", "/b/app"}, wantErr: true},
		{name: "bad forward", argv: []string{"-fwd", "80", "/b/app"}, wantErr: true},
		{name: "no binary", argv: []string{"-v"}, wantErr: true},
		{name: "no grace", argv: []string{"-grace", "0", "/b/app"}, wantErr: true},
		{name: "unknown flag", argv: []string{"-nope", "/b/app"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			cfg, rest, err := parseFlags(tt.argv, tt.env, &stderr)
			if tt.wantErr {
				require.Error(t, err)
				assert.Contains(t, stderr.String(), "usage: unigo-run [flags] BINARY [ARGS...]")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, cfg)
			assert.Equal(t, tt.argv[len(tt.argv)-len(rest)], rest[0], "rest starts at BINARY")
		})
	}
}

// built holds the programs these tests run, built once per test binary.
var built struct {
	once                  sync.Once
	dir                   string
	runner, fakeQEMU, app string
	err                   error
}

func programs(t *testing.T) (runner, fakeQEMU, app string) {
	t.Helper()
	built.once.Do(func() {
		built.dir, built.err = os.MkdirTemp("", "unigo-run-test-")
		if built.err != nil {
			return
		}
		build := func(out, pkg string, env ...string) string {
			path := filepath.Join(built.dir, out)
			cmd := exec.Command("go", "build", "-o", path, pkg)
			cmd.Env = append(os.Environ(), env...)
			if msg, err := cmd.CombinedOutput(); err != nil && built.err == nil {
				built.err = fmt.Errorf("go build %s: %v\n%s", pkg, err, msg)
			}
			return path
		}
		built.runner = build("unigo-run", ".")
		built.fakeQEMU = build("qemu-system-x86_64", "../../qemu/testdata/fakeqemu")
		built.app = build("app", "./testdata/fakeapp", "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	})
	require.NoError(t, built.err)
	return built.runner, built.fakeQEMU, built.app
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// runner is one run of the unigo-run binary.
type runner struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
}

// command prepares unigo-run with flags and args, the fake QEMU as UNIGO_QEMU, the
// fake app as BINARY, and env (which steers the fake) as its whole environment.
func command(t *testing.T, flags, args, env []string) *runner {
	t.Helper()
	bin, fake, app := programs(t)
	r := &runner{}
	r.cmd = exec.Command(bin, append(append(flags, app), args...)...)
	r.cmd.Env = append([]string{"UNIGO_QEMU=" + fake, "UNIGO_ACCEL=tcg"}, env...)
	r.cmd.Stdout, r.cmd.Stderr = &r.stdout, &r.stderr
	return r
}

// exitCode runs r to the end and returns its exit status.
func (r *runner) exitCode(t *testing.T) int {
	t.Helper()
	err := r.cmd.Run()
	if err == nil {
		return 0
	}
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit)
	return exit.ExitCode()
}

func TestExitStatus(t *testing.T) {
	tests := []struct {
		name   string
		env    string
		code   int
		stderr string
	}{
		{"success", "FAKEQEMU_GUEST_EXIT=0", 0, ""},
		{"failure", "FAKEQEMU_GUEST_EXIT=3", 3, ""},
		{"kernel fault", "FAKEQEMU_EXIT=255", status.RunnerKernelFault,
			"unigo-run: the kernel stopped on a fault (report above)\n"},
		{"reset", "FAKEQEMU_EXIT=0", status.RunnerNoStatus,
			"unigo-run: the VM ended without the guest reporting an exit status: it reset (a triple fault?) or QEMU was told to quit\n"},
		{"QEMU error", "FAKEQEMU_EXIT=1", status.RunnerNoStatus,
			"unigo-run: QEMU failed (exit status 1) before the guest reported an exit status; see QEMU's message above\n"},
		{"QEMU killed", "FAKEQEMU_KILL=9", status.RunnerNoStatus,
			"unigo-run: QEMU was killed by signal 9 (killed) before the guest reported an exit status\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := command(t, nil, nil, []string{tt.env})
			assert.Equal(t, tt.code, r.exitCode(t), r.stderr.String())
			assert.Equal(t, tt.stderr, r.stderr.String())
		})
	}
}

func TestMissingQEMU(t *testing.T) {
	r := command(t, nil, nil, nil)
	r.cmd.Env = []string{"PATH=" + t.TempDir()}
	assert.Equal(t, status.RunnerNoStatus, r.exitCode(t))
	assert.Equal(t, "unigo-run: qemu-system-x86_64 not found: install it (Debian/Ubuntu: apt-get install -y qemu-system-x86)\n",
		r.stderr.String())
}

func TestTimeout(t *testing.T) {
	r := command(t, []string{"-timeout", "300ms"}, nil, []string{"FAKEQEMU_SLEEP=1m"})
	start := time.Now()
	assert.Equal(t, status.RunnerNoStatus, r.exitCode(t))
	assert.Less(t, time.Since(start), 10*time.Second)
	assert.Equal(t, "unigo-run: timed out after 300ms; VM killed\n", r.stderr.String())
}

func TestNotAUnigoApp(t *testing.T) {
	r := command(t, nil, nil, nil)
	notApp := filepath.Join(t.TempDir(), "script")
	require.NoError(t, os.WriteFile(notApp, []byte("#!/bin/sh\n"), 0o755))
	r.cmd.Args[1] = notApp
	assert.Equal(t, status.RunnerNoStatus, r.exitCode(t))
	assert.Contains(t, r.stderr.String(), "unigo-run: cannot make a bootable image of "+notApp)
}

// record is what the fake QEMU writes for FAKEQEMU_RECORD.
type record struct {
	Argv   []string
	Kernel []byte
}

func TestArgumentsEnvironmentAndImage(t *testing.T) {
	rec := filepath.Join(t.TempDir(), "record.json")
	args := []string{"a", "b c", `-test.run=^TestX$`, `"q"`, "", "--", "ü\x01"}
	env := []string{"FAKEQEMU_RECORD=" + rec, "FAKEQEMU_GUEST_EXIT=0", "HOME=/root", "EMPTY=", "A.B=dotted"}
	r := command(t, []string{"-m", "512M", "-smp", "2", "-append-extra", "unigo.debug=1"}, args, env)
	_, _, app := programs(t)
	before, err := os.ReadFile(app)
	require.NoError(t, err)

	require.Equal(t, 0, r.exitCode(t), r.stderr.String())

	data, err := os.ReadFile(rec)
	require.NoError(t, err)
	var got record
	require.NoError(t, json.Unmarshal(data, &got))
	joined := strings.Join(got.Argv, " ")
	assert.Contains(t, joined, " -M microvm -accel tcg -cpu max -m 512M -smp 2 ")

	line, qmp := "", ""
	for i := 0; i+1 < len(got.Argv); i++ {
		switch got.Argv[i] {
		case "-append":
			line = got.Argv[i+1]
		case "-qmp":
			qmp = got.Argv[i+1]
		}
	}
	assert.Regexp(t, `^unix:/\S+/qmp\.sock,server=on,wait=off$`, qmp, "unigo-run always has a power button")
	argv0, gotArgs, gotEnv, params := decode(t, line)
	assert.Equal(t, app, argv0, "argv[0] is BINARY as given")
	assert.Equal(t, args, gotArgs)
	assert.Equal(t, r.cmd.Env, gotEnv, "the guest gets unigo-run's environment, in order")
	assert.Equal(t, []string{"unigo.debug=1"}, params)

	f, err := elf.NewFile(bytes.NewReader(got.Kernel))
	require.NoError(t, err, "QEMU got an ELF")
	hasNote := false
	for _, p := range f.Progs {
		hasNote = hasNote || p.Type == elf.PT_NOTE
	}
	assert.True(t, hasNote, "QEMU got the image with the PVH note")
	after, err := os.ReadFile(app)
	require.NoError(t, err)
	assert.Equal(t, before, after, "BINARY itself is never modified")
}

func decode(t *testing.T, line string) (argv0 string, args, env, params []string) {
	t.Helper()
	sc := cmdline.NewScanner([]byte(line))
	buf := make([]byte, len(line))
	for {
		k, n, err := sc.Next(buf)
		require.Equal(t, cmdline.ErrNone, err)
		if k == 0 {
			return
		}
		kind, word, isArgv0 := cmdline.Classify(k, buf[:n])
		switch {
		case isArgv0:
			argv0 = string(word)
		case kind == cmdline.Arg:
			args = append(args, string(word))
		case kind == cmdline.Env:
			env = append(env, string(word))
		default:
			params = append(params, string(word))
		}
	}
}

func TestVerbose(t *testing.T) {
	r := command(t, []string{"-v"}, nil, []string{"FAKEQEMU_GUEST_EXIT=0"})
	require.Equal(t, 0, r.exitCode(t))
	_, fake, _ := programs(t)
	assert.True(t, strings.HasPrefix(r.stderr.String(), fake+" -M microvm "), r.stderr.String())
}

// started is a unigo-run that has booted the fake QEMU, which printed "up" on
// the console and then runs (for a minute, as far as the environment it gets
// says) until something stops it. Its stderr is r.errs. Each run is bounded: by
// -timeout 30s, and by a kill after a minute.
type started struct {
	*runner
	errs    *syncBuffer
	done    chan error // Wait's error
	qmpLog  string
	elapsed func() time.Duration
}

func start(t *testing.T, flags []string, env ...string) *started {
	t.Helper()
	qmpLog := filepath.Join(t.TempDir(), "qmp.log")
	never := filepath.Join(t.TempDir(), "never")
	r := command(t, append([]string{"-timeout", "30s"}, flags...), nil,
		append([]string{"FAKEQEMU_STDOUT=up\n", "FAKEQEMU_QMP_LOG=" + qmpLog, "FAKEQEMU_WAIT=" + never}, env...))
	s := &started{runner: r, errs: &syncBuffer{}, done: make(chan error, 1), qmpLog: qmpLog}
	r.cmd.Stdout = nil
	r.cmd.Stderr = s.errs
	stdout, err := r.cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, r.cmd.Start())
	begin := time.Now()
	s.elapsed = func() time.Duration { return time.Since(begin) }
	killer := time.AfterFunc(time.Minute, func() { r.cmd.Process.Kill() })
	t.Cleanup(func() { killer.Stop() })
	// The console line arrives while the VM runs.
	line := make([]byte, 3)
	_, err = io.ReadFull(stdout, line)
	require.NoError(t, err, "stderr: %s", s.errs.String())
	require.Equal(t, "up\n", string(line))
	go func() {
		io.Copy(io.Discard, stdout)
		s.done <- r.cmd.Wait()
	}()
	return s
}

func (s *started) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	require.NoError(t, s.cmd.Process.Signal(sig))
}

// waitFor waits until check holds, for up to 30s.
func waitFor(t *testing.T, what string, check func() bool) {
	t.Helper()
	require.Eventually(t, check, 30*time.Second, 10*time.Millisecond, "waiting for %s", what)
}

// pressed says whether the fake QEMU's QMP monitor got n presses.
func (s *started) pressed(n int) func() bool {
	return func() bool {
		data, _ := os.ReadFile(s.qmpLog)
		return strings.Count(string(data), "system_powerdown") == n
	}
}

func (s *started) exitCode(t *testing.T) int {
	t.Helper()
	err := <-s.done
	if err == nil {
		return 0
	}
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit)
	return exit.ExitCode()
}

func pressLine(sig syscall.Signal, grace string) string {
	return "unigo-run: got " + sig.String() + ": pressed the VM's power button; it has " + grace + " to exit (again to force it off)\n"
}

func TestSignalPressesThePowerButton(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			// The app handles SIGTERM: it exits with status 4 a little later.
			s := start(t, nil, "FAKEQEMU_POWERDOWN_EXIT=4", "FAKEQEMU_POWERDOWN_DELAY=100ms")
			s.signal(t, sig)
			assert.Equal(t, 4, s.exitCode(t), "the app's own status passes through")
			assert.Equal(t, pressLine(sig, "10s"), s.errs.String())
			assert.True(t, s.pressed(1)())
		})
	}
}

func TestSecondSignalForcesOff(t *testing.T) {
	for _, sigs := range [][2]syscall.Signal{{syscall.SIGINT, syscall.SIGINT}, {syscall.SIGTERM, syscall.SIGINT}, {syscall.SIGINT, syscall.SIGTERM}} {
		t.Run(sigs[0].String()+" then "+sigs[1].String(), func(t *testing.T) {
			// The app ignores the button; the grace period is long.
			s := start(t, []string{"-grace", "1m"})
			s.signal(t, sigs[0])
			waitFor(t, "the press", s.pressed(1))
			s.signal(t, sigs[1])
			assert.Equal(t, 128+int(sigs[1]), s.exitCode(t))
			assert.Less(t, s.elapsed(), 30*time.Second, "the second signal did not cut the grace period short")
			assert.Equal(t, pressLine(sigs[0], "1m0s")+"unigo-run: received "+sigs[1].String()+"; VM killed\n", s.errs.String())
			assert.True(t, s.pressed(1)(), "the second signal presses nothing")
		})
	}
}

func TestHangupKillsAtOnce(t *testing.T) {
	s := start(t, []string{"-grace", "1m"})
	s.signal(t, syscall.SIGHUP)
	assert.Equal(t, 128+int(syscall.SIGHUP), s.exitCode(t))
	assert.Equal(t, "unigo-run: received hangup; VM killed\n", s.errs.String())
	assert.True(t, s.pressed(0)(), "SIGHUP does not press the button")
}

func TestGraceExpires(t *testing.T) {
	s := start(t, []string{"-grace", "300ms"})
	s.signal(t, syscall.SIGTERM)
	assert.Equal(t, status.RunnerNoStatus, s.exitCode(t))
	assert.Equal(t, pressLine(syscall.SIGTERM, "300ms")+
		"unigo-run: did not power off within 300ms of the power button; VM killed\n", s.errs.String())
}

func TestPowerButtonFails(t *testing.T) {
	s := start(t, nil, "FAKEQEMU_QMP_FAIL=no ACPI here")
	s.signal(t, syscall.SIGINT)
	assert.Equal(t, status.RunnerNoStatus, s.exitCode(t))
	assert.Equal(t, pressLine(syscall.SIGINT, "10s")+
		"unigo-run: cannot press the VM's power button: QMP: system_powerdown failed: GenericError: no ACPI here; VM killed\n", s.errs.String())
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestUsage(t *testing.T) {
	r := command(t, nil, nil, nil)
	r.cmd.Args = r.cmd.Args[:1]
	assert.Equal(t, usageStatus, r.exitCode(t))
	assert.Contains(t, r.stderr.String(), "usage: unigo-run [flags] BINARY [ARGS...]")

	r = command(t, nil, nil, nil)
	r.cmd.Args = []string{r.cmd.Args[0], "-h"}
	assert.Equal(t, 0, r.exitCode(t))
	for _, flag := range []string{"-accel", "-m SIZE", "-smp N", "-qemu", "-timeout DURATION", "-grace DURATION", "-v", "-append-extra", "-gdb PATH", "UNIGO_ACCEL", "UNIGO_QEMU",
		"QEMU's -smp and -m", `-exec "go tool unigo-run -smp 4 -m 512M"`, "presses the VM's ACPI power button", "A second Ctrl-C"} {
		assert.Contains(t, r.stderr.String(), flag)
	}
}

func TestMessageStartsOnItsOwnLine(t *testing.T) {
	for console, want := range map[string]string{
		"booting":   "booting\nunigo-run: timed out after 200ms; VM killed\n",
		"booting\n": "booting\nunigo-run: timed out after 200ms; VM killed\n",
	} {
		r := command(t, []string{"-timeout=200ms"}, nil, []string{"FAKEQEMU_STDOUT=" + console, "FAKEQEMU_SLEEP=1m"})
		var both bytes.Buffer // as go test gives them: one pipe
		r.cmd.Stdout, r.cmd.Stderr = &both, &both
		assert.Equal(t, status.RunnerNoStatus, r.exitCode(t))
		assert.Equal(t, want, both.String())
	}
}
