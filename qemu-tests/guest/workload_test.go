package guest

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestWorkload runs a mix of standard-library work from many goroutines at
// once (JSON, regular expressions, compression, hashing, sorting, maps, timers
// and a mutex), so that a guest runs the scheduler, the collector, futexes and
// timers together, and checks every result.
func TestWorkload(t *testing.T) {
	type record struct {
		ID    int               `json:"id"`
		Name  string            `json:"name"`
		Tags  []string          `json:"tags"`
		Attrs map[string]string `json:"attrs"`
	}
	re := regexp.MustCompile(`^item-(\d+)-([a-z]+)$`)
	var mu sync.Mutex
	seen := map[int]bool{}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for i := range 50 {
				id := w*1000 + i
				r := record{ID: id, Name: fmt.Sprintf("item-%d-%s", id, strings.Repeat("x", 1+rng.IntN(20))),
					Tags: []string{"a", "b", fmt.Sprint(i)}, Attrs: map[string]string{"w": fmt.Sprint(w)}}
				b, err := json.Marshal(r)
				if err != nil {
					errs <- err
					return
				}
				var back record
				if err := json.Unmarshal(b, &back); err != nil || back.ID != id || len(back.Tags) != 3 {
					errs <- fmt.Errorf("json round trip of %d: %v", id, err)
					return
				}
				if m := re.FindStringSubmatch(back.Name); m == nil || m[1] != fmt.Sprint(id) {
					errs <- fmt.Errorf("regexp on %q", back.Name)
					return
				}
				var z bytes.Buffer
				zw := gzip.NewWriter(&z)
				zw.Write(bytes.Repeat(b, 20))
				zw.Close()
				zr, err := gzip.NewReader(&z)
				if err != nil {
					errs <- err
					return
				}
				out, _ := io.ReadAll(zr)
				if !bytes.Equal(out, bytes.Repeat(b, 20)) {
					errs <- fmt.Errorf("gzip round trip of %d", id)
					return
				}
				if sha256.Sum256(out) != sha256.Sum256(bytes.Repeat(b, 20)) {
					errs <- fmt.Errorf("sha256 of %d", id)
					return
				}
				nums := make([]int, 500)
				for j := range nums {
					nums[j] = rng.IntN(1000)
				}
				sort.Ints(nums)
				if !sort.IntsAreSorted(nums) {
					errs <- fmt.Errorf("sort")
					return
				}
				if i%10 == 0 {
					time.Sleep(time.Millisecond)
					runtime.Gosched()
				}
				mu.Lock()
				seen[id] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if len(seen) != 16*50 {
		t.Fatalf("%d records done, want %d", len(seen), 16*50)
	}
}
