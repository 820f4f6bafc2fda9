// Package rtc reads the CMOS real-time clock, the wall clock of PC-compatible
// machines (QEMU's mc146818, which follows the host's clock in UTC).
//
// Context: kernel context only (port I/O), at boot. No state.
package rtc

import "github.com/unigo-dev/unigo/internal/x86"

const (
	portIndex = 0x70
	portData  = 0x71
)

func reg(r uint8) uint8 {
	x86.Outb(portIndex, r|0x80) // bit 7 keeps NMIs masked, as firmware leaves it
	return x86.Inb(portData)
}

// Present says whether an RTC answers (an absent one reads 0xFF everywhere).
func Present() bool { return reg(0x0D) != 0xFF }

// Read returns the RTC's time as seconds since 1970-01-01 UTC, read twice until
// two reads agree so that an update in between cannot tear it.
func Read() int64 {
	var prev [6]uint8
	for try := 0; try < 16; try++ {
		for i := 0; reg(0x0A)&0x80 != 0 && i < 1_000_000; i++ { // update in progress
			x86.Pause()
		}
		cur := [6]uint8{reg(0x00), reg(0x02), reg(0x04), reg(0x07), reg(0x08), reg(0x09)}
		if cur == prev {
			break
		}
		prev = cur
	}
	b := reg(0x0B)
	bcd := b&0x04 == 0
	sec, min, hour := num(prev[0], bcd), num(prev[1], bcd), num(prev[2]&0x7F, bcd)
	if b&0x02 == 0 && prev[2]&0x80 != 0 { // 12-hour clock, PM
		hour = (hour % 12) + 12
	}
	day, mon, year := num(prev[3], bcd), num(prev[4], bcd), num(prev[5], bcd)
	if c := num(reg(0x32), bcd); c >= 19 && c <= 99 {
		year += c * 100
	} else {
		year += 2000
	}
	return UnixSeconds(year, mon, day, hour, min, sec)
}

// num decodes a register value, binary or BCD.
func num(v uint8, bcd bool) int64 {
	if bcd {
		return int64(v&0x0F) + int64(v>>4)*10
	}
	return int64(v)
}

// UnixSeconds converts a UTC civil time to seconds since the epoch.
func UnixSeconds(year, mon, day, hour, min, sec int64) int64 {
	// Days from civil (proleptic Gregorian), shifting the year to start in March.
	if mon <= 2 {
		year--
		mon += 12
	}
	era := year / 400
	yoe := year - era*400
	doy := (153*(mon-3)+2)/5 + day - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	days := era*146097 + doe - 719468
	return days*86400 + hour*3600 + min*60 + sec
}
