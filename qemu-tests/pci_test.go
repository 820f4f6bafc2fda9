package qemutests

import (
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unigo-dev/unigo/boot/qemu"
)

// The PCI tests boot on q35 (PCI Express: configuration space through ECAM)
// and pc (i440FX: through port I/O), where SeaBIOS runs before the kernel and
// assigns the BARs, and the devices are modern virtio-pci functions
// (virtio-net-pci and virtio-rng-pci with disable-legacy=on) that interrupt
// through MSI-X.
//
// Only the HTTP test on q35 also runs in the suite's -smp 2 and 4 copies: the
// PCI code is boot-time enumeration on the boot CPU and MSI-X messages to the
// boot CPU, the same at any CPU count, and what more CPUs change (drivers and
// the network stack on other CPUs than the one the interrupt reaches) is what
// the virtio-mmio tests already cover at 2 and 4. One PCI boot at each count
// shows the two meet; more would only cost time under TCG.

var pciMachines = []string{qemu.MachineQ35, qemu.MachinePC}

// onlySMP1 skips a PCI test in the suite's -smp 2 and 4 copies (see above).
func onlySMP1(t *testing.T) {
	if suiteSMP != 1 {
		t.Skipf("PCI at -smp %d: covered by TestPCINetHTTPServer/q35; see pci_test.go", suiteSMP)
	}
}

// TestPCINetHTTPServer proves the host can GET from a net/http server in the
// guest through a forwarded port on q35 and pc, over virtio-net-pci, and that
// the kernel describes the PCI functions it found (unigo.bootlog=1).
func TestPCINetHTTPServer(t *testing.T) {
	for _, m := range pciMachines {
		t.Run(m, func(t *testing.T) {
			if m != qemu.MachineQ35 {
				onlySMP1(t)
			}
			t.Parallel()
			hp := freePort(t)
			base := fmt.Sprintf("http://127.0.0.1:%d", hp)
			// A connection per request: /quit must not go out on the idle
			// connection of the first GET just as the server closes it.
			client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
			var results []string
			start := time.Now()
			var ready time.Duration
			// No power button on these machines: /quit stops the server.
			console, res := bootServer(t, "net", vm{Machine: m, Timeout: 40 * time.Second, Extra: "unigo.bootlog=1",
				Forward: []qemu.Forward{{Proto: "tcp", HostPort: hp, GuestPort: 80}}},
				"listening on", 0, func() {
					ready = time.Since(start)
					for _, path := range []string{"/", "/quit"} {
						r, err := client.Get(base + path)
						if err != nil {
							results = append(results, "error: "+err.Error())
							continue
						}
						b, _ := io.ReadAll(r.Body)
						r.Body.Close()
						results = append(results, fmt.Sprintf("%d %s", r.StatusCode, b))
					}
				}, "serve", "80")
			t.Logf("%s at -smp %d: serving %v after the start, exit after %v", m, suiteSMP,
				ready.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
			require.Len(t, results, 2, "console:\n%s", console)
			assert.Equal(t, "200 hello from unigo\n", results[0])
			assert.Equal(t, "200 stopping\n", results[1])
			assert.Contains(t, console, "server stopped")
			assert.Equal(t, 0, res.ExitCode, "console:\n%s", console)
			access := "ECAM"
			if m == qemu.MachinePC {
				access = "ports"
			}
			// virtio-rng-pci (1af4:1044) and virtio-net-pci (1af4:1041).
			for _, id := range []string{"1af4:1044", "1af4:1041"} {
				assert.Regexp(t, `unigo: boot: device \d: PCI 00:[0-9a-f]{2}\.0 `+id+`, MSI-X vector 0x6\d \(\d+ entries\), configuration through `+access,
					console)
			}
			assert.NotContains(t, console, "unigo: pci:", "no function was skipped")
			assert.NotContains(t, console, "unigo: network:", "no driver complained")
		})
	}
}

// TestPCIEntropyMixedIn proves the network service reads virtio-rng-pci and
// mixes its bytes into the kernel's pool (SysEntropy, 0x1014 = 4116,
// succeeds), as TestEntropyMixedIn does on virtio-mmio.
func TestPCIEntropyMixedIn(t *testing.T) {
	onlySMP1(t)
	for _, m := range pciMachines {
		t.Run(m, func(t *testing.T) {
			t.Parallel()
			console, res := boot(t, "net", vm{Machine: m, Timeout: 30 * time.Second, Extra: "unigo.strace=1"}, "refused", "127.0.0.1:1")
			assert.Equal(t, 0, res.ExitCode)
			assert.Contains(t, console, "ECONNREFUSED: true")
			assert.Regexp(t, `(?m)^strace: tid \d+ 4116\(0x[0-9a-f]+, 0x40, 0x0, 0x0\) = 0$`, console)
			// The configuration space went to the drivers through
			// SysPCIConfig (0x1015 = 4117): 256 bytes each.
			assert.Regexp(t, `(?m)^strace: tid \d+ 4117\(0x[01], 0x[0-9a-f]+, 0x100, 0x0\) = 256$`, console)
		})
	}
}

// TestPCINoNetwork proves a network program on q35 without a network device
// (-net none) and without virtio-rng runs: the service finds no device and
// the program still has the loopback interface.
func TestPCINoNetwork(t *testing.T) {
	onlySMP1(t)
	t.Parallel()
	console, res := boot(t, "net", vm{Machine: qemu.MachineQ35, Net: qemu.NetNone, NoRNG: true, Timeout: 30 * time.Second,
		Extra: "unigo.bootlog=1"}, "refused", "127.0.0.1:1")
	assert.Equal(t, 0, res.ExitCode)
	assert.Contains(t, console, "ECONNREFUSED: true")
	assert.NotContains(t, console, "unigo: boot: device", "no devices")
	assert.NotContains(t, console, "unigo: network:", "no driver complained")
}
