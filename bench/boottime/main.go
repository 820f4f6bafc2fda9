// Command boottime measures what docs/perf.md reports about booting: the wall time
// from starting QEMU to the first byte a unigo program prints and to QEMU's exit
// (median, min, max of -n runs) beside the floor of a PVH kernel that exits at
// once; the guest's own share (kernel's first instruction to main, from the
// guest's monotonic clock); the smallest -m that runs hello; the cost of time.Now
// in the guest and on the host; and the image size against a plain build.
//
// Run from the repository root: go run ./bench/boottime [-n 20] [-accel auto|kvm|tcg]
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/unigo-dev/unigo/boot/image"
	"github.com/unigo-dev/unigo/boot/qemu"
)

var (
	runs  = flag.Int("n", 20, "runs per measurement")
	accel = flag.String("accel", "auto", "auto, kvm or tcg")
)

func main() {
	flag.Parse()
	log.SetFlags(0)
	dir, err := os.MkdirTemp("", "boottime-")
	check(err)
	defer os.RemoveAll(dir)

	cfg := qemu.Config{Accel: *accel, Memory: "64M"}
	acc, err := cfg.Accelerator()
	check(err)
	fmt.Printf("accelerator %s, %d runs each, %s\n\n", acc, *runs, cpuName())

	floor := build(dir, "floor", "./bench/floor", false)
	boot := build(dir, "boottime", "./testdata/boottime", true)
	hello := build(dir, "hello", "./testdata/hello", true)

	fmt.Println("| image | first byte (ms) | exit (ms) |")
	fmt.Println("| --- | --- | --- |")
	f1, fx := timeBoots(cfg, floor, *runs)
	fmt.Printf("| floor (PVH entry, exits at once) | - | %s |\n", stats(fx))
	_ = f1
	b1, bx := timeBoots(cfg, boot, *runs)
	fmt.Printf("| testdata/boottime (prints, exits) | %s | %s |\n", stats(b1), stats(bx))
	fmt.Printf("\nmedian first byte above the floor's exit: %.1f ms\n", median(b1)-median(fx))

	// Guest share: main's own reading of the clock, whose zero is the kernel's
	// first instruction; and the kernel's boot log.
	var mains, kernels []float64
	for i := 0; i < *runs; i++ {
		out := run(qemu.Config{Accel: *accel, Memory: "64M", AppendExtra: "unigo.bootlog=1"}, boot)
		mains = append(mains, grab(out, `main at (\d+) us`)/1000)
		kernels = append(kernels, grab(out, `entering the program at (\d+) us`)/1000)
	}
	fmt.Printf("guest share: kernel's first instruction to the program's entry %s ms, to main %s ms\n",
		stats(kernels), stats(mains))

	// Smallest memory that runs hello.
	smallest := ""
	for _, m := range []string{"64M", "48M", "32M", "24M", "16M", "12M", "10M", "8M"} {
		out, res := runStatus(qemu.Config{Accel: *accel, Memory: m}, hello)
		if res != 0 || !strings.Contains(out, "hello from unigo") {
			break
		}
		smallest = m
	}
	fmt.Printf("smallest -m that runs testdata/hello: %s\n", smallest)

	// time.Now: guest and host, same program.
	guest := build(dir, "timenow", "./testdata/timenow", true)
	host := build(dir, "timenow-host", "./testdata/timenow", false)
	gout := run(qemu.Config{Accel: *accel, Memory: "64M"}, guest)
	hout, err := exec.Command(host).Output()
	check(err)
	fmt.Printf("time.Now: guest %.1f ns/op, host %.1f ns/op; clock_gettime system call: guest %.1f ns/op, host %.1f ns/op\n",
		grab(gout, `time.Now ([\d.]+) ns/op`), grab(string(hout), `time.Now ([\d.]+) ns/op`),
		grab(gout, `clock_gettime syscall ([\d.]+) ns/op`), grab(string(hout), `clock_gettime syscall ([\d.]+) ns/op`))

	// Image size.
	plain := build(dir, "hello-plain", "./testdata/hello", false)
	fmt.Printf("image size: testdata/hello %d bytes with the kernel, %d without (+%d)\n",
		size(hello), size(plain), size(hello)-size(plain))
}

func cpuName() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "model name") {
			return strings.TrimSpace(strings.SplitN(l, ":", 2)[1])
		}
	}
	return runtime.GOARCH
}

// build compiles pkg (with the unikernel tag if uni) and, for anything with a PVH
// marker, makes it bootable.
func build(dir, name, pkg string, uni bool) string {
	out := filepath.Join(dir, name)
	args := []string{"build", "-o", out}
	if uni {
		args = append(args, "-tags", "unikernel")
	}
	cmd := exec.Command("go", append(args, pkg)...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	b, err := cmd.CombinedOutput()
	if err != nil {
		log.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	if uni || name == "floor" {
		_, err = image.WriteFile(out, out)
		check(err)
	}
	return out
}

// timeBoots starts QEMU on img n times and returns, per run, the milliseconds to
// the first byte on the console (0 if none) and to QEMU's exit.
func timeBoots(cfg qemu.Config, img string, n int) (first, exit []float64) {
	for i := 0; i < n; i++ {
		argv := cfg.Command(img, "")
		cmd := exec.Command(argv[0], argv[1:]...)
		stdout, err := cmd.StdoutPipe()
		check(err)
		start := time.Now()
		check(cmd.Start())
		r := bufio.NewReader(stdout)
		var firstAt time.Duration
		if _, err := r.ReadByte(); err == nil {
			firstAt = time.Since(start)
		}
		io.Copy(io.Discard, r)
		cmd.Wait()
		first = append(first, ms(firstAt))
		exit = append(exit, ms(time.Since(start)))
	}
	return first, exit
}

func run(cfg qemu.Config, img string) string {
	out, code := runStatus(cfg, img)
	if code != 0 {
		log.Fatalf("%s: exit status %d\n%s", img, code, out)
	}
	return out
}

func runStatus(cfg qemu.Config, img string) (string, int) {
	cfg.Timeout = 2 * time.Minute
	var sb strings.Builder
	res, err := qemu.Run(ctx(), cfg, img, nil, nil, &sb, io.Discard)
	check(err)
	return sb.String(), res.ExitCode
}

func grab(out, re string) float64 {
	m := regexp.MustCompile(re).FindStringSubmatch(out)
	if m == nil {
		log.Fatalf("no %q in:\n%s", re, out)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	check(err)
	return v
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

func stats(v []float64) string {
	return fmt.Sprintf("%.1f (min %.1f, max %.1f)", median(v), slices.Min(v), slices.Max(v))
}

func size(path string) int64 {
	fi, err := os.Stat(path)
	check(err)
	return fi.Size()
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

func ctx() context.Context { return context.Background() }
