// Package qemutests is unigo's boot test suite: it builds real guest apps (the
// programs in the repository's testdata/ and qemu-tests/testdata/) with
// CGO_ENABLED=0 go build -tags unikernel, boots each image under QEMU through the
// runner library boot/qemu (KVM when it is hardware-assisted, TCG otherwise; see
// docs/kvm-pvm.md), and checks both the console output and the exit status the
// runner reports.
//
// It covers: arguments and environment reaching the guest byte-exact and the
// exit-status protocol (hello); goroutines, channels, select and timers at
// GOMAXPROCS=1 (timers); garbage collection through ten times the guest's memory
// (gcstress); large heaps, out of memory, crypto/rand, clocks, os/exec, Go panics,
// file descriptors, the vDSO, threads and the thread limit, and the kernel's
// fault report (probe); a thousand threads alive at once (threadhold); that a hung guest ends in a timeout, never a success
// (sleeper); and go test -exec "go tool unigo-run" end to end (guest/).
//
// Run it from the repository root with
//
//	go test -count=1 ./qemu-tests/...
//
// qemu-system-x86_64 must be on PATH (apt-get install -y qemu-system-x86): the
// suite fails, it does not skip, without it. Every boot has its own timeout, so a
// hung guest fails its test rather than the whole run. The guest/ package also
// runs natively under plain go test, where importing rt changes nothing.
package qemutests
