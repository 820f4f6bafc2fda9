// Package qemu boots a unigo app under QEMU on the host: it makes the app's ELF
// bootable (boot/image), encodes its arguments and environment into the kernel
// command line (boot/cmdline), runs qemu-system-x86_64 with a microvm machine,
// streams the guest's serial console, and turns QEMU's exit status into the app's
// exit status (boot/status).
//
// It owns the QEMU command line, the choice of accelerator, the run's timeout and
// the mapping of every way a run can end to an exit status for the runner
// (boot/cmd/unigo-run, which is a thin flag layer over [Run]). Tests that boot
// images themselves (custom timeouts, captured output) call [Run] directly.
//
// # Stopping a VM gracefully
//
// A VM can be asked to stop, as a shutdown asks a machine: Run gives QEMU a QMP
// monitor socket (-qmp unix:DIR/qmp.sock,server=on,wait=off, in Run's temporary
// directory) when Config.PowerDown is set, and each value on that channel presses
// the VM's ACPI power button (QMP's system_powerdown). The guest kernel turns the
// press into a SIGTERM for the program, whose os/signal handler can finish its
// work and exit with a status of its own choosing; that status is the Result, as
// for any other exit. If QEMU is still running Config.Grace (DefaultGrace) after
// the first press, Run kills it and says so (Result.GraceExpired). Canceling
// Run's context stops the VM at once, without the power button.
//
// unigo-run wires this to its signals: a first Ctrl-C (SIGINT) or SIGTERM presses
// the power button, a second one, or SIGHUP, kills the VM.
//
// With QEMU run by hand, add -qmp unix:/tmp/vm.qmp,server=on,wait=off to its
// command line and press the button by sending {"execute":"qmp_capabilities"}
// then {"execute":"system_powerdown"} to that socket, for example with
//
//	printf '%s\n' '{"execute":"qmp_capabilities"}' '{"execute":"system_powerdown"}' | socat - UNIX-CONNECT:/tmp/vm.qmp
//
// or, without socat,
//
//	python3 -c 'import json,socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f=s.makefile(); f.readline(); [(s.sendall(json.dumps({"execute":c}).encode()+b"\n"), print(next(l for l in f if "event" not in l).strip())) for c in ("qmp_capabilities","system_powerdown")]' /tmp/vm.qmp
//
// QEMU answers each command with {"return": {}}. A client must wait for those
// answers: QEMU drops the commands it has not yet run when the client hangs up.
//
// Everything here runs on the host, never in the guest.
package qemu

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/unigo-dev/unigo/boot/status"
)

// Defaults for the zero [Config].
const (
	// DefaultQEMU is the QEMU binary looked up in PATH when Config.QEMU is empty.
	DefaultQEMU = "qemu-system-x86_64"
	// DefaultMemory is the guest memory (QEMU's -m) when Config.Memory is empty.
	DefaultMemory = "256M"
	// DefaultKVMDevice is the device whose read-write open decides -accel auto.
	DefaultKVMDevice = "/dev/kvm"
	// DefaultModuleDir is where the kernel lists its loaded modules; it tells
	// which backend serves DefaultKVMDevice.
	DefaultModuleDir = "/sys/module"
	// DefaultGrace is how long a VM has to exit after its power button is
	// pressed when Config.Grace is 0.
	DefaultGrace = 10 * time.Second
)

// Machines for Config.Machine (QEMU's -M).
const (
	// MachineMicrovm is QEMU's microvm: no PCI, no firmware; devices on
	// virtio-mmio. The default, and the fastest to boot.
	MachineMicrovm = "microvm"
	// MachineQ35 is QEMU's q35 (PCI Express, ECAM): SeaBIOS runs first and
	// starts the kernel through PVH; devices are modern virtio-pci.
	MachineQ35 = "q35"
	// MachinePC is QEMU's pc (i440FX, PCI through port I/O), like q35
	// otherwise.
	MachinePC = "pc"
)

// Accelerators for Config.Accel.
const (
	AccelAuto = "auto" // KVM when DefaultKVMDevice opens read-write and is hardware-assisted, TCG otherwise
	AccelKVM  = "kvm"
	AccelTCG  = "tcg"
)

// Config says how to run QEMU. The zero value is usable: QEMU from PATH, automatic
// acceleration, 256M of memory, one CPU, no timeout.
type Config struct {
	// QEMU is the qemu-system-x86_64 binary: a path, or a name looked up in PATH.
	QEMU string
	// Accel is AccelAuto (or ""), AccelKVM or AccelTCG.
	Accel string
	// KVMDevice is the device AccelAuto and AccelKVM check; "" means
	// DefaultKVMDevice. Tests point it elsewhere to choose the outcome.
	KVMDevice string
	// ModuleDir is where loaded kernel modules are listed; "" means
	// DefaultModuleDir. Tests point it elsewhere to choose the KVM backend.
	ModuleDir string
	// Memory is QEMU's -m (for example "256M", "1G"); "" means DefaultMemory.
	Memory string
	// SMP is QEMU's -smp, the number of CPUs; 0 means 1.
	SMP int
	// CPU is QEMU's -cpu model; "" means host under KVM and max under TCG.
	CPU string
	// Machine is QEMU's machine type: MachineMicrovm ("" too), MachineQ35 or
	// MachinePC. On q35 and pc the network and entropy devices are
	// virtio-pci functions with the legacy interface off
	// (virtio-net-pci,disable-legacy=on) instead of virtio-mmio ones.
	Machine string
	// Timeout bounds the whole run; when it expires the VM is killed. 0: none.
	Timeout time.Duration
	// PowerDown, when not nil, is how the caller asks the VM to stop: each value
	// received while the VM runs presses its ACPI power button once (QMP's
	// system_powerdown), which the guest kernel delivers to the program as
	// SIGTERM. A value sent before QEMU is up is pressed once it is. Closing
	// the channel presses nothing. With PowerDown set, Run adds a QMP socket to
	// QEMU's command line (-qmp unix:<Run's temporary directory>/qmp.sock,...).
	PowerDown <-chan struct{}
	// Grace is how long QEMU may run after the first press of the power button
	// before Run kills it (Result.GraceExpired, ExitCode status.RunnerNoStatus);
	// 0 means DefaultGrace. Later presses do not extend it.
	Grace time.Duration
	// AppendExtra is raw kernel command line text put before the encoded
	// environment and arguments, so its KEY=VALUE words (with a dotted KEY) are
	// read as kernel parameters. For tests and debugging; not checked.
	AppendExtra string
	// NoRNG leaves out the virtio-rng device the guest otherwise gets.
	NoRNG bool
	// Net is the guest's network: NetUser ("" too), NetNone, or NetTapPrefix
	// plus a tap device's name.
	Net string
	// Forward lists host ports forwarded to guest ports (NetUser only).
	Forward []Forward
	// Verbose prints the QEMU command line to Run's stderr before starting it.
	Verbose bool
	// GDB, when set, is the path of a Unix socket QEMU's gdbstub listens on
	// (-gdb unix:GDB,server=on,wait=off) while the guest runs: for gdb
	// ("target remote GDB") or bench/guestprof, the whole-guest profiler.
	GDB string
	// MakeImage writes a bootable image of src to dst; nil means boot/image's
	// WriteFile (which also takes an image it made before, unchanged). Tests
	// replace it to boot something that is not a unigo app.
	MakeImage func(src, dst string) error
}

func (c Config) qemu() string {
	if c.QEMU == "" {
		return DefaultQEMU
	}
	return c.QEMU
}

func (c Config) machine() string {
	if c.Machine == "" {
		return MachineMicrovm
	}
	return c.Machine
}

// pci says whether the machine's devices are virtio-pci functions.
func (c Config) pci() bool { return c.machine() != MachineMicrovm }

// CheckMachine says whether Machine is one the kernel runs on.
func (c Config) CheckMachine() error {
	switch c.machine() {
	case MachineMicrovm, MachineQ35, MachinePC:
		return nil
	}
	return fmt.Errorf("machine %q: want microvm, q35 or pc", c.Machine)
}

// virtioDevice is QEMU's name for a virtio device of the machine's kind:
// kind is "net" or "rng".
func (c Config) virtioDevice(kind string) string {
	if c.pci() {
		// Modern only, as Firecracker and Cloud Hypervisor offer it.
		return "virtio-" + kind + "-pci,disable-legacy=on"
	}
	return "virtio-" + kind + "-device"
}

func (c Config) grace() time.Duration {
	if c.Grace <= 0 {
		return DefaultGrace
	}
	return c.Grace
}

func (c Config) memory() string {
	if c.Memory == "" {
		return DefaultMemory
	}
	return c.Memory
}

func (c Config) smp() int {
	if c.SMP <= 0 {
		return 1
	}
	return c.SMP
}

func (c Config) cpu(accel string) string {
	if c.CPU != "" {
		return c.CPU
	}
	return cpuModel(accel)
}

func (c Config) kvmDevice() string {
	if c.KVMDevice == "" {
		return DefaultKVMDevice
	}
	return c.KVMDevice
}

// Accelerator resolves Accel to AccelKVM or AccelTCG. AccelAuto picks KVM when the
// KVM device opens read-write (what QEMU itself needs) and its backend is
// hardware-assisted, TCG otherwise. An explicit AccelKVM fails here, with advice,
// when KVM cannot run the guest, rather than leaving the user to decode QEMU's
// message or a dead VM.
func (c Config) Accelerator() (string, error) {
	switch c.Accel {
	case "", AccelAuto:
		if kvmUsable(c.kvmDevice()) == nil && c.kvmBackend() != backendPVM {
			return AccelKVM, nil
		}
		return AccelTCG, nil
	case AccelKVM:
		if err := kvmUsable(c.kvmDevice()); err != nil {
			return "", fmt.Errorf("-accel kvm: %w: make it readable and writable for this user (for example add the user to group kvm) or use -accel tcg", err)
		}
		if c.kvmBackend() == backendPVM {
			return "", errors.New("-accel kvm: /dev/kvm is served by kvm_pvm, which runs a guest's ring 0 through its instruction emulator " +
				"(no SSE, so no Go code) and kills a guest that executes SYSCALL in ring 3 unless a PVM-aware VMM set it up; " +
				"unigo cannot run on it with QEMU (docs/kvm-pvm.md): use -accel tcg")
		}
		return AccelKVM, nil
	case AccelTCG:
		return AccelTCG, nil
	}
	return "", fmt.Errorf("unknown accelerator %q: want auto, kvm or tcg", c.Accel)
}

// KVM backends, told apart by the module that registered /dev/kvm.
const (
	backendHardware = iota // kvm_intel or kvm_amd: VT-x or AMD-V
	backendPVM             // kvm_pvm only: software virtualization by shadow paging
)

func (c Config) kvmBackend() int {
	dir := c.ModuleDir
	if dir == "" {
		dir = DefaultModuleDir
	}
	loaded := func(m string) bool {
		_, err := os.Stat(dir + "/" + m)
		return err == nil
	}
	if loaded("kvm_pvm") && !loaded("kvm_intel") && !loaded("kvm_amd") {
		return backendPVM
	}
	return backendHardware
}

func kvmUsable(dev string) error {
	f, err := os.OpenFile(dev, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	return f.Close()
}

// cpuModel is the -cpu for an accelerator. The kernel needs RDRAND and wants
// XSAVE/AVX: "host" passes the real CPU through under KVM, and "max" is TCG's
// model with every feature it emulates.
func cpuModel(accel string) string {
	if accel == AccelKVM {
		return "host"
	}
	return "max"
}

// Command is the QEMU command line (argv, QEMU binary first) that boots image with
// the given kernel command line. An AccelAuto Config probes the KVM device here.
//
// The guest's serial console is QEMU's stdio: Run gives QEMU /dev/null as stdin,
// so QEMU never puts a terminal into raw mode or reads keys meant for the runner,
// and its own pipe as stdout. When Config.PowerDown is set, Run appends a -qmp
// option for the QMP socket it presses the power button through.
func (c Config) Command(image, cmdline string) []string {
	accel, err := c.Accelerator()
	if err != nil {
		accel = c.Accel // let QEMU say what it thinks of it
	}
	argv := []string{
		c.qemu(),
		"-M", c.machine(),
		"-accel", accel,
		"-cpu", c.cpu(accel),
		"-m", c.memory(),
		"-smp", strconv.Itoa(c.smp()),
		"-nodefaults",
		"-no-user-config",
		"-display", "none",
		// A reset (the guest rebooting, or a triple fault) ends QEMU with status 0,
		// which status.Decode reads as "no status", instead of booting again.
		"-no-reboot",
		"-device", fmt.Sprintf("isa-debug-exit,iobase=%#x,iosize=4", status.DebugExitPort),
	}
	if !c.pci() {
		// Modern virtio-mmio (version 2), as Firecracker and Cloud Hypervisor
		// offer it; QEMU's default is the legacy interface.
		argv = append(argv, "-global", "virtio-mmio.force-legacy=false")
	}
	argv = append(argv,
		"-serial", "stdio",
		"-kernel", image,
		"-append", cmdline,
	)
	if !c.NoRNG {
		// virtio-rng: the kernel seeds its random number generator from it
		// when the CPU has no RDRAND (virtio-mmio only), and the network
		// service mixes it in.
		argv = append(argv, "-device", c.virtioDevice("rng"))
	}
	// A bad network setting fails Run before this (CheckNet); here it is
	// left out.
	net, _ := c.netArgs()
	argv = append(argv, net...)
	if c.GDB != "" {
		argv = append(argv, "-gdb", listenUnix(c.GDB))
	}
	return argv
}

// listenUnix is the QEMU character device that listens on Unix socket path
// and lets the guest start before anyone connects.
func listenUnix(path string) string {
	// In a QEMU option value a comma is written twice.
	return "unix:" + strings.ReplaceAll(path, ",", ",,") + ",server=on,wait=off"
}

// CheckNet says whether Net and Forward make sense together.
func (c Config) CheckNet() error {
	_, err := c.netArgs()
	return err
}

// ErrNotFound is wrapped by the error Run returns when the QEMU binary is missing.
var ErrNotFound = errors.New("QEMU not found")

type notFoundError struct{ name string }

func (e notFoundError) Error() string {
	return e.name + " not found: install it (Debian/Ubuntu: apt-get install -y qemu-system-x86)"
}

func (e notFoundError) Unwrap() error { return ErrNotFound }
