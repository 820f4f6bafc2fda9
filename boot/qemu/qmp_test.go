package qemu

import (
	"bufio"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const greeting = `{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": ""}, "capabilities": ["oob"]}}`

// scriptedQMP serves one client on a new socket: it sends hello, then for each
// line the client sends, the next entry of answers (several lines joined by \n),
// and closes the connection when answers run out. A hello or answer "" is
// silence: the server keeps the connection open until the test ends, saying
// nothing more. An answer "CLOSE" hangs up without a reply. It returns the
// socket's path and a channel that gets the lines the client sent.
func scriptedQMP(t *testing.T, hello string, answers ...string) (string, <-chan []string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "qmp.sock")
	l, err := net.Listen("unix", path)
	require.NoError(t, err)
	ended := make(chan struct{})
	t.Cleanup(func() {
		close(ended)
		l.Close()
	})
	got := make(chan []string, 1)
	go func() {
		var lines []string
		defer func() { got <- lines }()
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		if hello == "" {
			<-ended
			return
		}
		c.Write([]byte(hello + "\n"))
		r := bufio.NewScanner(c)
		for _, a := range answers {
			if !r.Scan() {
				return
			}
			lines = append(lines, r.Text())
			switch a {
			case "":
				<-ended
				return
			case "CLOSE":
				return
			}
			c.Write([]byte(a + "\n"))
		}
	}()
	return path, got
}

func TestQMPClient(t *testing.T) {
	path, got := scriptedQMP(t, greeting,
		`{"return": {}}`,
		`{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "POWERDOWN"}`+"\n"+`{"return": {}}`,
		`{"event": "RESUME"}`+"\n"+`{"return": {"status": "running", "running": true}}`,
	)
	q, err := dialQMP(path, 5*time.Second, nil)
	require.NoError(t, err)
	ret, err := q.execute("system_powerdown")
	require.NoError(t, err)
	assert.JSONEq(t, `{}`, string(ret), "the POWERDOWN event before the return is skipped")
	ret, err = q.execute("query-status")
	require.NoError(t, err)
	assert.JSONEq(t, `{"status": "running", "running": true}`, string(ret))
	require.NoError(t, q.Close())
	assert.Equal(t, []string{`{"execute":"qmp_capabilities"}`, `{"execute":"system_powerdown"}`, `{"execute":"query-status"}`}, <-got)
}

func TestQMPClientErrors(t *testing.T) {
	const timeout = 300 * time.Millisecond
	tests := []struct {
		name    string
		hello   string
		answers []string
		want    string // the whole error, or its start when it ends in "..."
	}{
		{"error reply", greeting, []string{`{"return": {}}`, `{"error": {"class": "GenericError", "desc": "no can do"}}`},
			"QMP: system_powerdown failed: GenericError: no can do"},
		{"capabilities refused", greeting, []string{`{"error": {"class": "CommandNotFound", "desc": "nope"}}`},
			"QMP: qmp_capabilities failed: CommandNotFound: nope"},
		{"not a greeting", `{"hello": 1}`, nil,
			"QMP socket PATH: the first message is not QMP's greeting (is it a QMP monitor?)"},
		{"not JSON", "SSH-2.0-OpenSSH", nil, "QMP: the greeting is not JSON: ..."},
		{"hangs up", greeting, []string{`{"return": {}}`, "CLOSE"},
			"QMP: connection lost while waiting for the reply to system_powerdown (did QEMU exit?): EOF"},
		{"silent", "", nil, "QMP: the greeting did not come within 300ms"},
		{"no reply", greeting, []string{`{"return": {}}`, ""}, "QMP: the reply to system_powerdown did not come within 300ms"},
		{"neither", greeting, []string{`{"return": {}}`, `{"id": 7}`},
			"QMP: the reply to system_powerdown is neither a return nor an error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, _ := scriptedQMP(t, tt.hello, tt.answers...)
			want := strings.ReplaceAll(tt.want, "PATH", path)
			q, err := dialQMP(path, timeout, nil)
			if err == nil {
				defer q.Close()
				_, err = q.execute("system_powerdown")
			}
			require.Error(t, err)
			if prefix, ok := strings.CutSuffix(want, "..."); ok {
				assert.True(t, strings.HasPrefix(err.Error(), prefix), "%v", err)
			} else {
				assert.EqualError(t, err, want)
			}
		})
	}
}

func TestQMPDialWaits(t *testing.T) {
	path := filepath.Join(t.TempDir(), "qmp.sock")
	start := time.Now()
	_, err := dialQMP(path, 200*time.Millisecond, nil)
	require.Error(t, err)
	assert.GreaterOrEqual(t, time.Since(start), 200*time.Millisecond)
	assert.ErrorIs(t, err, syscall.ENOENT)
	assert.Contains(t, err.Error(), "QEMU's QMP socket "+path+" did not accept a connection within 200ms of QEMU starting: ")

	giveUp := make(chan struct{})
	time.AfterFunc(50*time.Millisecond, func() { close(giveUp) })
	start = time.Now()
	_, err = dialQMP(path, time.Minute, giveUp)
	require.Error(t, err)
	assert.Less(t, time.Since(start), 30*time.Second, "giveUp did not stop the wait")
}

// TestRealQEMUQMP speaks QMP with the real QEMU, on the microvm machine Run
// uses, its CPU stopped (-S): the handshake works and system_powerdown returns
// {}.
func TestRealQEMUQMP(t *testing.T) {
	qemuPath, err := exec.LookPath(DefaultQEMU)
	if err != nil {
		t.Skipf("%s is not installed (apt-get install -y qemu-system-x86): %v", DefaultQEMU, err)
	}
	sock := filepath.Join(t.TempDir(), "qmp.sock")
	cmd := exec.Command(qemuPath, "-M", "microvm", "-accel", "tcg", "-nodefaults", "-no-user-config",
		"-display", "none", "-S", "-qmp", "unix:"+sock+",server=on,wait=off")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	defer func() {
		cmd.Process.Kill()
		<-done
	}()
	watchdog := time.AfterFunc(time.Minute, func() { cmd.Process.Kill() })
	defer watchdog.Stop()

	q, err := dialQMP(sock, 30*time.Second, done)
	require.NoError(t, err, "QEMU said: %s", &out)
	defer q.Close()
	ret, err := q.execute("system_powerdown")
	require.NoError(t, err)
	assert.JSONEq(t, `{}`, string(ret))
	_, err = q.execute("no-such-command")
	assert.EqualError(t, err, "QMP: no-such-command failed: CommandNotFound: The command no-such-command has not been found")
}
