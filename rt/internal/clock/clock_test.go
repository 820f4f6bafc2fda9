package clock

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestConversions(t *testing.T) {
	for _, hz := range []uint64{1_000_000_000, 2_100_000_000, 3_417_600_000, 24_000_000} {
		c := Clock{TSCHz: hz, tsc0: 1234567}
		c.mult = MultFor(hz)
		for _, ns := range []int64{0, 1, 999, 1_000_000_000, 86_400_000_000_000, 10 * 365 * 86_400_000_000_000} {
			tsc := c.ToTSC(ns)
			back := c.FromTSC(tsc)
			// One tick of rounding each way.
			tick := int64(1_000_000_000/hz) + 1
			assert.InDelta(t, ns, back, float64(tick), "hz=%d ns=%d", hz, ns)
		}
		// A second of ticks is a second.
		assert.InDelta(t, int64(1_000_000_000), c.FromTSC(c.tsc0+hz), 2, "hz=%d", hz)
	}
}

func TestMedian5(t *testing.T) {
	assert.Equal(t, uint64(3), median5([5]uint64{5, 1, 3, 2, 4}))
	assert.Equal(t, uint64(10), median5([5]uint64{10, 10, 999, 1, 10}))
}
