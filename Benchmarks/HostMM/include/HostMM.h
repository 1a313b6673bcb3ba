// SPDX-License-Identifier: MIT — the host kernel's side of the benchmark table (BenchTable): what this machine's own
// Linux does for the operations the emulator models, measured in the same process (and forked children of it).
//
// Every function returns 0, or -1 with errno set when a system call failed or a count came out wrong.
#ifndef HOST_MM_H
#define HOST_MM_H

#include <stddef.h>
#include <stdint.h>

/// CLOCK_MONOTONIC in nanoseconds.
uint64_t hostmm_now_ns(void);

/// Minor write faults: a memfd of `pages` pages is filled once (every page in the page cache), then each round maps
/// it MAP_SHARED read/write afresh and stores one byte to each page: one minor fault per page (no fault-around on
/// write faults; shmem has no ->page_mkwrite, so the PTE is made writable by the fault). `best_ns` is the best
/// round's wall time per page; `faults` the last round's minor-fault count (getrusage), which should be `pages`.
int hostmm_minor_write_fault(int pages, int rounds, double *best_ns, long *faults);

/// Write-tracking in user space, the fb_defio way: a MAP_SHARED memfd mapping is made read-only (not timed), then
/// one store to each page faults; the SIGSEGV handler records the page and mprotects it writable, and the store is
/// retried. `best_ns` per page (store + fault + signal delivery + handler's mprotect + sigreturn + the store);
/// `faults` the last round's handler calls, which should be `pages`.
int hostmm_sigsegv_round_trip(int pages, int rounds, double *best_ns, long *faults);

/// mprotect(PROT_READ) of one page at a time, over `pages` pages of a MAP_SHARED memfd mapping whose PTEs are all
/// present, writable and dirty (re-armed between rounds, not timed): the host's cost of write-protecting one PTE
/// with one call, as fb_defio's worker does once per page. `best_ns` per call.
int hostmm_mprotect_per_page(int pages, int rounds, double *best_ns);

/// A plain loop of 32-bit stores (not vectorised) over `words` words of `buffer`, `reps` times; the values differ
/// per word and per rep so that nothing becomes a memset. Returns the wall time in ns.
uint64_t hostmm_store32_loop(uint32_t *buffer, size_t words, int reps, uint32_t seed);

/// memcpy of `row_bytes` from `source` to each of `rows` rows of `destination` (`stride` bytes apart), `reps` times.
/// Returns the wall time in ns.
uint64_t hostmm_copy_rows(uint8_t *destination, size_t stride, const uint8_t *source, size_t row_bytes, int rows,
                          int reps);

/// One line of an access trace for `hostmm_replay`: a write of `length` bytes of `byte` at `offset` by process
/// `proc`, or a flush point (`proc` = -1).
typedef struct hostmm_replay_line {
    int32_t proc;
    int32_t byte;
    int64_t offset;
    int64_t length;
} hostmm_replay_line;

/// The host kernel tracking an access trace the way fb_defio does, with mprotect and SIGSEGV: `procs` forked
/// children each map a memfd of `size` bytes MAP_SHARED, read-only, and run their own lines in order; the first
/// write to a page in a batch faults, the handler records the page (in a list shared with the parent, once per
/// page) and mprotects it writable. At each flush point every child stops (barrier), re-protects the pages it made
/// writable (one mprotect per run of consecutive pages), and the parent — the worker — copies the listed pages into
/// `panel` (`size` bytes) and clears the list; then the next batch starts (barrier). Within a batch the children run
/// concurrently, not in trace order. `elapsed_ns` covers the forks to the last child's exit; `faults` counts the
/// handler calls, `delivered` the pages copied.
int hostmm_replay(const hostmm_replay_line *lines, long line_count, int procs, size_t size, uint8_t *panel,
                  uint64_t *elapsed_ns, long *faults, long *delivered);

#endif
