// Command fakeqemu stands in for qemu-system-x86_64 in the tests of boot/qemu and
// boot/cmd/unigo-run. It boots nothing: it decodes its -append with boot/cmdline,
// as the guest kernel would, and takes its orders from the guest environment found
// there, so each test steers it through the env it hands the runner:
//
//	FAKEQEMU_RECORD=path   write {argv, kernel} as JSON to path (kernel: the -kernel file's bytes)
//	FAKEQEMU_STDOUT=text   print text on stdout (the guest console)
//	FAKEQEMU_STDERR=text   print text on stderr (QEMU's own messages)
//	FAKEQEMU_WAIT=path     then wait until path exists
//	FAKEQEMU_CHILD=path    start a child that holds stdout open, write its pid to path
//	FAKEQEMU_SLEEP=dur     then sleep
//	FAKEQEMU_KILL=n        then kill itself with signal n
//	FAKEQEMU_GUEST_EXIT=n  exit as QEMU does when the guest writes status.Encode(n)
//	FAKEQEMU_EXIT=n        exit with QEMU status n (default 0)
//
// Run with FAKEQEMU_CHILD_MODE=1 in its process environment it is that child: it
// sleeps for a minute.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/unigo-dev/unigo/boot/cmdline"
	"github.com/unigo-dev/unigo/boot/status"
)

// Record is what FAKEQEMU_RECORD receives.
type Record struct {
	Argv   []string
	Kernel []byte
}

func main() {
	if os.Getenv("FAKEQEMU_CHILD_MODE") == "1" {
		time.Sleep(time.Minute)
		return
	}
	env, err := guestEnv(os.Args[1:])
	if err != nil {
		fail(err)
	}
	if path := env["FAKEQEMU_RECORD"]; path != "" {
		record(path)
	}
	if s := env["FAKEQEMU_STDOUT"]; s != "" {
		os.Stdout.WriteString(s)
	}
	if s := env["FAKEQEMU_STDERR"]; s != "" {
		os.Stderr.WriteString(s)
	}
	if path := env["FAKEQEMU_WAIT"]; path != "" {
		waitFor(path)
	}
	if path := env["FAKEQEMU_CHILD"]; path != "" {
		startChild(path)
	}
	if s := env["FAKEQEMU_SLEEP"]; s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			fail(err)
		}
		time.Sleep(d)
	}
	if s := env["FAKEQEMU_KILL"]; s != "" {
		syscall.Kill(os.Getpid(), syscall.Signal(atoi(s)))
		time.Sleep(time.Minute)
	}
	if s := env["FAKEQEMU_GUEST_EXIT"]; s != "" {
		v, _ := status.Encode(atoi(s))
		os.Exit(int(v)<<1 | 1)
	}
	os.Exit(atoi(env["FAKEQEMU_EXIT"]))
}

// guestEnv decodes the environment the -append option carries.
func guestEnv(argv []string) (map[string]string, error) {
	var line string
	for i := 0; i+1 < len(argv); i++ {
		if argv[i] == "-append" {
			line = argv[i+1]
		}
	}
	env := map[string]string{}
	sc := cmdline.NewScanner([]byte(line))
	buf := make([]byte, len(line))
	for {
		k, n, cerr := sc.Next(buf)
		if cerr != cmdline.ErrNone {
			return nil, cerr
		}
		if k == 0 {
			return env, nil
		}
		if kind, word, _ := cmdline.Classify(k, buf[:n]); kind == cmdline.Env {
			name, value := cmdline.Split(word)
			env[string(name)] = string(value)
		}
	}
}

func record(path string) {
	r := Record{Argv: os.Args}
	for i := 0; i+1 < len(os.Args); i++ {
		if os.Args[i] == "-kernel" {
			r.Kernel, _ = os.ReadFile(os.Args[i+1])
		}
	}
	data, err := json.Marshal(r)
	if err != nil {
		fail(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		fail(err)
	}
}

func waitFor(path string) {
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); {
		if _, err := os.Stat(path); err == nil {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	fail(fmt.Errorf("%s did not appear", path))
}

func startChild(pidFile string) {
	self, err := os.Executable()
	if err != nil {
		fail(err)
	}
	p, err := os.StartProcess(self, []string{self}, &os.ProcAttr{
		Env:   append(os.Environ(), "FAKEQEMU_CHILD_MODE=1"),
		Files: []*os.File{nil, os.Stdout, os.Stderr},
	})
	if err != nil {
		fail(err)
	}
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(p.Pid)), 0o644); err != nil {
		fail(err)
	}
}

func atoi(s string) int {
	if s == "" {
		return 0
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		fail(err)
	}
	return n
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "fakeqemu:", err)
	os.Exit(1)
}
