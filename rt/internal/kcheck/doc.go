// Package kcheck proves, from the linked ELF, that unigo's kernel-context code
// obeys the rules of kernel context. It owns that check and nothing else: it
// runs on the host, as a test-time and build-time tool, and is never linked
// into a guest.
//
// # Why
//
// The unigo kernel (trap, interrupt and syscall handlers, boot code) is
// ordinary Go linked into the application, but it runs where the Go scheduler
// does not know about it: on a fixed-size kernel stack, with R14 pointing at a
// fake g whose stack bounds describe that stack. There, code must never
// allocate, run a write barrier, enter the scheduler or take a Go lock, recurse,
// call through a pointer the analysis cannot follow, or use more stack than
// the kernel stack has — a stack-growth check that fails would call
// runtime.morestack, which cannot work on a kernel stack. None of this is
// visible in Go source (the compiler adds the calls), so the check is done on
// the machine code the linker produced.
//
// # What it does
//
// [Analyze] reads the ELF's .symtab (STT_FUNC symbols and their sizes) and,
// from each configured [Entry], walks the call graph:
//
//   - Each reachable function is decoded with golang.org/x/arch/x86/x86asm by
//     following its control flow from its first byte. Along every path the
//     stack pointer is tracked through PUSH/POP, ADD/SUB/LEA/AND of SP with
//     constants, and SP<->BP moves (LEAVE, the frame-pointer epilogue), so a
//     function's own depth is the deepest offset any path reaches. Go switch
//     jump tables (LEAQ table(IP); JMP (R)(idx*8)) are read from the image
//     and followed.
//   - Edges are direct CALLs, and direct JMPs (tail calls) to the start of
//     another function; jumps inside a function are local control flow.
//     Targets are resolved by address, so ABI0 symbols (pkg.f.abi0) and ABI
//     wrappers need no special casing.
//   - At each call site the callee's depth is added to the caller's SP offset
//     plus the 8-byte return address; an entry's depth is the maximum over
//     all paths and must be at most Entry.StackBytes-Config.Guard.
//   - Reaching a Deny function, any cycle, an indirect CALL or JMP, a
//     branch to something that is not a function start, or code whose stack
//     pointer cannot be followed is a [Violation] whose Path names the
//     functions from the entry to the offender.
//
// Terminal functions (compiler-inserted panics) are called but not followed;
// Ignore targets (the prologue's runtime.morestack call) are not edges at all,
// because that call is only taken when the depth check this package proves
// would fail. [DefaultConfig] has the lists for Go 1.26 on linux/amd64.
//
// # Limits
//
//   - It cannot see calls through function values or interfaces, so it
//     forbids them: a kernel entry must call only statically known functions.
//     AllowIndirect exempts named functions, and each exemption is a hole in
//     the proof.
//   - It trusts .symtab: function extents are the symbol sizes, and a
//     stripped binary cannot be checked.
//   - It checks reachability, not feasibility: a denied call on a path that
//     never runs is still a violation. Restructure the code, or move the slow
//     path out of kernel context.
//   - Depth is measured from the entry's SP at its first instruction;
//     whatever is already on the stack then (a hardware interrupt frame) must
//     be left out of Entry.StackBytes. Stores below SP are not seen (Go uses
//     no red zone on amd64; assembly that does is not accounted for).
//   - The stack used by Terminal functions is not counted: a panic path ends
//     in the kernel's fault report, whose own stack budget is separate.
//   - Where a recursion or unanalyzable violation is reported, the depth is a
//     lower bound.
//   - Only the jump-table shape the Go compiler emits is recognized; other
//     indirect jumps are reported. Stack switches (MOVQ reg, SP) are reported
//     as unanalyzable, not followed. That a call never returns is known only
//     for the compiler's own list (throw, gopanic, the runtime panic helpers):
//     after any other call, the code that follows is analyzed.
//   - x86asm's VEX/EVEX decoder gets some lengths wrong; lengths of those
//     instructions are recomputed here (see decode), and the tests compare
//     every decoded instruction boundary of a Go binary with GNU objdump.
package kcheck
