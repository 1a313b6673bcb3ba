// SPDX-License-Identifier: MIT — the host kernel's side of the benchmark table (see HostMM.h).
#define _GNU_SOURCE
#include "HostMM.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

uint64_t hostmm_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static size_t page_size(void) { return (size_t)sysconf(_SC_PAGESIZE); }

/// A memfd of `bytes` bytes; -1 on failure.
static int make_memfd(const char *name, size_t bytes) {
    int fd = memfd_create(name, MFD_CLOEXEC);
    if (fd < 0) return -1;
    if (ftruncate(fd, (off_t)bytes) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/// Keeps the compiler from dropping or merging stores that nothing reads.
static inline void clobber_memory(void) { __asm__ volatile("" ::: "memory"); }

static long minor_faults(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_minflt;
}

int hostmm_minor_write_fault(int pages, int rounds, double *best_ns, long *faults) {
    const size_t ps = page_size(), len = (size_t)pages * ps;
    int fd = make_memfd("hostmm-minor", len);
    if (fd < 0) return -1;
    // Fill the page cache once, so every later fault finds its page there (a minor fault).
    volatile uint8_t *fill = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (fill == MAP_FAILED) goto fail;
    for (size_t i = 0; i < len; i += ps) fill[i] = 1;
    munmap((void *)fill, len);
    double best = 1e300;
    for (int r = 0; r < rounds; r++) {
        volatile uint8_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED) goto fail;
        long before = minor_faults();
        uint64_t t0 = hostmm_now_ns();
        for (size_t i = 0; i < len; i += ps) p[i] = (uint8_t)r;
        uint64_t t1 = hostmm_now_ns();
        *faults = minor_faults() - before;
        munmap((void *)p, len);
        double ns = (double)(t1 - t0) / pages;
        if (ns < best) best = ns;
    }
    close(fd);
    *best_ns = best;
    return 0;
fail:;
    int e = errno;
    close(fd);
    errno = e;
    return -1;
}

// The SIGSEGV handler's view of the region being tracked (one region at a time per process).
static uint8_t *tracked_base;
static size_t tracked_len, tracked_page;
static volatile long tracked_faults;
/// For hostmm_replay's children: the list shared with the parent, and the child's own pages to re-protect.
static uint8_t *shared_listed;
static int32_t *shared_list;
static int32_t *shared_list_count;
static int32_t *own_pages;
static int32_t own_count;

static void tracking_handler(int sig, siginfo_t *info, void *context) {
    (void)context;
    uint8_t *a = info->si_addr;
    if (a < tracked_base || a >= tracked_base + tracked_len) {
        signal(sig, SIG_DFL);  // Not ours: the retried access crashes as it should.
        return;
    }
    size_t page = (size_t)(a - tracked_base) / tracked_page;
    if (mprotect(tracked_base + page * tracked_page, tracked_page, PROT_READ | PROT_WRITE) != 0) {
        signal(sig, SIG_DFL);
        return;
    }
    tracked_faults++;
    if (own_pages) own_pages[own_count++] = (int32_t)page;
    if (shared_listed && !__atomic_exchange_n(&shared_listed[page], 1, __ATOMIC_ACQ_REL)) {
        int32_t slot = __atomic_fetch_add(shared_list_count, 1, __ATOMIC_ACQ_REL);
        shared_list[slot] = (int32_t)page;
    }
}

static int install_handler(struct sigaction *old) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = tracking_handler;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    return sigaction(SIGSEGV, &sa, old);
}

int hostmm_sigsegv_round_trip(int pages, int rounds, double *best_ns, long *faults) {
    const size_t ps = page_size(), len = (size_t)pages * ps;
    int fd = make_memfd("hostmm-segv", len);
    if (fd < 0) return -1;
    uint8_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED) return -1;
    for (size_t i = 0; i < len; i += ps) ((volatile uint8_t *)p)[i] = 1;
    struct sigaction old;
    if (install_handler(&old) != 0) return -1;
    tracked_base = p;
    tracked_len = len;
    tracked_page = ps;
    double best = 1e300;
    int rc = 0;
    for (int r = 0; r < rounds && rc == 0; r++) {
        if (mprotect(p, len, PROT_READ) != 0) {
            rc = -1;
            break;
        }
        tracked_faults = 0;
        uint64_t t0 = hostmm_now_ns();
        for (size_t i = 0; i < len; i += ps) ((volatile uint8_t *)p)[i] = (uint8_t)r;
        uint64_t t1 = hostmm_now_ns();
        *faults = tracked_faults;
        if (tracked_faults != pages) {
            errno = EPROTO;
            rc = -1;
        }
        double ns = (double)(t1 - t0) / pages;
        if (ns < best) best = ns;
    }
    sigaction(SIGSEGV, &old, NULL);
    tracked_base = NULL;
    munmap(p, len);
    *best_ns = best;
    return rc;
}

int hostmm_mprotect_per_page(int pages, int rounds, double *best_ns) {
    const size_t ps = page_size(), len = (size_t)pages * ps;
    int fd = make_memfd("hostmm-mprotect", len);
    if (fd < 0) return -1;
    uint8_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED) return -1;
    double best = 1e300;
    for (int r = 0; r < rounds; r++) {
        // Re-arm (not timed): every PTE present, writable and dirty.
        if (mprotect(p, len, PROT_READ | PROT_WRITE) != 0) goto fail;
        for (size_t i = 0; i < len; i += ps) ((volatile uint8_t *)p)[i] = (uint8_t)r;
        uint64_t t0 = hostmm_now_ns();
        for (size_t i = 0; i < len; i += ps) {
            if (mprotect(p + i, ps, PROT_READ) != 0) goto fail;
        }
        uint64_t t1 = hostmm_now_ns();
        double ns = (double)(t1 - t0) / pages;
        if (ns < best) best = ns;
    }
    munmap(p, len);
    *best_ns = best;
    return 0;
fail:;
    int e = errno;
    munmap(p, len);
    errno = e;
    return -1;
}

uint64_t hostmm_store32_loop(uint32_t *buffer, size_t words, int reps, uint32_t seed) {
    uint64_t t0 = hostmm_now_ns();
    for (int r = 0; r < reps; r++) {
        uint32_t v = seed + (uint32_t)r * 0x9E3779B9u;
#pragma clang loop vectorize(disable)
        for (size_t i = 0; i < words; i++) buffer[i] = v + (uint32_t)i;
        clobber_memory();
    }
    return hostmm_now_ns() - t0;
}

uint64_t hostmm_copy_rows(uint8_t *destination, size_t stride, const uint8_t *source, size_t row_bytes, int rows,
                          int reps) {
    uint64_t t0 = hostmm_now_ns();
    for (int r = 0; r < reps; r++) {
        for (int y = 0; y < rows; y++) {
            memcpy(destination + (size_t)y * stride, source, row_bytes);
            clobber_memory();
        }
    }
    return hostmm_now_ns() - t0;
}

/// What the parent and the children of hostmm_replay share (MAP_SHARED anonymous memory, set up before the forks).
typedef struct replay_control {
    pthread_barrier_t barrier;
    long faults;
    int32_t list_count;
    int32_t failed;
} replay_control;

/// One child of hostmm_replay: its own lines in order, a stop at each flush.
static void replay_child(const hostmm_replay_line *lines, long line_count, int me, int fd, size_t size,
                         size_t mapped, replay_control *control, uint8_t *listed, int32_t *list, int32_t *own) {
    const size_t ps = page_size();
    uint8_t *base = mmap(NULL, mapped, PROT_READ, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) __atomic_store_n(&control->failed, 1, __ATOMIC_RELAXED);
    tracked_base = base;
    tracked_len = mapped;
    tracked_page = ps;
    shared_listed = listed;
    shared_list = list;
    shared_list_count = &control->list_count;
    own_pages = own;
    own_count = 0;
    tracked_faults = 0;
    struct sigaction old;
    if (install_handler(&old) != 0) __atomic_store_n(&control->failed, 1, __ATOMIC_RELAXED);
    pthread_barrier_wait(&control->barrier);  // start
    int ok = base != MAP_FAILED && !control->failed;
    for (long i = 0; i < line_count; i++) {
        const hostmm_replay_line *l = &lines[i];
        if (l->proc == me) {
            if (ok && (size_t)(l->offset + l->length) <= size) memset(base + l->offset, l->byte, (size_t)l->length);
        } else if (l->proc < 0) {
            pthread_barrier_wait(&control->barrier);  // the batch is written
            // Re-protect what this child made writable: one mprotect per run of consecutive pages.
            for (int32_t k = 0; ok && k < own_count;) {
                int32_t first = own[k], end = first + 1;
                k++;
                while (k < own_count && own[k] == end) {
                    end++;
                    k++;
                }
                if (mprotect(base + (size_t)first * ps, (size_t)(end - first) * ps, PROT_READ) != 0) ok = 0;
            }
            own_count = 0;
            pthread_barrier_wait(&control->barrier);  // re-armed and delivered
        }
    }
    __atomic_fetch_add(&control->faults, tracked_faults, __ATOMIC_ACQ_REL);
    if (!ok) __atomic_store_n(&control->failed, 1, __ATOMIC_RELAXED);
    _exit(ok ? 0 : 1);
}

int hostmm_replay(const hostmm_replay_line *lines, long line_count, int procs, size_t size, uint8_t *panel,
                  uint64_t *elapsed_ns, long *faults, long *delivered) {
    const size_t ps = page_size(), mapped = (size + ps - 1) / ps * ps, npages = mapped / ps;
    // Shared between the parent and the children: control block, per-page "listed" flags, the page list.
    size_t shared_len = sizeof(replay_control) + npages + npages * sizeof(int32_t);
    uint8_t *shared = mmap(NULL, shared_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shared == MAP_FAILED) return -1;
    replay_control *control = (replay_control *)shared;
    uint8_t *listed = shared + sizeof(replay_control);
    int32_t *list = (int32_t *)(((uintptr_t)(listed + npages) + 3) & ~(uintptr_t)3);
    memset(shared, 0, shared_len);
    // Each child's own re-protect list: at most every page once per batch (private to the child after fork).
    int32_t *own = mmap(NULL, npages * sizeof(int32_t), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    int rc = -1;
    int fd = -1;
    int barrier_ready = 0;
    uint8_t *view = MAP_FAILED;
    if (own == MAP_FAILED) goto out;
    pthread_barrierattr_t attr;
    pthread_barrierattr_init(&attr);
    pthread_barrierattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    int barrier_rc = pthread_barrier_init(&control->barrier, &attr, (unsigned)procs + 1);
    pthread_barrierattr_destroy(&attr);
    if (barrier_rc != 0) goto out;
    barrier_ready = 1;
    fd = make_memfd("hostmm-replay", mapped);
    if (fd < 0) goto out;
    view = mmap(NULL, mapped, PROT_READ, MAP_SHARED, fd, 0);  // the parent's (the worker's) view
    if (view == MAP_FAILED) goto out;
    uint64_t t0 = hostmm_now_ns();
    pid_t pids[512];
    int started = 0;
    for (; started < procs && started < 512; started++) {
        pid_t pid = fork();
        if (pid == 0) replay_child(lines, line_count, started, fd, size, mapped, control, listed, list, own);
        if (pid < 0) break;
        pids[started] = pid;
    }
    if (started < procs) {
        // Cannot run the trace: let the children that exist through every barrier they will wait at.
        __atomic_store_n(&control->failed, 1, __ATOMIC_RELAXED);
        for (int i = 0; i < started; i++) kill(pids[i], SIGKILL);
        for (int i = 0; i < started; i++) waitpid(pids[i], NULL, 0);
        goto out;
    }
    long copied = 0;
    pthread_barrier_wait(&control->barrier);  // start
    for (long i = 0; i < line_count; i++) {
        if (lines[i].proc >= 0) continue;
        pthread_barrier_wait(&control->barrier);  // the batch is written
        int32_t n = __atomic_load_n(&control->list_count, __ATOMIC_ACQUIRE);
        for (int32_t k = 0; k < n; k++) {
            size_t page = (size_t)list[k];
            size_t at = page * ps, bytes = at + ps <= size ? ps : size - at;
            memcpy(panel + at, view + at, bytes);
            listed[page] = 0;
        }
        copied += n;
        __atomic_store_n(&control->list_count, 0, __ATOMIC_RELEASE);
        pthread_barrier_wait(&control->barrier);  // re-armed and delivered
    }
    int all_ok = 1;
    for (int i = 0; i < procs; i++) {
        int status = 0;
        if (waitpid(pids[i], &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) all_ok = 0;
    }
    *elapsed_ns = hostmm_now_ns() - t0;
    *faults = control->faults;
    *delivered = copied;
    if (all_ok && !control->failed) rc = 0;
    else errno = EPROTO;
out:;
    int e = errno;
    if (barrier_ready) pthread_barrier_destroy(&control->barrier);
    if (view != MAP_FAILED) munmap(view, mapped);
    if (fd >= 0) close(fd);
    if (own != MAP_FAILED) munmap(own, npages * sizeof(int32_t));
    munmap(shared, shared_len);
    errno = e;
    return rc;
}
