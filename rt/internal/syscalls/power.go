package syscalls

import (
	"github.com/unigo-dev/unigo/rt/internal/klog"
	"github.com/unigo-dev/unigo/rt/internal/linux"
)

// Shutdown. The machine's power button (an ACPI event the kernel receives)
// asks the program to stop the way an init system does: SIGTERM to the
// process, whose os/signal handler can drain and exit with its own status, or
// whose default action ends it (status 143). A second press, or the grace
// period running out, powers off at once with status 137, as SIGKILL would.

// DefaultShutdownGrace is how long the program has to exit after the power
// button's SIGTERM (unigo.shutdown_grace sets it, in seconds). It is shorter
// than the runner's own grace (10 s), so the VM reports why it stopped.
const DefaultShutdownGrace = 5_000_000_000 // ns

// PowerButton handles a press of the power button at monotonic time now.
func (s *System) PowerButton(now int64) {
	s.presses++
	var l klog.Line
	if s.presses == 1 {
		l.S("unigo: power button: SIGTERM to the program, which has ").D(s.ShutdownGrace / 1_000_000).
			S(" ms to exit (press again to power off now)").Out()
		s.SendProcess(linux.SIGTERM, linux.SI_USER)
		s.forceOffAt = now + max(s.ShutdownGrace, 1)
		return
	}
	s.powerOff("the power button was pressed again")
}

// powerOff ends the VM now, with the status of a process killed by SIGKILL.
func (s *System) powerOff(why string) {
	var l klog.Line
	l.S("unigo: powering off: ").S(why).Out()
	s.ExitGroup(128 + linux.SIGKILL)
}
