// Package mm owns memory: the physical frame allocator, the commit accounting that
// keeps every promise of memory backed, the x86-64 page tables, and the one user
// address space (its mappings and the Linux calls that change them: mmap, munmap,
// mprotect, madvise, and page faults).
//
// Context: kernel context (syscall and fault handlers, boot). Nothing here
// allocates on the Go heap, takes Go locks or calls the scheduler; state lives in
// kernel memory the caller provides, and addresses are uintptr. The same code runs
// in host tests over a byte slice standing in for physical memory: physical
// addresses are offsets, and Memory.DM (the direct map) is the slice's address.
//
// # Policy
//
//   - Demand paging: frames are taken and zeroed when pages are first touched, so
//     a PROT_NONE reservation of any size costs nothing.
//   - Commitment follows how the Go runtime uses memory. A mapping placed over
//     the program's own reservation (MAP_FIXED: how the runtime commits heap) or
//     asked for with MAP_POPULATE is charged in full when it is made, and fails
//     with ENOMEM when memory cannot back it: the runtime then stops with its own
//     "out of memory" report. Other mappings (the runtime's large, sparse metadata
//     tables, such as the 32 MiB arena index) are charged page by page as they are
//     touched, as Linux's default heuristic would let them be; a touch that finds
//     no frame ends the process with a kernel report (exit status 137, as the
//     OOM killer's SIGKILL), as with Linux's overcommit.
//   - A floor of frames (1/64 of memory, at least 1 MiB) stays out of reach of
//     commitments, for page tables, kernel objects and touched metadata.
//   - 4 KiB pages for user memory; the kernel's direct map of all RAM uses 2 MiB
//     pages.
//   - W^X: no mapping is both writable and executable (EACCES); anonymous memory
//     is non-executable unless PROT_EXEC asks; the image's text is read-only.
//   - User pages never include kernel memory: the direct map, page tables and
//     kernel stacks are supervisor-only.
package mm
