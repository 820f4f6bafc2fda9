package qemu_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unigo-dev/unigo/boot/qemu"
	"github.com/unigo-dev/unigo/boot/status"
)

// kvmDevices returns a KVM device path that opens read-write and one that does
// not exist, so a test decides what -accel auto finds.
func kvmDevices(t *testing.T) (usable, missing string) {
	t.Helper()
	dir := t.TempDir()
	usable = filepath.Join(dir, "kvm")
	require.NoError(t, os.WriteFile(usable, nil, 0o600))
	return usable, filepath.Join(dir, "no-kvm")
}

// moduleDir makes a fake /sys/module listing the given kernel modules.
func moduleDir(t *testing.T, modules ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, m := range modules {
		require.NoError(t, os.Mkdir(filepath.Join(dir, m), 0o755))
	}
	return dir
}

func TestCommand(t *testing.T) {
	usable, missing := kvmDevices(t)
	vmx := moduleDir(t, "kvm", "kvm_intel")
	tail := []string{
		"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
		"-device", "isa-debug-exit,iobase=0xf4,iosize=4",
		"-global", "virtio-mmio.force-legacy=false",
		"-serial", "stdio",
		"-kernel", "/tmp/x/kernel.elf",
		"-append", `A=1 -- "b c"`,
		"-device", "virtio-rng-device",
		// The default network: virtio-net on QEMU's user network.
		"-netdev", "user,id=net0", "-device", "virtio-net-device,netdev=net0",
	}
	tests := []struct {
		name string
		cfg  qemu.Config
		head []string
	}{
		{"auto finds KVM", qemu.Config{KVMDevice: usable, ModuleDir: vmx},
			[]string{"qemu-system-x86_64", "-M", "microvm", "-accel", "kvm", "-cpu", "host", "-m", "256M", "-smp", "1"}},
		{"auto without KVM", qemu.Config{KVMDevice: missing},
			[]string{"qemu-system-x86_64", "-M", "microvm", "-accel", "tcg", "-cpu", "max", "-m", "256M", "-smp", "1"}},
		{"tcg even with KVM", qemu.Config{Accel: qemu.AccelTCG, KVMDevice: usable, ModuleDir: vmx},
			[]string{"qemu-system-x86_64", "-M", "microvm", "-accel", "tcg", "-cpu", "max", "-m", "256M", "-smp", "1"}},
		{"auto passes over PVM", qemu.Config{KVMDevice: usable, ModuleDir: moduleDir(t, "kvm", "kvm_pvm")},
			[]string{"qemu-system-x86_64", "-M", "microvm", "-accel", "tcg", "-cpu", "max", "-m", "256M", "-smp", "1"}},
		{"explicit kvm", qemu.Config{Accel: qemu.AccelKVM, KVMDevice: usable, ModuleDir: vmx},
			[]string{"qemu-system-x86_64", "-M", "microvm", "-accel", "kvm", "-cpu", "host", "-m", "256M", "-smp", "1"}},
		{"sizes and binary", qemu.Config{QEMU: "/opt/q/qemu", Memory: "1G", SMP: 4, KVMDevice: missing},
			[]string{"/opt/q/qemu", "-M", "microvm", "-accel", "tcg", "-cpu", "max", "-m", "1G", "-smp", "4"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.cfg.Command("/tmp/x/kernel.elf", `A=1 -- "b c"`)
			assert.Equal(t, append(tt.head, tail...), got)
		})
	}
}

func TestCommandGDB(t *testing.T) {
	_, missing := kvmDevices(t)
	got := qemu.Config{KVMDevice: missing, GDB: "/tmp/a,b/vm.gdb"}.Command("/k", "x")
	assert.Equal(t, []string{"-gdb", "unix:/tmp/a,,b/vm.gdb,server=on,wait=off"}, got[len(got)-2:])
	assert.NotContains(t, qemu.Config{KVMDevice: missing}.Command("/k", "x"), "-gdb")
}

func TestAccelerator(t *testing.T) {
	usable, missing := kvmDevices(t)
	_, err := qemu.Config{Accel: qemu.AccelKVM, KVMDevice: missing}.Accelerator()
	require.Error(t, err)
	assert.Contains(t, err.Error(), missing)
	assert.Contains(t, err.Error(), "-accel tcg", "the error says what to do instead")

	_, err = qemu.Config{Accel: "hvf"}.Accelerator()
	assert.EqualError(t, err, `unknown accelerator "hvf": want auto, kvm or tcg`)

	vmx, svm, pvm := moduleDir(t, "kvm", "kvm_intel"), moduleDir(t, "kvm", "kvm_amd"), moduleDir(t, "kvm", "kvm_pvm")
	for accel, want := range map[string]string{"": "kvm", "auto": "kvm", "kvm": "kvm", "tcg": "tcg"} {
		for _, mods := range []string{vmx, svm} {
			got, err := qemu.Config{Accel: accel, KVMDevice: usable, ModuleDir: mods}.Accelerator()
			require.NoError(t, err)
			assert.Equal(t, want, got, "accel %q", accel)
		}
	}

	// PVM runs ring 0 in its instruction emulator: auto falls back to TCG and
	// an explicit kvm is refused with the reason.
	got, err := qemu.Config{KVMDevice: usable, ModuleDir: pvm}.Accelerator()
	require.NoError(t, err)
	assert.Equal(t, "tcg", got)
	_, err = qemu.Config{Accel: qemu.AccelKVM, KVMDevice: usable, ModuleDir: pvm}.Accelerator()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "kvm_pvm")
	assert.Contains(t, err.Error(), "-accel tcg")
}

// run runs the fake QEMU with a guest environment that steers it, copying the app
// as its image.
func run(t *testing.T, cfg qemu.Config, args []string, env ...string) (qemu.Result, error, string, string) {
	t.Helper()
	cfg.QEMU = buildFakeQEMU(t)
	cfg.Accel = qemu.AccelTCG
	cfg.MakeImage = copyFile
	var stdout, stderr bytes.Buffer
	res, err := qemu.Run(context.Background(), cfg, fakeApp(t), args, env, &stdout, &stderr)
	return res, err, stdout.String(), stderr.String()
}

func TestRunPassesArgsAndEnvByteExact(t *testing.T) {
	rec := filepath.Join(t.TempDir(), "record.json")
	args := []string{"-test.run=^TestX$", "-test.v", "a b", `say "hi"`, `back\slash`, "", "--",
		"tab\tnew\nline", "ünïcödé", "\x01\x7f\xff", "virtio_mmio.device=1", "NAME=value"}
	env := []string{"FAKEQEMU_RECORD=" + rec, "FAKEQEMU_GUEST_EXIT=0", "PATH=/usr/bin:/bin", "EMPTY=", "SPACE=a b",
		"QUOTE=\"", "my.dotted=x", "HOME=/root", "EQ=a=b"}
	app := fakeApp(t)
	cfg := qemu.Config{QEMU: buildFakeQEMU(t), Accel: qemu.AccelTCG, MakeImage: copyFile}

	res, err := qemu.Run(context.Background(), cfg, app, args, env, nil, nil)
	require.NoError(t, err)
	assert.Equal(t, 0, res.ExitCode)

	r := readRecord(t, rec)
	got := decode(t, option(t, r.Argv, "-append"))
	assert.Equal(t, decoded{Argv0: app, Args: args, Env: env}, got)
}

func TestRunMakesAndRemovesImage(t *testing.T) {
	rec := filepath.Join(t.TempDir(), "record.json")
	app := fakeApp(t)
	before, err := os.ReadFile(app)
	require.NoError(t, err)
	var madeFrom string
	cfg := qemu.Config{
		QEMU:  buildFakeQEMU(t),
		Accel: qemu.AccelTCG,
		MakeImage: func(src, dst string) error {
			madeFrom = src
			return os.WriteFile(dst, []byte("the image"), 0o644)
		},
	}

	_, err = qemu.Run(context.Background(), cfg, app, nil, []string{"FAKEQEMU_RECORD=" + rec}, nil, nil)
	require.NoError(t, err)

	r := readRecord(t, rec)
	assert.Equal(t, app, madeFrom)
	assert.Equal(t, "the image", string(r.Kernel), "QEMU boots the image, not the app")
	kernel := option(t, r.Argv, "-kernel")
	assert.NotEqual(t, app, kernel)
	assert.NoDirExists(t, filepath.Dir(kernel), "the temporary directory is removed")
	after, err := os.ReadFile(app)
	require.NoError(t, err)
	assert.Equal(t, before, after, "the app itself is never modified")
}

func TestRunImageFailure(t *testing.T) {
	cfg := qemu.Config{
		QEMU:      buildFakeQEMU(t),
		MakeImage: func(src, dst string) error { return errors.New("no PVH marker") },
	}
	res, err := qemu.Run(context.Background(), cfg, "/some/app", nil, nil, nil, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "cannot make a bootable image of /some/app")
	assert.Contains(t, err.Error(), "no PVH marker")
	assert.Equal(t, status.RunnerNoStatus, res.ExitCode)
}

func TestRunOutcomes(t *testing.T) {
	tests := []struct {
		name    string
		env     []string
		outcome status.Outcome
		code    int
		qemu    int
		reason  string
	}{
		{"success", []string{"FAKEQEMU_GUEST_EXIT=0"}, status.Exited, 0, 3, ""},
		{"failure", []string{"FAKEQEMU_GUEST_EXIT=1"}, status.Exited, 1, 5, ""},
		{"largest status", []string{"FAKEQEMU_GUEST_EXIT=125"}, status.Exited, 125, 253, ""},
		{"kernel fault", []string{"FAKEQEMU_EXIT=255"}, status.Fault, status.RunnerKernelFault, 255,
			"the kernel stopped on a fault (report above)"},
		{"reset or triple fault", []string{"FAKEQEMU_EXIT=0"}, status.NoStatus, status.RunnerNoStatus, 0,
			"it reset (a triple fault?)"},
		{"QEMU error", []string{"FAKEQEMU_EXIT=1"}, status.NoStatus, status.RunnerNoStatus, 1,
			"QEMU failed (exit status 1)"},
		{"other status", []string{"FAKEQEMU_EXIT=2"}, status.NoStatus, status.RunnerNoStatus, 2,
			"QEMU exited with status 2"},
		{"killed", []string{"FAKEQEMU_KILL=9"}, status.NoStatus, status.RunnerNoStatus, -1,
			"QEMU was killed by signal 9 (killed)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err, _, _ := run(t, qemu.Config{}, nil, tt.env...)
			require.NoError(t, err)
			assert.Equal(t, tt.outcome, res.Outcome)
			assert.Equal(t, tt.code, res.ExitCode)
			assert.Equal(t, tt.qemu, res.QEMUStatus)
			if tt.outcome == status.Exited {
				assert.Equal(t, tt.code, res.ProcessStatus)
				assert.Empty(t, res.Reason)
			} else {
				assert.Contains(t, res.Reason, tt.reason)
			}
			assert.False(t, res.TimedOut)
		})
	}
}

func TestRunTimeoutKillsTheWholeVM(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	start := time.Now()
	res, err, _, _ := run(t, qemu.Config{Timeout: 300 * time.Millisecond}, nil,
		"FAKEQEMU_CHILD="+pidFile, "FAKEQEMU_SLEEP=1m")
	require.NoError(t, err)
	assert.Less(t, time.Since(start), 10*time.Second, "Run waited for the VM instead of killing it")
	assert.True(t, res.TimedOut)
	assert.Equal(t, "timed out after 300ms; VM killed", res.Reason)
	assert.Equal(t, status.NoStatus, res.Outcome)
	assert.Equal(t, status.RunnerNoStatus, res.ExitCode)

	data, err := os.ReadFile(pidFile)
	require.NoError(t, err)
	child, err := strconv.Atoi(string(data))
	require.NoError(t, err)
	assert.Eventually(t, func() bool { return processGone(child) }, 5*time.Second, 10*time.Millisecond,
		"a process QEMU started outlived the kill")
}

func TestRunTimeoutNotReachedKeepsStatus(t *testing.T) {
	res, err, _, _ := run(t, qemu.Config{Timeout: time.Minute}, nil, "FAKEQEMU_GUEST_EXIT=7")
	require.NoError(t, err)
	assert.False(t, res.TimedOut)
	assert.Equal(t, 7, res.ExitCode)
}

func TestRunInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	ready := filepath.Join(t.TempDir(), "ready")
	cfg := qemu.Config{QEMU: buildFakeQEMU(t), Accel: qemu.AccelTCG, MakeImage: copyFile}
	stdout := &notify{want: "up", ch: make(chan struct{})}
	go func() {
		<-stdout.ch
		cancel(qemu.Interrupted{Signal: syscall.SIGINT})
	}()
	res, err := qemu.Run(ctx, cfg, fakeApp(t), nil,
		[]string{"FAKEQEMU_STDOUT=up", "FAKEQEMU_WAIT=" + ready}, stdout, nil)
	require.NoError(t, err, "an interrupt is an outcome, not an error")
	assert.Equal(t, syscall.SIGINT, res.Signal)
	assert.Equal(t, 130, res.ExitCode)
	assert.Equal(t, "received interrupt; VM killed", res.Reason)
}

func TestRunInterruptedBeforeStart(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(qemu.Interrupted{Signal: syscall.SIGTERM})
	rec := filepath.Join(t.TempDir(), "record.json")
	cfg := qemu.Config{QEMU: buildFakeQEMU(t), Accel: qemu.AccelTCG, MakeImage: copyFile}
	res, err := qemu.Run(ctx, cfg, fakeApp(t), nil, []string{"FAKEQEMU_RECORD=" + rec}, nil, nil)
	require.NoError(t, err)
	assert.Equal(t, 128+int(syscall.SIGTERM), res.ExitCode)
	assert.Equal(t, "received terminated; VM not started", res.Reason)
	assert.NoFileExists(t, rec, "QEMU was started anyway")
}

func TestRunCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cfg := qemu.Config{QEMU: buildFakeQEMU(t), Accel: qemu.AccelTCG, MakeImage: copyFile}
	time.AfterFunc(100*time.Millisecond, cancel)
	res, err := qemu.Run(ctx, cfg, fakeApp(t), nil, []string{"FAKEQEMU_SLEEP=1m"}, nil, nil)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, status.RunnerNoStatus, res.ExitCode)
	assert.Nil(t, res.Signal)
}

func TestRunMissingQEMU(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	for _, name := range []string{"qemu-system-x86_64", filepath.Join(t.TempDir(), "qemu-system-x86_64")} {
		res, err := qemu.Run(context.Background(), qemu.Config{QEMU: name}, fakeApp(t), nil, nil, nil, nil)
		require.ErrorIs(t, err, qemu.ErrNotFound)
		assert.EqualError(t, err, name+" not found: install it (Debian/Ubuntu: apt-get install -y qemu-system-x86)")
		assert.Equal(t, status.RunnerNoStatus, res.ExitCode)
	}
}

// notify is a writer that records what it gets and closes ch once want has
// arrived.
type notify struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	want string
	ch   chan struct{}
	done bool
}

func (n *notify) Write(p []byte) (int, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.buf.Write(p)
	if !n.done && strings.Contains(n.buf.String(), n.want) {
		n.done = true
		close(n.ch)
	}
	return len(p), nil
}

func TestRunStreamsConsole(t *testing.T) {
	// The fake prints, then waits for a file that the test creates only once the
	// print has reached Run's stdout: a runner that buffered until QEMU exits
	// would never see it (and the timeout would end the run).
	proceed := filepath.Join(t.TempDir(), "proceed")
	stdout := &notify{want: "=== RUN   TestX\n", ch: make(chan struct{})}
	go func() {
		<-stdout.ch
		os.WriteFile(proceed, nil, 0o644)
	}()
	cfg := qemu.Config{QEMU: buildFakeQEMU(t), Accel: qemu.AccelTCG, MakeImage: copyFile, Timeout: 20 * time.Second}
	res, err := qemu.Run(context.Background(), cfg, fakeApp(t), nil,
		[]string{"FAKEQEMU_STDOUT==== RUN   TestX\n", "FAKEQEMU_WAIT=" + proceed, "FAKEQEMU_GUEST_EXIT=0"}, stdout, nil)
	require.NoError(t, err)
	assert.False(t, res.TimedOut, "the console output was held back")
	assert.Equal(t, 0, res.ExitCode)
	assert.Equal(t, "=== RUN   TestX\n", stdout.buf.String(), "console bytes pass unchanged")
}

func TestRunStderrAndVerbose(t *testing.T) {
	res, err, stdout, stderr := run(t, qemu.Config{Verbose: true}, []string{"it's"},
		"FAKEQEMU_STDERR=qemu-system-x86_64: something\n", "FAKEQEMU_EXIT=1")
	require.NoError(t, err)
	assert.Equal(t, 1, res.QEMUStatus)
	assert.Empty(t, stdout)
	lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
	require.Len(t, lines, 2, stderr)
	assert.Contains(t, lines[0], " -M microvm -accel tcg -cpu max ", "-v prints the command first")
	assert.True(t, strings.HasSuffix(lines[0], ` FAKEQEMU_EXIT=1 -- it'\''s' -device virtio-rng-device -netdev user,id=net0 -device virtio-net-device,netdev=net0`), "quoted for a shell: %s", lines[0])
	assert.Equal(t, "qemu-system-x86_64: something", lines[1])
}

func TestKernelCmdline(t *testing.T) {
	line, err := qemu.KernelCmdline("/bin/app", []string{"x y"}, []string{"A=1"}, "unigo.debug=1 virtio_mmio.force=2")
	require.NoError(t, err)
	assert.Equal(t, decoded{Argv0: "/bin/app", Args: []string{"x y"}, Env: []string{"A=1"},
		Params: []string{"unigo.debug=1", "virtio_mmio.force=2"}}, decode(t, line),
		"extra parameters go before the environment and arguments, and stay parameters")

	_, err = qemu.KernelCmdline("/bin/app", []string{"a\x00b"}, nil, "")
	assert.ErrorContains(t, err, "NUL")
	_, err = qemu.KernelCmdline("/bin/app", nil, []string{"NOEQUALS"}, "")
	assert.ErrorContains(t, err, `"NOEQUALS" is not NAME=VALUE`)
}

func TestKernelCmdlineLimit(t *testing.T) {
	fixed, err := qemu.KernelCmdline("/app", nil, []string{"BIG="}, "")
	require.NoError(t, err)
	// BIG= encodes as BIG="" (two bytes) when empty, bare when not.
	room := qemu.MaxAppend - (len(fixed) - 2)

	line, err := qemu.KernelCmdline("/app", nil, []string{"BIG=" + strings.Repeat("x", room)}, "")
	require.NoError(t, err)
	assert.Len(t, line, qemu.MaxAppend, "exactly at the limit is fine")

	_, err = qemu.KernelCmdline("/app", []string{"small", strings.Repeat("y", 1000)},
		[]string{"BIG=" + strings.Repeat("x", room+1), "HOME=/root"}, "")
	require.Error(t, err)
	msg := err.Error()
	assert.Contains(t, msg, "bytes, over the 131071 QEMU can be given")
	assert.Contains(t, msg, "the biggest parts: environment variable BIG (131052 bytes), argument 2 (1000 bytes), the program path (16 bytes)")
	assert.Contains(t, msg, "unset or shorten them")
}

func TestRealQEMUVersion(t *testing.T) {
	path, err := exec.LookPath(qemu.DefaultQEMU)
	if err != nil {
		t.Skipf("%s is not installed (apt-get install -y qemu-system-x86): %v", qemu.DefaultQEMU, err)
	}
	out, err := exec.Command(path, "-version").CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "QEMU emulator version")
	t.Logf("%s", bytes.TrimSpace(out))
}

func TestNetwork(t *testing.T) {
	tail := func(c qemu.Config) []string {
		argv := c.Command("/k", "x")
		i := slices.Index(argv, "-netdev")
		if i < 0 {
			return nil
		}
		return argv[i:]
	}
	assert.Equal(t, []string{"-netdev", "user,id=net0", "-device", "virtio-net-device,netdev=net0"}, tail(qemu.Config{Accel: qemu.AccelTCG}))
	fwd := qemu.Config{Accel: qemu.AccelTCG, Forward: []qemu.Forward{{"tcp", 8080, 80}, {"udp", 5353, 53}}}
	assert.Equal(t, []string{"-netdev", "user,id=net0,hostfwd=tcp:127.0.0.1:8080-:80,hostfwd=udp:127.0.0.1:5353-:53",
		"-device", "virtio-net-device,netdev=net0"}, tail(fwd))
	assert.Empty(t, tail(qemu.Config{Accel: qemu.AccelTCG, Net: qemu.NetNone}))
	assert.Equal(t, []string{"-netdev", "tap,id=net0,ifname=tap0,script=no,downscript=no", "-device", "virtio-net-device,netdev=net0"},
		tail(qemu.Config{Accel: qemu.AccelTCG, Net: "tap:tap0"}))
	for _, bad := range []qemu.Config{
		{Net: "bogus"}, {Net: "tap:"}, {Net: "tap:a,b"},
		{Net: qemu.NetNone, Forward: []qemu.Forward{{"tcp", 1, 2}}},
		{Net: "tap:tap0", Forward: []qemu.Forward{{"tcp", 1, 2}}},
		{Forward: []qemu.Forward{{"sctp", 1, 2}}},
	} {
		assert.Error(t, bad.CheckNet(), "%+v", bad)
	}
	f, err := qemu.ParseForward("8080:80")
	require.NoError(t, err)
	assert.Equal(t, qemu.Forward{"tcp", 8080, 80}, f)
	f, err = qemu.ParseForward("udp:0:53")
	require.NoError(t, err)
	assert.Equal(t, qemu.Forward{"udp", 0, 53}, f)
	for _, bad := range []string{"", "80", "tcp:80", "x:1:2", "1:0", "70000:1", "a:b"} {
		_, err := qemu.ParseForward(bad)
		assert.Error(t, err, bad)
	}
}

// TestMachine proves q35 and pc get modern virtio-pci devices and no
// virtio-mmio option, and that other machines are refused.
func TestMachine(t *testing.T) {
	for _, m := range []string{qemu.MachineQ35, qemu.MachinePC} {
		c := qemu.Config{Accel: qemu.AccelTCG, Machine: m, Forward: []qemu.Forward{{"tcp", 8080, 80}}}
		require.NoError(t, c.CheckMachine())
		argv := c.Command("/k", "x")
		assert.Equal(t, []string{"qemu-system-x86_64", "-M", m}, argv[:3])
		assert.NotContains(t, argv, "virtio-mmio.force-legacy=false")
		assert.Contains(t, argv, "isa-debug-exit,iobase=0xf4,iosize=4")
		i := slices.Index(argv, "-serial")
		require.Positive(t, i)
		assert.Equal(t, []string{"-serial", "stdio", "-kernel", "/k", "-append", "x",
			"-device", "virtio-rng-pci,disable-legacy=on",
			"-netdev", "user,id=net0,hostfwd=tcp:127.0.0.1:8080-:80",
			"-device", "virtio-net-pci,disable-legacy=on,netdev=net0"}, argv[i:])
		c.NoRNG, c.Net, c.Forward = true, qemu.NetNone, nil
		assert.NotContains(t, strings.Join(c.Command("/k", "x"), " "), "virtio")
	}
	assert.NoError(t, qemu.Config{}.CheckMachine())
	assert.Error(t, qemu.Config{Machine: "virt"}.CheckMachine())
}
