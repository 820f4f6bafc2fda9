// Command smp measures what docs/perf.md reports about multiprocessing: the
// same CPU-bound parallel workload (bench/smp/guest: SHA-256 over 64 MiB split
// among GOMAXPROCS goroutines) in a guest with -smp 1 and with -smp 2, the
// speed-up, and the same program as a Linux process with GOMAXPROCS 1 and 2 on
// this host for comparison. The time is the guest's own measurement of the
// work, so boot is not counted.
//
// Run from the repository root: go run ./bench/smp [-n 10] [-accel auto|kvm|tcg]
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/unigo-dev/unigo/boot/qemu"
)

var (
	runs  = flag.Int("n", 10, "runs per configuration")
	accel = flag.String("accel", "auto", "auto, kvm or tcg")
)

var line = regexp.MustCompile(`procs (\d+) elapsed_ns (\d+)`)

func main() {
	flag.Parse()
	log.SetFlags(0)
	dir, err := os.MkdirTemp("", "smp-")
	check(err)
	defer os.RemoveAll(dir)
	guest := filepath.Join(dir, "guest")
	host := filepath.Join(dir, "host")
	build(guest, true)
	build(host, false)

	cfg := qemu.Config{Accel: *accel, Memory: "256M", Timeout: 5 * time.Minute}
	acc, err := cfg.Accelerator()
	check(err)
	fmt.Printf("accelerator %s, %d runs each\n\n", acc, *runs)
	fmt.Println("| | 1 CPU (ms) | 2 CPUs (ms) | speed-up (median 1 / median 2) |")
	fmt.Println("| --- | --- | --- | --- |")
	var g [3][]float64
	for _, smp := range []int{1, 2} {
		for range *runs {
			c := cfg
			c.SMP = smp
			var out bytes.Buffer
			res, err := qemu.Run(context.Background(), c, guest, nil, nil, &out, os.Stderr)
			check(err)
			if res.ExitCode != 0 {
				log.Fatalf("guest exited %d: %s\n%s", res.ExitCode, res.Reason, out.String())
			}
			g[smp] = append(g[smp], elapsed(out.Bytes(), smp))
		}
	}
	fmt.Printf("| unigo guest (-smp N) | %s | %s | %.2f |\n", stats(g[1]), stats(g[2]), median(g[1])/median(g[2]))
	var h [3][]float64
	for _, procs := range []int{1, 2} {
		for range *runs {
			cmd := exec.Command(host)
			cmd.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(procs))
			out, err := cmd.Output()
			check(err)
			h[procs] = append(h[procs], elapsed(out, procs))
		}
	}
	fmt.Printf("| Linux process on the host (GOMAXPROCS=N) | %s | %s | %.2f |\n", stats(h[1]), stats(h[2]), median(h[1])/median(h[2]))
}

func build(out string, unikernel bool) {
	args := []string{"build", "-o", out}
	if unikernel {
		args = append(args, "-tags", "unikernel")
	}
	cmd := exec.Command("go", append(args, "./bench/smp/guest")...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	cmd.Stderr = os.Stderr
	check(cmd.Run())
}

// elapsed reads the workload's time (ms) and checks it ran with procs Ps.
func elapsed(out []byte, procs int) float64 {
	m := line.FindSubmatch(out)
	if m == nil {
		log.Fatalf("no result in:\n%s", out)
	}
	if p, _ := strconv.Atoi(string(m[1])); p != procs {
		log.Fatalf("the workload ran with GOMAXPROCS %d, not %d", p, procs)
	}
	ns, _ := strconv.ParseFloat(string(m[2]), 64)
	return ns / 1e6
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

func stats(v []float64) string {
	return fmt.Sprintf("%.0f (%.0f to %.0f)", median(v), slices.Min(v), slices.Max(v))
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
