// Command client is the host side of bench/net/run.sh's bulk TCP measurement.
//
//	client wait URL SECONDS      GET URL until it answers "hello\n", or fail
//	client send ADDR MIB RUNS    to the server's sink: write MIB MiB of
//	                             zeros, half-close, wait for the server to
//	                             close (so every byte was read); RUNS times
//	client recv ADDR RUNS        from the server's source: read until it
//	                             closes; RUNS times
//
// send and recv print one line per run and then "median MIBPS", the median
// of the runs in MiB/s (2^20 bytes per second), timed from before the dial to
// the end of the connection.
package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"time"
)

func main() {
	if len(os.Args) < 3 {
		usage()
	}
	switch os.Args[1] {
	case "wait":
		secs := atoi(arg(3))
		deadline := time.Now().Add(time.Duration(secs) * time.Second)
		c := http.Client{Timeout: 2 * time.Second}
		for {
			r, err := c.Get(arg(2))
			if err == nil {
				body, _ := io.ReadAll(r.Body)
				r.Body.Close()
				if r.StatusCode == 200 && string(body) == "hello\n" {
					return
				}
				err = fmt.Errorf("status %s, body %.40q: not our server", r.Status, body)
			}
			if time.Now().After(deadline) {
				fail(fmt.Errorf("%s not answering after %d s: %v", arg(2), secs, err))
			}
			time.Sleep(200 * time.Millisecond)
		}
	case "send":
		mib := atoi(arg(3))
		runs(atoi(arg(4)), func() (int64, error) { return send(arg(2), int64(mib)<<20) })
	case "recv":
		runs(atoi(arg(3)), func() (int64, error) { return recv(arg(2)) })
	default:
		usage()
	}
}

func runs(n int, f func() (int64, error)) {
	var rates []float64
	for i := 1; i <= n; i++ {
		start := time.Now()
		bytes, err := f()
		if err != nil {
			fail(err)
		}
		d := time.Since(start)
		rate := float64(bytes) / (1 << 20) / d.Seconds()
		fmt.Printf("run %d: %d bytes in %.3f s: %.1f MiB/s\n", i, bytes, d.Seconds(), rate)
		rates = append(rates, rate)
	}
	slices.Sort(rates)
	fmt.Printf("median %.1f\n", rates[len(rates)/2])
}

func send(addr string, total int64) (int64, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	buf := make([]byte, 256<<10)
	for left := total; left > 0; {
		n := min(int64(len(buf)), left)
		if _, err := c.Write(buf[:n]); err != nil {
			return 0, err
		}
		left -= n
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		return 0, err
	}
	// The sink closes once it has read everything.
	if _, err := io.Copy(io.Discard, c); err != nil {
		return 0, err
	}
	return total, nil
}

func recv(addr string) (int64, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	n, err := io.Copy(io.Discard, c)
	if err == nil && n == 0 {
		err = fmt.Errorf("%s: no bytes", addr)
	}
	return n, err
}

func arg(i int) string {
	if i >= len(os.Args) {
		usage()
	}
	return os.Args[i]
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		fail(fmt.Errorf("%q: want a positive number", s))
	}
	return n
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: client wait URL SECONDS | send ADDR MIB RUNS | recv ADDR RUNS")
	os.Exit(2)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "client:", err)
	os.Exit(1)
}
