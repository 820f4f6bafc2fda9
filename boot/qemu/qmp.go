package qemu

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"time"
)

// qmpTimeout bounds each QMP exchange: QEMU's creating the socket once it has
// started, the greeting and capability negotiation, and the reply to each
// command. A variable so that tests can shorten it; Run reads it once, as it
// starts QEMU.
var qmpTimeout = 5 * time.Second

// maxSocketPath is the longest path a Unix socket address holds (sun_path is 108
// bytes with its NUL).
const maxSocketPath = 107

// qmpClient is a connection to QEMU's Machine Protocol (QMP) monitor: JSON
// objects, one a line. QEMU greets with {"QMP": {...}}, accepts nothing but
// {"execute": "qmp_capabilities"} until that has been sent, and answers each
// command with {"return": ...} or {"error": {"class": ..., "desc": ...}}. It may
// send {"event": ...} objects at any time (system_powerdown is preceded by a
// POWERDOWN event); the client skips them.
type qmpClient struct {
	conn    net.Conn
	dec     *json.Decoder
	timeout time.Duration // for each exchange
}

// qmpMessage is any message from QEMU; which field is set says what it is.
type qmpMessage struct {
	Greeting json.RawMessage `json:"QMP"`
	Return   json.RawMessage `json:"return"`
	Error    *struct {
		Class string `json:"class"`
		Desc  string `json:"desc"`
	} `json:"error"`
	Event string `json:"event"`
}

// dialQMP connects to QEMU's QMP socket at path, retrying for up to timeout while
// it does not exist yet (QEMU creates it shortly after it starts) or until giveUp
// is closed, then reads the greeting and negotiates capabilities, each within
// timeout.
func dialQMP(path string, timeout time.Duration, giveUp <-chan struct{}) (*qmpClient, error) {
	deadline := time.Now().Add(timeout)
	var conn net.Conn
	for {
		var err error
		conn, err = net.DialTimeout("unix", path, timeout)
		if err == nil {
			break
		}
		if !time.Now().Before(deadline) {
			return nil, fmt.Errorf("QEMU's QMP socket %s did not accept a connection within %v of QEMU starting: %w", path, timeout, err)
		}
		select {
		case <-giveUp:
			return nil, fmt.Errorf("QEMU's QMP socket %s: %w", path, err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	q := &qmpClient{conn: conn, dec: json.NewDecoder(conn), timeout: timeout}
	conn.SetDeadline(time.Now().Add(timeout))
	var greeting qmpMessage
	if err := q.dec.Decode(&greeting); err != nil {
		conn.Close()
		return nil, q.readError("the greeting", err)
	}
	if greeting.Greeting == nil {
		conn.Close()
		return nil, fmt.Errorf("QMP socket %s: the first message is not QMP's greeting (is it a QMP monitor?)", path)
	}
	if _, err := q.execute("qmp_capabilities"); err != nil {
		conn.Close()
		return nil, err
	}
	return q, nil
}

// execute runs a QMP command without arguments and returns its "return" value.
func (q *qmpClient) execute(command string) (json.RawMessage, error) {
	q.conn.SetDeadline(time.Now().Add(q.timeout))
	req, _ := json.Marshal(map[string]string{"execute": command})
	if _, err := q.conn.Write(append(req, '\n')); err != nil {
		return nil, fmt.Errorf("QMP: cannot send %s (did QEMU exit?): %w", command, err)
	}
	for {
		var m qmpMessage
		if err := q.dec.Decode(&m); err != nil {
			return nil, q.readError("the reply to "+command, err)
		}
		switch {
		case m.Event != "":
			continue
		case m.Error != nil:
			return nil, fmt.Errorf("QMP: %s failed: %s: %s", command, m.Error.Class, m.Error.Desc)
		case m.Return != nil:
			return m.Return, nil
		}
		return nil, fmt.Errorf("QMP: the reply to %s is neither a return nor an error", command)
	}
}

func (q *qmpClient) readError(what string, err error) error {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return fmt.Errorf("QMP: %s did not come within %v", what, q.timeout)
	case errors.Is(err, net.ErrClosed):
		return fmt.Errorf("QMP: connection closed while waiting for %s", what)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("QMP: %s is not JSON: %w", what, err)
	}
	// io.EOF, io.ErrUnexpectedEOF, ECONNRESET: QEMU went away.
	return fmt.Errorf("QMP: connection lost while waiting for %s (did QEMU exit?): %w", what, err)
}

func (q *qmpClient) Close() error { return q.conn.Close() }
