// Package x86 wraps the x86-64 instructions that Go cannot express: port I/O,
// model-specific and control registers, CPUID, descriptor-table loads, TLB
// invalidation, XSAVE control, hardware random numbers and halting.
//
// Context: kernel context only (ring 0), except CPUID, RDTSC, RDRAND and RDSEED,
// which ring 3 may execute too. The package holds no state and calls nothing: every
// function is a leaf in assembly, so kernel packages and drivers may call them from
// any kernel path (trap, syscall, boot) without stack or allocation concerns.
//
// Each function is ABI0 assembly; calls from Go pass through the compiler's ABI
// wrapper, which reloads R14 from FS:-8 afterwards. That is why kernel context
// must run with FS pointing at a kernel TLS block (see rt/internal/kernel).
package x86

// Inb reads a byte from an I/O port.
func Inb(port uint16) uint8

// Outb writes a byte to an I/O port.
func Outb(port uint16, v uint8)

// Inw reads 16 bits from an I/O port.
func Inw(port uint16) uint16

// Outw writes 16 bits to an I/O port.
func Outw(port uint16, v uint16)

// Inl reads 32 bits from an I/O port.
func Inl(port uint16) uint32

// Outl writes 32 bits to an I/O port.
func Outl(port uint16, v uint32)

// OutsbPort writes n bytes from p to one I/O port (REP OUTSB).
func OutsbPort(port uint16, p uintptr, n uintptr)

// Rdmsr reads a model-specific register.
func Rdmsr(msr uint32) uint64

// Wrmsr writes a model-specific register.
func Wrmsr(msr uint32, v uint64)

// Cpuid executes CPUID with EAX=leaf, ECX=sub.
func Cpuid(leaf, sub uint32) (a, b, c, d uint32)

// Rdtsc reads the time-stamp counter.
func Rdtsc() uint64

// ReadCR0 returns CR0.
func ReadCR0() uint64

// WriteCR0 sets CR0.
func WriteCR0(v uint64)

// ReadCR2 returns CR2, the last page-fault address.
func ReadCR2() uint64

// ReadCR3 returns CR3.
func ReadCR3() uint64

// WriteCR3 sets CR3, flushing non-global TLB entries.
func WriteCR3(v uint64)

// ReadCR4 returns CR4.
func ReadCR4() uint64

// WriteCR4 sets CR4.
func WriteCR4(v uint64)

// Xgetbv reads extended control register idx (XCR0 for 0).
func Xgetbv(idx uint32) uint64

// Xsetbv writes extended control register idx.
func Xsetbv(idx uint32, v uint64)

// Invlpg drops the TLB entry for the page holding addr.
func Invlpg(addr uintptr)

// Lgdt loads GDTR from the 10-byte pseudo-descriptor at p.
func Lgdt(p uintptr)

// Lidt loads IDTR from the 10-byte pseudo-descriptor at p.
func Lidt(p uintptr)

// Ltr loads the task register with selector sel.
func Ltr(sel uint16)

// Rdrand returns a hardware random number; ok is false when the DRNG had none
// ready (the caller retries).
func Rdrand() (v uint64, ok bool)

// Rdseed returns a full-entropy seed; ok is false when none was ready.
func Rdseed() (v uint64, ok bool)

// Pause hints a spin-wait loop.
func Pause()

// Halt stops the CPU until the next interrupt with interrupts disabled (forever,
// unless an NMI arrives).
func Halt()

// WaitForInterrupt enables interrupts and halts in one step (STI's one-instruction
// shadow covers HLT, so an interrupt pending at the STI still ends the HLT), then
// disables interrupts again once the handler has run.
func WaitForInterrupt()

// Wbinvd writes back and invalidates the caches.
func Wbinvd()

// Fxsave stores the x87/SSE state in the FXSAVE format at area (512 bytes,
// 16-byte aligned).
func Fxsave(area uintptr)
