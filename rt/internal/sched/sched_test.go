package sched

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// world is a scheduler and thread records in ordinary memory, as kernel memory
// would hold them.
type world struct {
	s       *Scheduler
	records [][]byte
}

func newWorld(t *testing.T, limit int) *world {
	w := &world{s: new(Scheduler)}
	w.s.Init(limit)
	return w
}

func (w *world) add(t *testing.T) *Thread {
	rec := make([]byte, unsafe.Sizeof(Thread{}))
	w.records = append(w.records, rec)
	th, ok := w.s.Add(uintptr(unsafe.Pointer(&rec[0])))
	require.True(t, ok)
	return th
}

func TestRunQueueIsFIFO(t *testing.T) {
	w := newWorld(t, 8)
	a, b, c := w.add(t), w.add(t), w.add(t)
	assert.Equal(t, int32(1), a.TID, "the first thread is the process")
	for _, want := range []*Thread{a, b, c} {
		got, ok := w.s.PickNext(0)
		require.True(t, ok)
		assert.Equal(t, want.TID, got.TID)
		w.s.Yield(got)
	}
	got, _ := w.s.PickNext(0)
	assert.Equal(t, a.TID, got.TID, "round robin")
}

func TestLimitAndTIDReuse(t *testing.T) {
	w := newWorld(t, 2)
	a, b := w.add(t), w.add(t)
	assert.True(t, w.s.Full())
	_, ok := w.s.Add(uintptr(unsafe.Pointer(&make([]byte, unsafe.Sizeof(Thread{}))[0])))
	assert.False(t, ok, "past the limit")
	old := b.TID
	got, ok := w.s.ByTID(old)
	require.True(t, ok)
	assert.Equal(t, b, got)
	w.s.PickNext(0)
	w.s.PickNext(0)
	w.s.Exit(b)
	w.s.Remove(b)
	_, ok = w.s.ByTID(old)
	assert.False(t, ok, "an exited thread's TID is gone")
	c := w.add(t)
	assert.NotEqual(t, old, c.TID, "a reused slot gets a new TID")
	_, ok = w.s.ByTID(a.TID)
	assert.True(t, ok)
}

func TestFutexWaitWake(t *testing.T) {
	w := newWorld(t, 8)
	a, b, c := w.add(t), w.add(t), w.add(t)
	for range 3 {
		th, _ := w.s.PickNext(0)
		w.s.Block(th, WaitFutex, 0x1000, 0xFFFFFFFF, 0)
	}
	assert.False(t, w.s.Runnable())
	assert.Equal(t, 0, w.s.FutexWake(0x2000, 10, 0xFFFFFFFF), "another address wakes nobody")
	assert.Equal(t, 2, w.s.FutexWake(0x1000, 2, 0xFFFFFFFF))
	got, _ := w.s.PickNext(0)
	assert.Equal(t, a.TID, got.TID, "woken in the order they waited")
	assert.Equal(t, uint64(0), got.Frame.RAX, "FUTEX_WAIT returns 0 when woken")
	got, _ = w.s.PickNext(0)
	assert.Equal(t, b.TID, got.TID)
	assert.Equal(t, 1, w.s.FutexWake(0x1000, 5, 0xFFFFFFFF))
	got, _ = w.s.PickNext(0)
	assert.Equal(t, c.TID, got.TID)
	// Bitsets: a waiter is woken only by a wake whose bitset meets its own.
	w.s.Block(got, WaitFutex, 0x1000, 0x1, 0)
	assert.Equal(t, 0, w.s.FutexWake(0x1000, 1, 0x2))
	assert.Equal(t, 1, w.s.FutexWake(0x1000, 1, 0x3))
}

func TestTimersExpireInOrder(t *testing.T) {
	w := newWorld(t, 16)
	var ths []*Thread
	for range 10 {
		ths = append(ths, w.add(t))
	}
	deadlines := []int64{50, 10, 90, 30, 70, 20, 60, 40, 80, 100}
	for i := range ths {
		th, _ := w.s.PickNext(0)
		wait := uint8(WaitSleep)
		if i%2 == 0 {
			wait = WaitFutex
		}
		w.s.Block(th, wait, 0x40, 0xFFFFFFFF, deadlines[i])
	}
	assert.Equal(t, int64(10), w.s.NextDeadline())
	// A wake cancels the timer.
	w.s.FutexWake(0x40, 1, 0xFFFFFFFF) // wakes the first futex waiter: deadline 50
	assert.Equal(t, 3, w.s.Expire(35, 110))
	assert.Equal(t, int64(40), w.s.NextDeadline())
	var woke []int64
	for w.s.Runnable() {
		th, _ := w.s.PickNext(0)
		woke = append(woke, th.Deadline)
		if th.Slot()%2 == 0 && th.Deadline != 0 {
			t.Fatalf("woken thread kept its deadline")
		}
	}
	assert.Len(t, woke, 4)
	assert.Equal(t, 6, w.s.Expire(1000, 110))
	assert.Zero(t, w.s.NextDeadline())
	for w.s.Runnable() {
		th, _ := w.s.PickNext(0)
		if th.Slot()%2 == 0 {
			assert.Equal(t, uint64(0xFFFFFFFFFFFFFF92), th.Frame.RAX, "a futex wait that timed out returns -ETIMEDOUT")
		} else {
			assert.Zero(t, th.Frame.RAX, "a sleep returns 0")
		}
	}
}

func TestFileWaiters(t *testing.T) {
	w := newWorld(t, 4)
	a, b := w.add(t), w.add(t)
	for _, th := range []*Thread{a, b} {
		w.s.PickNext(0)
		th.WaitFD = 3
		w.s.Block(th, WaitFile, 0x5000, 16, 500)
	}
	var seen []int32
	for th, ok := w.s.FileWaiters(); ok; {
		next, more := w.s.NextFileWaiter(th)
		seen = append(seen, th.TID)
		w.s.Wake(th, 1)
		th, ok = next, more
	}
	assert.Equal(t, []int32{a.TID, b.TID}, seen)
	_, ok := w.s.FileWaiters()
	assert.False(t, ok)
	assert.Zero(t, w.s.NextDeadline(), "their timeouts were cancelled")
}

func TestCPUTime(t *testing.T) {
	w := newWorld(t, 2)
	a := w.add(t)
	w.s.PickNext(100)
	w.s.Stopped(a, 350)
	assert.Equal(t, int64(250), a.CPUTime)
	w.s.Yield(a)
	w.s.PickNext(400)
	assert.Equal(t, int64(250+100), w.s.ProcessCPUTime(500))
}
