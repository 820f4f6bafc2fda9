package main

import (
	"bytes"
	"debug/elf"
	"encoding/json"
	"fmt"
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
			want: qemu.Config{Accel: "auto", QEMU: "qemu-system-x86_64", Memory: "256M", SMP: 1, Timeout: 10 * time.Minute}},
		{name: "environment", argv: []string{"/b/app"}, env: []string{"UNIGO_ACCEL=tcg", "UNIGO_QEMU=/opt/qemu"},
			want: qemu.Config{Accel: "tcg", QEMU: "/opt/qemu", Memory: "256M", SMP: 1, Timeout: 10 * time.Minute}},
		{name: "flags beat environment",
			argv: []string{"-accel", "kvm", "-qemu", "/q", "-m", "1G", "-smp", "4", "-v", "-append-extra", "unigo.x=1", "-timeout", "0", "/b/app"},
			env:  []string{"UNIGO_ACCEL=tcg", "UNIGO_QEMU=/opt/qemu"},
			want: qemu.Config{Accel: "kvm", QEMU: "/q", Memory: "1G", SMP: 4, Verbose: true, AppendExtra: "unigo.x=1"}},
		{name: "test timeout plus a minute", argv: []string{"/b/app.test", "-test.timeout=3m0s", "-test.v"},
			want: qemu.Config{Accel: "auto", QEMU: "qemu-system-x86_64", Memory: "256M", SMP: 1, Timeout: 4 * time.Minute}},
		{name: "explicit timeout wins", argv: []string{"-timeout=20s", "/b/app.test", "-test.timeout=3m0s"},
			want: qemu.Config{Accel: "auto", QEMU: "qemu-system-x86_64", Memory: "256M", SMP: 1, Timeout: 20 * time.Second}},
		{name: "flags stop at BINARY", argv: []string{"/b/app", "-v", "-m", "1G"},
			want: qemu.Config{Accel: "auto", QEMU: "qemu-system-x86_64", Memory: "256M", SMP: 1, Timeout: 10 * time.Minute}},
		{name: "no binary", argv: []string{"-v"}, wantErr: true},
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

	line := got.Argv[len(got.Argv)-1]
	require.Equal(t, "-append", got.Argv[len(got.Argv)-2])
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

func TestSignalStopsTheVM(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			proceed := filepath.Join(t.TempDir(), "never")
			r := command(t, nil, nil, []string{"FAKEQEMU_STDOUT=up\n", "FAKEQEMU_WAIT=" + proceed})
			r.cmd.Stdout = nil
			stdout, err := r.cmd.StdoutPipe()
			require.NoError(t, err)
			require.NoError(t, r.cmd.Start())
			// The console line arrives while the VM still runs: the output streams.
			line := make([]byte, 3)
			_, err = stdout.Read(line)
			require.NoError(t, err)
			require.Equal(t, "up\n", string(line))

			require.NoError(t, r.cmd.Process.Signal(sig))
			err = r.cmd.Wait()
			var exit *exec.ExitError
			require.ErrorAs(t, err, &exit)
			assert.Equal(t, 128+int(sig), exit.ExitCode())
			assert.Equal(t, "unigo-run: received "+sig.String()+"; VM killed\n", r.stderr.String())
		})
	}
}

func TestUsage(t *testing.T) {
	r := command(t, nil, nil, nil)
	r.cmd.Args = r.cmd.Args[:1]
	assert.Equal(t, usageStatus, r.exitCode(t))
	assert.Contains(t, r.stderr.String(), "usage: unigo-run [flags] BINARY [ARGS...]")

	r = command(t, nil, nil, nil)
	r.cmd.Args = []string{r.cmd.Args[0], "-h"}
	assert.Equal(t, 0, r.exitCode(t))
	for _, flag := range []string{"-accel", "-m string", "-smp int", "-qemu", "-timeout", "-v", "-append-extra", "UNIGO_ACCEL", "UNIGO_QEMU"} {
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
