//go:build !unigo_kcheck_bad

package syscalls

// kcheckBad is empty in every real kernel; kcheckbad.go gives it deliberately
// bad bodies for rt/internal/kcheck's tests (build tag unigo_kcheck_bad).
func kcheckBad(uint64) uint64 { return 0 }
