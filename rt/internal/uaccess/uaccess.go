// Package uaccess moves bytes between kernel memory and the program's memory.
//
// Context: kernel context (system call handlers). The callers first check the
// range with mm.Memory.Prepare, which maps every page the program may touch and
// turns every address it may not into EFAULT; these routines are the second line:
// if a page still faults (another CPU unmapped it meanwhile), the trap code sees
// the faulting instruction is one of the three below and resumes at faultRet,
// which returns failure instead of crashing the kernel.
package uaccess

// Copy copies n bytes from src to dst; false if a page faulted.
//
//go:noescape
func Copy(dst, src, n uintptr) bool

// Load32 reads the aligned 32-bit word at addr in one access (futex values);
// ok is false if the page faulted.
//
//go:noescape
func Load32(addr uintptr) (v uint32, ok bool)

// Sites returns the addresses of the two copying instructions (words, then
// the bytes left), of the loading instruction, and of the routine that a
// fault at any of them resumes in. The trap code keeps them in the per-CPU
// block.
func Sites() (copyWords, copyBytes, load, faultRet uintptr)
