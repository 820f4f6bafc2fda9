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
// The exit status is the app's; 126 when the kernel stopped on a fault, 127 when
// the VM ended without a status (QEMU error, reset or triple fault, timeout), and
// 128+n when unigo-run itself got signal n. The work is done by boot/qemu.
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

	ctx, stopSignals := interrupts()
	defer stopSignals()
	console := &lineTracker{w: stdout}
	res, err := qemu.Run(ctx, cfg, binary, args, env, console, stderr)
	msg := res.Reason
	if err != nil {
		msg = err.Error()
	}
	if msg != "" {
		// go test hands stdout and stderr the same pipe: after a console that
		// stopped mid-line (a hang, a kill), start the message on a line of its own.
		if console.midLine.Load() {
			fmt.Fprintln(stderr)
		}
		fmt.Fprintf(stderr, "unigo-run: %s\n", msg)
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
	fs.StringVar(&cfg.Memory, "m", qemu.DefaultMemory, "guest memory, as QEMU's -m")
	fs.IntVar(&cfg.SMP, "smp", 1, "number of CPUs, as QEMU's -smp")
	fs.StringVar(&cfg.CPU, "cpu", "", "CPU model, as QEMU's -cpu (default host under KVM, max under TCG)")
	fs.StringVar(&cfg.QEMU, "qemu", lookupEnv(env, "UNIGO_QEMU", qemu.DefaultQEMU),
		"QEMU binary, a path or a name looked up in PATH; $UNIGO_QEMU sets the default")
	fs.DurationVar(&cfg.Timeout, "timeout", defaultTimeout,
		"kill the VM after this long; 0 for never. Unset, a test binary's -test.timeout=D makes it D+1m")
	fs.BoolVar(&cfg.Verbose, "v", false, "print the QEMU command line on stderr")
	fs.StringVar(&cfg.AppendExtra, "append-extra", "",
		"raw kernel parameters, put before the app's environment and arguments (for debugging)")
	fs.Usage = func() { usage(fs) }

	if err := fs.Parse(argv); err != nil {
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
this environment, its console on stdout, and exits with its exit status (%d: the
kernel stopped on a fault; %d: the VM ended without a status; 128+n: signal n).
For go's -exec:

	go run -tags unikernel -exec "go tool unigo-run" ./app a "b c"
	go test -tags unikernel -exec "go tool unigo-run" ./...

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

// interrupts returns a context that SIGINT, SIGTERM or SIGHUP cancel with
// qemu.Interrupted, so that qemu.Run stops the VM and reports 128+signal.
// QEMU runs in its own process group, so a Ctrl-C in the terminal reaches this
// process only.
func interrupts() (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		select {
		case s := <-sigs:
			cancel(qemu.Interrupted{Signal: s})
		case <-ctx.Done():
		}
	}()
	return ctx, func() {
		signal.Stop(sigs)
		cancel(nil)
	}
}
