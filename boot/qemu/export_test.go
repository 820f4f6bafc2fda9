package qemu

import "time"

// SetQMPTimeout shortens the QMP timeouts of the runs that start after it, for
// the tests in qemu_test; restore puts the old value back.
func SetQMPTimeout(d time.Duration) (restore func()) {
	old := qmpTimeout
	qmpTimeout = d
	return func() { qmpTimeout = old }
}
