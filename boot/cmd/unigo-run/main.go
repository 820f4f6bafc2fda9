// Command unigo-run boots a unigo app under QEMU as if it were an ordinary Linux
// process. It follows the go command's -exec contract, so
//
//	go run -tags unikernel -exec "go tool unigo-run" ./app a "b c"
//	go test -tags unikernel -exec "go tool unigo-run" ./qemu-tests/...
//
// run the app (or test binary) in a microvm with its arguments and environment
// byte-exact, its console on stdout, and its exit status as the command's.
//
// Usage:
//
//	unigo-run [flags] BINARY [ARGS...]
//
// Flags come before BINARY; everything from BINARY on is the app's. Run with -h
// for the flags. The environment can set two defaults: UNIGO_ACCEL (-accel) and
// UNIGO_QEMU (-qemu).
//
// -smp N and -m SIZE are QEMU's options of those names (CPUs and guest memory):
//
//	go test -tags unikernel -exec "go tool unigo-run -smp 4 -m 512M" ./...
//
// The exit status is the app's; 126 when the kernel stopped on a fault, 127 when
// the VM ended without a status (QEMU error, reset or triple fault, timeout, no
// power-off within the grace period), and 128+n when signal n made unigo-run kill
// the VM. The work is done by boot/qemu.
//
// # Stopping the app gracefully
//
// Ctrl-C (SIGINT) or kill -TERM <unigo-run's pid> stops the app as a shutdown
// stops a machine: unigo-run presses the VM's ACPI power button (over QEMU's QMP
// socket), the kernel delivers SIGTERM to the app, and an app that handles it
// (os/signal.Notify(c, syscall.SIGTERM)) can finish its work and exit with a status
// of its choosing, which becomes unigo-run's. An app still running -grace (10s)
// after the press is killed, with status 127. A second Ctrl-C or SIGTERM, or a
// SIGHUP at any time, kills the VM at once, with status 128+signal.
//
// To press the power button of a QEMU started by hand, give it
// -qmp unix:/tmp/vm.qmp,server=on,wait=off and send {"execute":"qmp_capabilities"}
// then {"execute":"system_powerdown"} to that socket, for example
//
//	printf '%s\n' '{"execute":"qmp_capabilities"}' '{"execute":"system_powerdown"}' | socat - UNIX-CONNECT:/tmp/vm.qmp
//
// (boot/qemu's package doc has a python3 line for a machine without socat).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/unigo-dev/unigo/boot/qemu"
	"github.com/unigo-dev/unigo/boot/status"
)

const (
	// defaultTimeout bounds a run when neither -timeout nor -test.timeout says.
	defaultTimeout = 10 * time.Minute
	// testTimeoutMargin is added to a test binary's -test.timeout so that the
	// test's own timeout, with its goroutine dump, fires before the VM is killed.
	testTimeoutMargin = time.Minute
	// usageStatus is the exit status for bad flags, as the flag package's.
	usageStatus = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}

// run is the whole command: argv without the program name, the environment to
// hand the app (and to read UNIGO_* from); it returns the exit status.
func run(argv, env []string, stdout, stderr io.Writer) int {
	cfg, rest, err := parseFlags(argv, env, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return usageStatus
	}
	binary, args := rest[0], rest[1:]

	console := &lineTracker{w: stdout}
	say := func(msg string) {
		// go test hands stdout and stderr the same pipe: after a console that
		// stopped mid-line (a hang, a kill), start the message on a line of its own.
		if console.midLine.Load() {
			fmt.Fprintln(stderr)
		}
		fmt.Fprintf(stderr, "unigo-run: %s\n", msg)
	}
	ctx, presses, stopSignals := signals(cfg.Grace, say)
	defer stopSignals()
	cfg.PowerDown = presses
	res, err := qemu.Run(ctx, cfg, binary, args, env, console, stderr)
	msg := res.Reason // it has err's message, and what became of the VM
	if msg == "" && err != nil {
		msg = err.Error()
	}
	if msg != "" {
		say(msg)
	}
	return res.ExitCode
}

// lineTracker passes the console through and remembers whether it ended mid-line.
type lineTracker struct {
	w       io.Writer
	midLine atomic.Bool
}

func (t *lineTracker) Write(p []byte) (int, error) {
	if len(p) > 0 {
		t.midLine.Store(p[len(p)-1] != '\n')
	}
	return t.w.Write(p)
}

// parseFlags reads the flags before BINARY. rest is BINARY and its arguments.
func parseFlags(argv, env []string, stderr io.Writer) (cfg qemu.Config, rest []string, err error) {
	fs := flag.NewFlagSet("unigo-run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.Accel, "accel", lookupEnv(env, "UNIGO_ACCEL", qemu.AccelAuto),
		"accelerator: auto (KVM when "+qemu.DefaultKVMDevice+" opens read-write, TCG otherwise), kvm or tcg;\n$UNIGO_ACCEL sets the default")
	fs.StringVar(&cfg.Memory, "m", qemu.DefaultMemory, "the guest's memory `SIZE`, as QEMU's -m (512M, 2G)")
	fs.IntVar(&cfg.SMP, "smp", 1, "the number `N` of CPUs, as QEMU's -smp")
	fs.StringVar(&cfg.Machine, "machine", qemu.MachineMicrovm,
		"QEMU's machine `TYPE`: microvm (virtio-mmio devices), q35 or pc (virtio-pci devices; SeaBIOS boots first,\nabout 150 ms more under TCG)")
	fs.StringVar(&cfg.CPU, "cpu", "", "CPU model, as QEMU's -cpu (default host under KVM, max under TCG)")
	fs.StringVar(&cfg.QEMU, "qemu", lookupEnv(env, "UNIGO_QEMU", qemu.DefaultQEMU),
		"QEMU binary, a path or a name looked up in PATH; $UNIGO_QEMU sets the default")
	fs.DurationVar(&cfg.Timeout, "timeout", defaultTimeout,
		"kill the VM after `DURATION`; 0 for never. Unset, a test binary's -test.timeout=D makes it D+1m")
	fs.DurationVar(&cfg.Grace, "grace", qemu.DefaultGrace,
		"kill the VM if it is still running `DURATION` after Ctrl-C or SIGTERM pressed its power button")
	fs.BoolVar(&cfg.Verbose, "v", false, "print the QEMU command line on stderr")
	fs.StringVar(&cfg.Net, "net", qemu.NetUser,
		"the guest's network: user (QEMU's user network: the guest is 10.0.2.15, the host 10.0.2.2), none, or tap:IFNAME")
	fs.Func("fwd", "forward a host port, bound to 127.0.0.1, to a guest port: [tcp|udp:]HOSTPORT:GUESTPORT (repeatable; -net user)",
		func(v string) error {
			f, err := qemu.ParseForward(v)
			if err == nil {
				cfg.Forward = append(cfg.Forward, f)
			}
			return err
		})
	fs.StringVar(&cfg.GDB, "gdb", "",
		"serve QEMU's gdbstub on the Unix socket `PATH` while the guest runs: for gdb (target remote PATH)\nor the whole-guest profiler bench/guestprof")
	fs.StringVar(&cfg.AppendExtra, "append-extra", "",
		"raw kernel parameters, put before the app's environment and arguments (for debugging)")
	fs.Usage = func() { usage(fs) }

	if err := fs.Parse(argv); err != nil {
		return cfg, nil, err
	}
	if cfg.Grace <= 0 {
		fmt.Fprintf(stderr, "unigo-run: -grace %v: it must be more than 0 (a second Ctrl-C kills the VM at once)\n", cfg.Grace)
		fs.Usage()
		return cfg, nil, errors.New("bad -grace")
	}
	if err := cfg.CheckMachine(); err != nil {
		fmt.Fprintf(stderr, "unigo-run: -machine: %v\n", err)
		fs.Usage()
		return cfg, nil, err
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "unigo-run: no BINARY to run")
		fs.Usage()
		return cfg, nil, errors.New("no binary")
	}
	rest = fs.Args()
	if !flagSet(fs, "timeout") {
		if d := testTimeout(rest[1:]); d > 0 {
			cfg.Timeout = d + testTimeoutMargin
		}
	}
	return cfg, rest, nil
}

func usage(fs *flag.FlagSet) {
	w := fs.Output()
	fmt.Fprintf(w, `usage: unigo-run [flags] BINARY [ARGS...]

Boots BINARY, a Go program built with -tags unikernel, under QEMU with ARGS and
this environment, its console on stdout, and exits with its exit status (%[1]d: the
kernel stopped on a fault; %[2]d: the VM ended without a status; 128+n: signal n).
For go's -exec:

	go run -tags unikernel -exec "go tool unigo-run" ./app a "b c"
	go test -tags unikernel -exec "go tool unigo-run" ./...
	go test -tags unikernel -exec "go tool unigo-run -smp 4 -m 512M" ./...

-smp N and -m SIZE are QEMU's -smp and -m: the number of CPUs and the guest memory.

Stopping: Ctrl-C (SIGINT) or SIGTERM presses the VM's ACPI power button; the app
gets SIGTERM and can clean up and exit with its own status. Still running -grace
later, the VM is killed (status %[2]d). A second Ctrl-C or SIGTERM, or SIGHUP, kills
it at once (status 128+n).

Flags, before BINARY:
`, status.RunnerKernelFault, status.RunnerNoStatus)
	fs.PrintDefaults()
}

func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// testTimeout is the duration a test binary's arguments give -test.timeout (go
// test passes -test.timeout=10m0s), or 0. The last one counts, as in the flag
// package; a value the test binary would reject is ignored here.
func testTimeout(args []string) time.Duration {
	var d time.Duration
	for i := 0; i < len(args); i++ {
		if args[i] == "--" {
			break
		}
		name, value, hasValue := strings.Cut(args[i], "=")
		if name != "-test.timeout" && name != "--test.timeout" {
			continue
		}
		if !hasValue && i+1 < len(args) {
			i++
			value = args[i]
		}
		if v, err := time.ParseDuration(value); err == nil {
			d = v
		}
	}
	return d
}

func lookupEnv(env []string, name, fallback string) string {
	for i := len(env) - 1; i >= 0; i-- { // the last entry wins, as in getenv
		if v, ok := strings.CutPrefix(env[i], name+"="); ok && v != "" {
			return v
		}
	}
	return fallback
}

// signals turns this process's signals into the ways qemu.Run stops a VM. The
// first SIGINT or SIGTERM presses the VM's power button (a value on presses, for
// Config.PowerDown) and says so with say; a second one, or a SIGHUP at any time,
// cancels ctx with qemu.Interrupted, so that Run kills the VM and reports
// 128+signal. QEMU runs in its own process group, so a Ctrl-C in the terminal
// reaches this process only. grace is only for the message.
func signals(grace time.Duration, say func(string)) (ctx context.Context, presses <-chan struct{}, stop func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	press := make(chan struct{}, 1)
	go func() {
		pressed := false
		for {
			select {
			case s := <-sigs:
				if pressed || s == syscall.SIGHUP {
					cancel(qemu.Interrupted{Signal: s})
					return
				}
				pressed = true
				press <- struct{}{}
				say(fmt.Sprintf("got %v: pressed the VM's power button; it has %v to exit (again to force it off)", s, grace))
			case <-ctx.Done():
				return
			}
		}
	}()
	return ctx, press, func() {
		signal.Stop(sigs)
		cancel(nil)
	}
}
