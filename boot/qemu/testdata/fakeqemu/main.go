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
// Given -qmp unix:PATH,server=on,wait=off, as Run passes it, it serves a QMP
// monitor on PATH from the start, alongside the steps above, as QEMU 7.2 does
// (greeting, capability negotiation first, a POWERDOWN event before
// system_powerdown's return), steered by:
//
//	FAKEQEMU_QMP=off              do not open the socket
//	FAKEQEMU_QMP_DELAY=dur        open it only after dur
//	FAKEQEMU_QMP_LOG=path         append each command executed to path, one a line
//	FAKEQEMU_QMP_FAIL=text        answer system_powerdown with a GenericError of text
//	FAKEQEMU_POWERDOWN_EXIT=n     on system_powerdown, after FAKEQEMU_POWERDOWN_DELAY
//	                              (dur), exit as the guest reporting status n; without
//	                              it a press is acknowledged and ignored
//
// Run with FAKEQEMU_CHILD_MODE=1 in its process environment it is that child: it
// sleeps for a minute.
package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
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
	if opt := optionValue(os.Args[1:], "-qmp"); opt != "" && env["FAKEQEMU_QMP"] != "off" {
		path, err := qmpPath(opt)
		if err != nil {
			fail(err)
		}
		go serveQMP(path, env)
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

// optionValue is the value after the last occurrence of name in argv, or "".
func optionValue(argv []string, name string) string {
	var v string
	for i := 0; i+1 < len(argv); i++ {
		if argv[i] == name {
			v = argv[i+1]
		}
	}
	return v
}

// guestEnv decodes the environment the -append option carries.
func guestEnv(argv []string) (map[string]string, error) {
	line := optionValue(argv, "-append")
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

// qmpPath is the socket path of a -qmp value, which must be a listening Unix
// socket that does not wait for a client: unix:PATH,server=on,wait=off, with a
// comma in PATH written twice.
func qmpPath(opt string) (string, error) {
	rest, ok := strings.CutPrefix(opt, "unix:")
	if !ok {
		return "", fmt.Errorf("-qmp %s: want unix:PATH,...", opt)
	}
	var path strings.Builder
	for rest != "" {
		i := strings.IndexByte(rest, ',')
		if i < 0 {
			path.WriteString(rest)
			rest = ""
			break
		}
		if strings.HasPrefix(rest[i:], ",,") {
			path.WriteString(rest[:i+1])
			rest = rest[i+2:]
			continue
		}
		path.WriteString(rest[:i])
		rest = rest[i+1:]
		break
	}
	if rest != "server=on,wait=off" {
		return "", fmt.Errorf("-qmp %s: want the options server=on,wait=off, got %q", opt, rest)
	}
	return path.String(), nil
}

// serveQMP listens on path and serves each client in turn.
func serveQMP(path string, env map[string]string) {
	if s := env["FAKEQEMU_QMP_DELAY"]; s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			fail(err)
		}
		time.Sleep(d)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		fail(err)
	}
	for {
		c, err := l.Accept()
		if err != nil {
			fail(err)
		}
		qmpSession(c, env)
	}
}

func qmpSession(c net.Conn, env map[string]string) {
	defer c.Close()
	enc := json.NewEncoder(c) // one object a line, as QEMU writes them
	enc.Encode(map[string]any{"QMP": map[string]any{
		"version":      map[string]any{"qemu": map[string]int{"major": 7, "minor": 2, "micro": 0}, "package": "fakeqemu"},
		"capabilities": []string{"oob"},
	}})
	dec := json.NewDecoder(c)
	negotiated := false
	for {
		var req struct {
			Execute string `json:"execute"`
		}
		if err := dec.Decode(&req); err != nil {
			return
		}
		logCommand(env["FAKEQEMU_QMP_LOG"], req.Execute)
		reject := func(class, desc string) {
			enc.Encode(map[string]any{"error": map[string]string{"class": class, "desc": desc}})
		}
		ok := func() { enc.Encode(map[string]any{"return": map[string]any{}}) }
		switch {
		case req.Execute == "qmp_capabilities" && !negotiated:
			negotiated = true
			ok()
		case req.Execute == "qmp_capabilities":
			reject("CommandNotFound", "Capabilities negotiation is already complete, command ignored")
		case !negotiated:
			reject("CommandNotFound", "Expecting capabilities negotiation with 'qmp_capabilities'")
		case req.Execute == "system_powerdown" && env["FAKEQEMU_QMP_FAIL"] != "":
			reject("GenericError", env["FAKEQEMU_QMP_FAIL"])
		case req.Execute == "system_powerdown":
			enc.Encode(map[string]any{"event": "POWERDOWN",
				"timestamp": map[string]int64{"seconds": time.Now().Unix(), "microseconds": 0}})
			ok()
			if s := env["FAKEQEMU_POWERDOWN_EXIT"]; s != "" {
				go powerOff(atoi(s), env["FAKEQEMU_POWERDOWN_DELAY"])
			}
		default:
			reject("CommandNotFound", "The command "+req.Execute+" has not been found")
		}
	}
}

// powerOff is the guest's program handling SIGTERM: it takes delay, then exits n.
func powerOff(n int, delay string) {
	if delay != "" {
		d, err := time.ParseDuration(delay)
		if err != nil {
			fail(err)
		}
		time.Sleep(d)
	}
	v, _ := status.Encode(n)
	os.Exit(int(v)<<1 | 1)
}

func logCommand(path, command string) {
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		fail(err)
	}
	defer f.Close()
	fmt.Fprintln(f, command)
}
