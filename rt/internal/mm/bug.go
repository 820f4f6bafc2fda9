package mm

// kernelBug stops the kernel with a message: an invariant of this package broke.
// In the kernel it is the fault-report path (bug_unikernel.go); in host tests it
// panics, so a test sees it.
func kernelBug(msg string, v uint64) {
	bugHook(msg, v)
}
