package rtc

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestUnixSeconds(t *testing.T) {
	for _, tm := range []time.Time{
		time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2000, 2, 29, 23, 59, 59, 0, time.UTC),
		time.Date(2026, 11, 30, 18, 19, 48, 0, time.UTC),
		time.Date(2100, 3, 1, 12, 0, 0, 0, time.UTC),
	} {
		got := UnixSeconds(int64(tm.Year()), int64(tm.Month()), int64(tm.Day()), int64(tm.Hour()), int64(tm.Minute()), int64(tm.Second()))
		assert.Equal(t, tm.Unix(), got, tm.String())
	}
	assert.Equal(t, int64(12), num(0x12, true))
	assert.Equal(t, int64(0x12), num(0x12, false))
}
