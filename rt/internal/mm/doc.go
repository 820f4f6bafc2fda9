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
//   - Demand paging with strict commit accounting: a mapping that is not PROT_NONE
//     promises its pages when it is made (ENOMEM if the promise cannot be kept),
//     and frames are taken and zeroed when the pages are first touched. So a
//     PROT_NONE reservation of any size costs nothing, an mmap beyond RAM fails
//     with ENOMEM at the mmap (where the Go runtime reports "out of memory"), and a
//     page fault on committed memory always finds a frame.
//   - A floor of frames stays out of reach of commitments, for page tables and
//     kernel objects, which are taken when needed.
//   - 4 KiB pages for user memory; the kernel's direct map of all RAM uses 2 MiB
//     pages.
//   - W^X: no mapping is both writable and executable (EACCES); anonymous memory
//     is non-executable unless PROT_EXEC asks; the image's text is read-only.
//   - User pages never include kernel memory: the direct map, page tables and
//     kernel stacks are supervisor-only.
package mm
