// Package guest holds ordinary Go tests that the boot test suite runs inside a
// unigo guest with go test -tags unikernel -exec "go tool unigo-run"
// (qemutests.TestGoTestExec). Without the unikernel tag, importing rt changes
// nothing and they run natively under plain go test, where they pass as well.
package guest

import (
	"fmt"
	"os"
	"sync"
	"syscall"
	"testing"

	_ "github.com/unigo-dev/unigo/rt"
)

// TestArithmetic is the simplest test that can pass.
func TestArithmetic(t *testing.T) {
	sum := 0
	for i := 1; i <= 100; i++ {
		sum += i
	}
	if sum != 5050 {
		t.Fatalf("1+...+100 = %d, want 5050", sum)
	}
}

// TestGoroutines adds up results from many goroutines.
func TestGoroutines(t *testing.T) {
	const n = 100
	var wg sync.WaitGroup
	results := make(chan int, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results <- i * i
		}()
	}
	wg.Wait()
	close(results)
	sum := 0
	for r := range results {
		sum += r
	}
	if want := (n - 1) * n * (2*n - 1) / 6; sum != want {
		t.Fatalf("sum of squares = %d, want %d", sum, want)
	}
}

// TestSkipped is always skipped.
func TestSkipped(t *testing.T) {
	t.Skip("skipped on purpose")
}

// sysUnigoCount is unigo's private system call (rt/internal/linux): it
// succeeds only under unigo, so it tells a guest from a native run.
const sysUnigoCount = 0x1000

// TestPrintsOutput prints a line saying whether it runs under unigo, for the
// host test to find in go test's output.
func TestPrintsOutput(t *testing.T) {
	_, _, errno := syscall.Syscall(sysUnigoCount, uintptr(syscall.SYS_WRITE), 0, 0)
	fmt.Printf("guest output: under unigo=%v\n", errno == 0)
}

// TestFails fails, on purpose, only when UNIGO_GUEST_FAIL=1 is in its
// environment: the host test sets it to check that a failing test fails go test.
func TestFails(t *testing.T) {
	if v := os.Getenv("UNIGO_GUEST_FAIL"); v == "1" {
		t.Fatalf("failing on purpose: UNIGO_GUEST_FAIL=%s", v)
	}
}
