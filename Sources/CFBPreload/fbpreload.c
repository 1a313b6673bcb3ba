// SPDX-License-Identifier: MIT — libfbdefio-preload.so: gives an unmodified program a framebuffer device whose
// writes are tracked by the emulated kernel of `fbdefio-emu exec`.
//
// open()/openat() of /dev/fb0 (or $FRAMEBUFFER) return a descriptor of the emulator's memory file; the fbdev
// ioctls answer from the mode the emulator sent; mmap() maps the memory file read-only, so the first write to each
// page raises SIGSEGV. The handler asks the emulator (which runs the write through the emulated fault path of a fake
// process standing for this program), and unprotects the page only when the emulated PTE became writable. The
// emulator's deferred-I/O worker re-protects pages through a helper thread (the CTL socket). Everything else passes
// through untouched. The protocol is in fbexec_protocol.h.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fb.h>
#include <sys/ioctl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <linux/userfaultfd.h>
#ifndef UFFD_FEATURE_WP_HUGETLBFS_SHMEM  /* headers older than Linux 5.19: the bit the kernel would answer with */
#define UFFD_FEATURE_WP_HUGETLBFS_SHMEM (1 << 12)
#endif
#ifndef UFFD_USER_MODE_ONLY  /* Linux 5.11 */
#define UFFD_USER_MODE_ONLY 1
#endif
#include <time.h>
#include <unistd.h>

#include "../CFBExecProtocol/include/fbexec_protocol.h"

#define EXPORT __attribute__((visibility("default")))
#define MAX_FDS 64
#define MAX_REGIONS 32

// MARK: - The real functions

static int (*real_open)(const char *, int, ...);
static int (*real_openat)(int, const char *, int, ...);
static int (*real_close)(int);
static int (*real_ioctl)(int, unsigned long, ...);
static void *(*real_mmap)(void *, size_t, int, int, int, off_t);
static int (*real_munmap)(void *, size_t);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_msync)(void *, size_t, int);
static int (*real_sigaction)(int, const struct sigaction *, struct sigaction *);

static void resolve(void) {
    static int done;
    if (done) return;
    real_open = dlsym(RTLD_NEXT, "open");
    real_openat = dlsym(RTLD_NEXT, "openat");
    real_close = dlsym(RTLD_NEXT, "close");
    real_ioctl = dlsym(RTLD_NEXT, "ioctl");
    real_mmap = dlsym(RTLD_NEXT, "mmap");
    real_munmap = dlsym(RTLD_NEXT, "munmap");
    real_fsync = dlsym(RTLD_NEXT, "fsync");
    real_fdatasync = dlsym(RTLD_NEXT, "fdatasync");
    real_msync = dlsym(RTLD_NEXT, "msync");
    real_sigaction = dlsym(RTLD_NEXT, "sigaction");
    done = 1;
}

// MARK: - State

static int req_fd = -1, ctl_fd = -1;   // -1: not run by fbdefio-emu exec, pass everything through
static int connected;                  // FBX_HELLO answered
static int mem_fd = -1;
static struct fbx_info mode;
static pid_t owner_pid;                // a forked child is not tracked (its requests would interleave the parent's)

static int fd_handle[MAX_FDS];         // program fd → emulator handle + 1 (0: not ours)
static int handle_refs[MAX_FDS];       // emulator handle → program fds referring to it (dup shares the open file)

struct region {
    _Atomic int used;
    uintptr_t addr;
    size_t length;
    uint64_t offset;                   // file offset of addr
    uint64_t id;                       // the emulator's region number
    int handle;
    int writable;                      // the program asked for PROT_WRITE
    int uffd;                          // tracked by the userfaultfd (the helper thread leaves it alone)
};
static struct region regions[MAX_REGIONS];

static _Atomic uint64_t stall_ns, faults;
static int uffd_fd = -1;               // the userfaultfd, once made (FBX_TRACK_UFFD)
static struct sigaction chained_segv;  // the program's own SIGSEGV handler (or SIG_DFL)
static int handler_installed;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

// MARK: - The request lock (futex; usable from the SIGSEGV handler)

static _Atomic int req_word;

static void req_lock(void) {
    int c = 0;
    if (atomic_compare_exchange_strong(&req_word, &c, 1)) return;
    if (c != 2) c = atomic_exchange(&req_word, 2);
    while (c != 0) {
        syscall(SYS_futex, &req_word, FUTEX_WAIT_PRIVATE, 2, NULL, NULL, 0);
        c = atomic_exchange(&req_word, 2);
    }
}

static void req_unlock(void) {
    if (atomic_exchange(&req_word, 0) == 2) syscall(SYS_futex, &req_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/// One request and its reply; the caller holds the request lock. Returns -1 (errno EPIPE) when the emulator is gone.
static int ask(uint32_t type, uint32_t arg0, uint64_t a, uint64_t b, uint64_t c, struct fbx_msg *reply) {
    struct fbx_msg m = {type, arg0, a, b, c, 0};
    if (send(req_fd, &m, sizeof m, MSG_NOSIGNAL) != (ssize_t)sizeof m) return -1;
    ssize_t n;
    do { n = recv(req_fd, reply, sizeof *reply, 0); } while (n < 0 && errno == EINTR);
    if (n != (ssize_t)sizeof *reply) { errno = EPIPE; return -1; }
    return 0;
}

static void tell(uint32_t type, uint32_t arg0, uint64_t a, uint64_t b, uint64_t c) {
    struct fbx_msg m = {type, arg0, a, b, c, 0};
    (void)send(req_fd, &m, sizeof m, MSG_NOSIGNAL);
}

/// The emulator's answer as a libc return value: 0, or -1 with errno set.
static int answer(int asked, const struct fbx_msg *reply) {
    if (asked < 0) { errno = EIO; return -1; }
    if (reply->arg0 != 0) { errno = (int)reply->arg0; return -1; }
    return 0;
}

// MARK: - Write faults

static struct region *region_at(uintptr_t addr) {
    for (int i = 0; i < MAX_REGIONS; i++) {
        struct region *r = &regions[i];
        if (atomic_load_explicit(&r->used, memory_order_acquire) && addr >= r->addr && addr - r->addr < r->length)
            return r;
    }
    return NULL;
}

static void chain(int sig, siginfo_t *si, void *uc) {
    if (chained_segv.sa_flags & SA_SIGINFO) {
        if (chained_segv.sa_sigaction) { chained_segv.sa_sigaction(sig, si, uc); return; }
    } else if (chained_segv.sa_handler != SIG_DFL && chained_segv.sa_handler != SIG_IGN) {
        chained_segv.sa_handler(sig);
        return;
    }
    // No handler of the program's own: die of this signal, as without the library (the access is retried).
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    real_sigaction(sig, &dfl, NULL);
}

static void on_segv(int sig, siginfo_t *si, void *uc) {
    int saved = errno;
    uintptr_t addr = (uintptr_t)si->si_addr;
    struct region *r = connected && getpid() == owner_pid ? region_at(addr) : NULL;
    if (!r || !r->writable || r->uffd) {
        chain(sig, si, uc);
        errno = saved;
        return;
    }
    uint64_t t0 = now_ns();
    uintptr_t page = addr & ~(uintptr_t)(FBX_PAGE_SIZE - 1);
    struct fbx_msg reply;
    req_lock();
    int asked = ask(FBX_FAULT, 0, r->id, addr - r->addr, atomic_load(&stall_ns), &reply);
    if (asked < 0) {
        // The emulator is gone: stop tracking rather than hang or crash the program.
        connected = 0;
        mprotect((void *)r->addr, r->length, PROT_READ | PROT_WRITE);
    } else if (reply.arg0 == 0) {
        mprotect((void *)page, FBX_PAGE_SIZE, PROT_READ | PROT_WRITE);
        tell(FBX_DONE, 0, r->id, page - r->addr, 0);
    } else {
        // The emulated fault failed (SIGBUS or SIGSEGV in the fake process): the program gets the same signal.
        req_unlock();
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        int to = reply.arg0 == SIGBUS ? SIGBUS : SIGSEGV;
        real_sigaction(to, &dfl, NULL);
        if (to == SIGBUS) syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), SIGBUS);
        else real_sigaction(SIGSEGV, &dfl, NULL);
        errno = saved;
        return;
    }
    req_unlock();
    atomic_fetch_add(&stall_ns, now_ns() - t0);
    atomic_fetch_add(&faults, 1);
    errno = saved;
}

static void install_handler(void) {
    if (handler_installed) return;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    real_sigaction(SIGSEGV, &sa, &chained_segv);
    handler_installed = 1;
}

/// The program's own SIGSEGV handler is kept as the one ours hands foreign faults to.
EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old) {
    resolve();
    if (sig == SIGSEGV && handler_installed) {
        if (old) *old = chained_segv;
        if (act) chained_segv = *act;
        return 0;
    }
    return real_sigaction(sig, act, old);
}

EXPORT sighandler_t signal(int sig, sighandler_t handler) {
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(sig, &sa, &old) < 0) return SIG_ERR;
    return old.sa_handler;
}

// MARK: - The helper thread: re-protects what the emulated worker write-protected

static void *helper(void *unused) {
    (void)unused;
    static struct fbx_protect p;
    for (;;) {
        ssize_t n = recv(ctl_fd, &p, sizeof p, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 8) break;
        if (p.type != FBX_PROTECT) continue;
        uint32_t count = p.count > FBX_MAX_PROTECT ? FBX_MAX_PROTECT : p.count;
        for (int i = 0; i < MAX_REGIONS; i++) {
            struct region *r = &regions[i];
            if (!atomic_load_explicit(&r->used, memory_order_acquire) || !r->writable || r->uffd) continue;
            uint64_t first = r->offset / FBX_PAGE_SIZE, end = (r->offset + r->length) / FBX_PAGE_SIZE;
            // Runs of consecutive pages take one mprotect each.
            uint32_t k = 0;
            while (k < count) {
                uint32_t start = k;
                while (k + 1 < count && p.pages[k + 1] == p.pages[k] + 1) k++;
                uint64_t lo = p.pages[start], hi = (uint64_t)p.pages[k] + 1;
                if (lo < first) lo = first;
                if (hi > end) hi = end;
                if (lo < hi) {
                    void *at = (void *)(r->addr + (lo * FBX_PAGE_SIZE - r->offset));
                    mprotect(at, (hi - lo) * FBX_PAGE_SIZE, PROT_READ);
                }
                k++;
            }
        }
        struct fbx_msg ack = {FBX_ACK, 0, count, 0, 0, 0};
        if (send(ctl_fd, &ack, sizeof ack, MSG_NOSIGNAL) < 0) break;
    }
    // The emulator is gone: let the program go on untracked. Closing the last reference to the userfaultfd wakes
    // every thread waiting in it and unregisters the ranges.
    connected = 0;
    if (uffd_fd >= 0) {
        real_close(uffd_fd);
        uffd_fd = -1;
    }
    for (int i = 0; i < MAX_REGIONS; i++) {
        struct region *r = &regions[i];
        if (atomic_load(&r->used) && r->writable) mprotect((void *)r->addr, r->length, PROT_READ | PROT_WRITE);
    }
    return NULL;
}

// MARK: - Connecting

static int connect_emulator(void) {
    if (connected) return 0;
    if (req_fd < 0 || getpid() != owner_pid) return -1;
    struct fbx_msg hello = {FBX_HELLO, 0, (uint64_t)getpid(), FBX_PROTOCOL_VERSION, 0, 0};
    if (send(req_fd, &hello, sizeof hello, MSG_NOSIGNAL) != (ssize_t)sizeof hello) return -1;
    struct iovec iov = {&mode, sizeof mode};
    char control[CMSG_SPACE(sizeof(int))];
    struct msghdr msg = {0};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n;
    do { n = recvmsg(req_fd, &msg, MSG_CMSG_CLOEXEC); } while (n < 0 && errno == EINTR);
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    if (n != (ssize_t)sizeof mode || mode.type != FBX_INFO || !c || c->cmsg_type != SCM_RIGHTS) return -1;
    memcpy(&mem_fd, CMSG_DATA(c), sizeof(int));
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);  // the program's signals never land on the helper
    int err = pthread_create(&t, &attr, helper, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err) return -1;
    install_handler();
    connected = 1;
    return 0;
}

static void child_after_fork(void) { connected = 0; }

__attribute__((constructor)) static void init(void) {
    resolve();
    const char *fds = getenv(FBX_ENV_FDS);
    if (!fds) return;
    int a = -1, b = -1;
    if (sscanf(fds, "%d,%d", &a, &b) != 2 || a < 0 || b < 0) return;
    req_fd = a;
    ctl_fd = b;
    owner_pid = getpid();
    // Programs this one starts are not tracked: they do not inherit the sockets or their numbers.
    fcntl(req_fd, F_SETFD, FD_CLOEXEC);
    fcntl(ctl_fd, F_SETFD, FD_CLOEXEC);
    unsetenv(FBX_ENV_FDS);
    pthread_atfork(NULL, NULL, child_after_fork);
}

__attribute__((destructor)) static void fini(void) {
    if (!connected || getpid() != owner_pid) return;
    req_lock();
    tell(FBX_BYE, 0, atomic_load(&faults), atomic_load(&stall_ns), 0);
    req_unlock();
}

// MARK: - Files

static int is_fb_path(const char *path) {
    if (!path || req_fd < 0) return 0;
    const char *env = getenv("FRAMEBUFFER");
    return strcmp(path, "/dev/fb0") == 0 || (env && *env && strcmp(path, env) == 0);
}

static int handle_of(int fd) { return fd >= 0 && fd < MAX_FDS ? fd_handle[fd] - 1 : -1; }

static int open_fb(int flags) {
    req_lock();
    if (connect_emulator() < 0) {
        req_unlock();
        errno = ENODEV;
        return -1;
    }
    struct fbx_msg reply;
    int asked = ask(FBX_OPEN, 0, (uint64_t)flags, 0, 0, &reply);
    req_unlock();
    if (answer(asked, &reply) < 0) return -1;
    int fd = fcntl(mem_fd, (flags & O_CLOEXEC) ? F_DUPFD_CLOEXEC : F_DUPFD, 3);
    if (fd < 0 || fd >= MAX_FDS) {
        if (fd >= 0) real_close(fd);
        req_lock();
        asked = ask(FBX_CLOSE, 0, reply.a, 0, 0, &reply);
        req_unlock();
        errno = EMFILE;
        return -1;
    }
    fd_handle[fd] = (int)reply.a + 1;
    if (reply.a < MAX_FDS) handle_refs[reply.a] = 1;
    return fd;
}

EXPORT int open(const char *path, int flags, ...) {
    resolve();
    mode_t m = 0;
    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        m = va_arg(ap, mode_t);
        va_end(ap);
    }
    if (is_fb_path(path)) return open_fb(flags);
    return real_open(path, flags, m);
}

EXPORT int open64(const char *path, int flags, ...) __attribute__((alias("open")));

EXPORT int openat(int dirfd, const char *path, int flags, ...) {
    resolve();
    mode_t m = 0;
    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        m = va_arg(ap, mode_t);
        va_end(ap);
    }
    if (is_fb_path(path)) return open_fb(flags);
    return real_openat(dirfd, path, flags, m);
}

EXPORT int openat64(int dirfd, const char *path, int flags, ...) __attribute__((alias("openat")));

// _FORTIFY_SOURCE builds call these instead.
EXPORT int __open_2(const char *path, int flags) { return open(path, flags); }
EXPORT int __open64_2(const char *path, int flags) { return open(path, flags); }
EXPORT int __openat_2(int dirfd, const char *path, int flags) { return openat(dirfd, path, flags); }
EXPORT int __openat64_2(int dirfd, const char *path, int flags) { return openat(dirfd, path, flags); }

/// Drops one program fd's reference to an emulator handle; the last one closes the emulated file (as the last fput
/// of a struct file shared by dup'd descriptors does).
static void put_handle(int h) {
    if (h < 0 || h >= MAX_FDS || --handle_refs[h] > 0) return;
    struct fbx_msg reply;
    req_lock();
    (void)ask(FBX_CLOSE, 0, (uint64_t)h, 0, 0, &reply);
    req_unlock();
}

EXPORT int close(int fd) {
    resolve();
    int h = handle_of(fd);
    if (h < 0) return real_close(fd);
    fd_handle[fd] = 0;
    int r = real_close(fd);
    put_handle(h);
    return r;
}

/// A duplicate of a framebuffer descriptor refers to the same emulated open file.
static int dup_result(int old, int fd) {
    int h = handle_of(old);
    if (fd < 0 || fd == old) return fd;
    int replaced = handle_of(fd);
    if (fd < MAX_FDS) fd_handle[fd] = h >= 0 ? h + 1 : 0;
    if (h >= 0) handle_refs[h]++;
    if (replaced >= 0) put_handle(replaced);  // dup2 over a framebuffer descriptor closed it
    return fd;
}

EXPORT int dup(int old) {
    static int (*real)(int);
    if (!real) real = dlsym(RTLD_NEXT, "dup");
    return dup_result(old, real(old));
}

EXPORT int dup2(int old, int fd) {
    static int (*real)(int, int);
    if (!real) real = dlsym(RTLD_NEXT, "dup2");
    return dup_result(old, real(old, fd));
}

EXPORT int dup3(int old, int fd, int flags) {
    static int (*real)(int, int, int);
    if (!real) real = dlsym(RTLD_NEXT, "dup3");
    return dup_result(old, real(old, fd, flags));
}

static int sync_handle(int h) {
    struct fbx_msg reply;
    req_lock();
    int asked = ask(FBX_FSYNC, 0, (uint64_t)h, 0, 0, &reply);
    req_unlock();
    return answer(asked, &reply);
}

EXPORT int fsync(int fd) {
    resolve();
    int h = handle_of(fd);
    return h < 0 ? real_fsync(fd) : sync_handle(h);
}

EXPORT int fdatasync(int fd) {
    resolve();
    int h = handle_of(fd);
    return h < 0 ? real_fdatasync(fd) : sync_handle(h);
}

EXPORT int msync(void *addr, size_t length, int flags) {
    resolve();
    struct region *r = connected ? region_at((uintptr_t)addr) : NULL;
    int ret = real_msync(addr, length, flags);
    if (r && (flags & MS_SYNC)) return sync_handle(r->handle);
    return ret;
}

// MARK: - Looking at the device node (Qt checks access() before it opens)

/// What stat(2) of a framebuffer device node shows: a character device, major 29 (FB_MAJOR), minor 0.
static void fill_stat(struct stat *st) {
    memset(st, 0, sizeof *st);
    st->st_mode = S_IFCHR | 0660;
    st->st_rdev = (29u << 8) | 0u;
    st->st_nlink = 1;
    st->st_blksize = 4096;
}

EXPORT int access(const char *path, int mode) {
    static int (*real)(const char *, int);
    if (!real) real = dlsym(RTLD_NEXT, "access");
    if (is_fb_path(path)) return 0;
    return real(path, mode);
}

EXPORT int faccessat(int dirfd, const char *path, int mode, int flags) {
    static int (*real)(int, const char *, int, int);
    if (!real) real = dlsym(RTLD_NEXT, "faccessat");
    if (is_fb_path(path)) return 0;
    return real(dirfd, path, mode, flags);
}

EXPORT int stat(const char *path, struct stat *st) {
    static int (*real)(const char *, struct stat *);
    if (!real) real = dlsym(RTLD_NEXT, "stat");
    if (is_fb_path(path)) { fill_stat(st); return 0; }
    return real(path, st);
}

// x86-64: struct stat64 is struct stat.
EXPORT int stat64(const char *path, struct stat64 *st) { return stat(path, (struct stat *)st); }

EXPORT int lstat(const char *path, struct stat *st) {
    static int (*real)(const char *, struct stat *);
    if (!real) real = dlsym(RTLD_NEXT, "lstat");
    if (is_fb_path(path)) { fill_stat(st); return 0; }
    return real(path, st);
}

EXPORT int lstat64(const char *path, struct stat64 *st) { return lstat(path, (struct stat *)st); }

EXPORT int fstat(int fd, struct stat *st) {
    static int (*real)(int, struct stat *);
    if (!real) real = dlsym(RTLD_NEXT, "fstat");
    if (handle_of(fd) >= 0) { fill_stat(st); return 0; }
    return real(fd, st);
}

EXPORT int fstat64(int fd, struct stat64 *st) { return fstat(fd, (struct stat *)st); }

EXPORT int fstatat(int dirfd, const char *path, struct stat *st, int flags) {
    static int (*real)(int, const char *, struct stat *, int);
    if (!real) real = dlsym(RTLD_NEXT, "fstatat");
    if (is_fb_path(path)) { fill_stat(st); return 0; }
    return real(dirfd, path, st, flags);
}

EXPORT int fstatat64(int dirfd, const char *path, struct stat64 *st, int flags) {
    return fstatat(dirfd, path, (struct stat *)st, flags);
}

// MARK: - userfaultfd write-protect

/// Creates the userfaultfd (write-protect on shared memory) and hands it to the emulator, once.
static int uffd_ready(void) {
    if (uffd_fd >= 0) return 0;
    // User-mode faults only: the program's own stores are what is tracked, and an unprivileged process may create
    // such a descriptor even with vm.unprivileged_userfaultfd=0.
    int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
    if (fd < 0) return -1;
    struct uffdio_api api = {.api = UFFD_API, .features = UFFD_FEATURE_WP_HUGETLBFS_SHMEM};
    if (ioctl(fd, UFFDIO_API, &api) < 0 || !(api.features & UFFD_FEATURE_WP_HUGETLBFS_SHMEM)) {
        real_close(fd);
        return -1;
    }
    struct fbx_msg m = {FBX_UFFD, 0, 0, 0, 0, 0};
    struct fbx_msg reply;
    req_lock();
    ssize_t n = fbx_send_with_fd(req_fd, &m, sizeof m, fd);
    if (n == (ssize_t)sizeof m) {
        do { n = recv(req_fd, &reply, sizeof reply, 0); } while (n < 0 && errno == EINTR);
    }
    req_unlock();
    if (n != (ssize_t)sizeof reply || reply.arg0 != 0) {
        real_close(fd);
        return -1;
    }
    uffd_fd = fd;
    return 0;
}

/// Registers [p, p + len) for write-protect faults and write-protects it (every PTE is present: MAP_POPULATE).
static int uffd_protect(void *p, size_t len) {
    struct uffdio_register reg = {.range = {(uintptr_t)p, len}, .mode = UFFDIO_REGISTER_MODE_WP};
    if (ioctl(uffd_fd, UFFDIO_REGISTER, &reg) < 0) return -1;
    struct uffdio_writeprotect wp = {.range = {(uintptr_t)p, len}, .mode = UFFDIO_WRITEPROTECT_MODE_WP};
    return ioctl(uffd_fd, UFFDIO_WRITEPROTECT, &wp) < 0 ? -1 : 0;
}

// MARK: - Memory

EXPORT void *mmap(void *addr, size_t length, int prot, int flags, int fd, off_t offset) {
    resolve();
    int h = handle_of(fd);
    if (h < 0 || !(flags & MAP_SHARED)) return real_mmap(addr, length, prot, flags, fd, offset);
    size_t len = (length + FBX_PAGE_SIZE - 1) & ~(size_t)(FBX_PAGE_SIZE - 1);
    if (offset < 0 || (offset & (FBX_PAGE_SIZE - 1)) || len == 0 || (uint64_t)offset + len > mode.smem_len) {
        errno = EINVAL;
        return MAP_FAILED;
    }
    int slot = -1;
    for (int i = 0; i < MAX_REGIONS; i++)
        if (!atomic_load(&regions[i].used)) { slot = i; break; }
    if (slot < 0) { errno = ENOMEM; return MAP_FAILED; }
    // Writes start protected: the first one to each page faults into the emulator — through the userfaultfd
    // when the emulator asked for it and the host allows it, else as SIGSEGV on a read-only mapping.
    void *p = MAP_FAILED;
    int tracked_by_uffd = 0;
    if ((prot & PROT_WRITE) && mode.tracking == FBX_TRACK_UFFD && uffd_ready() == 0) {
        p = real_mmap(addr, len, prot | PROT_READ, flags | MAP_POPULATE, mem_fd, offset);
        if (p != MAP_FAILED) {
            tracked_by_uffd = uffd_protect(p, len) == 0;
            if (!tracked_by_uffd) mprotect(p, len, PROT_READ);
        }
    } else {
        int realProt = (prot & PROT_WRITE) ? ((prot & ~PROT_WRITE) | PROT_READ) : prot;
        p = real_mmap(addr, len, realProt, flags, mem_fd, offset);
    }
    if (p == MAP_FAILED) return MAP_FAILED;
    struct fbx_msg reply;
    req_lock();
    struct fbx_msg m = {FBX_MMAP, (uint32_t)prot | (tracked_by_uffd ? FBX_MMAP_UFFD : 0), (uint64_t)h,
                        (uint64_t)offset, len, (uint64_t)(uintptr_t)p};
    int asked = -1;
    if (send(req_fd, &m, sizeof m, MSG_NOSIGNAL) == (ssize_t)sizeof m) {
        ssize_t n;
        do { n = recv(req_fd, &reply, sizeof reply, 0); } while (n < 0 && errno == EINTR);
        asked = n == (ssize_t)sizeof reply ? 0 : -1;
    }
    req_unlock();
    if (answer(asked, &reply) < 0) {
        int e = errno;
        real_munmap(p, len);
        errno = e;
        return MAP_FAILED;
    }
    struct region *r = &regions[slot];
    r->addr = (uintptr_t)p;
    r->length = len;
    r->offset = (uint64_t)offset;
    r->id = reply.a;
    r->handle = h;
    r->writable = (prot & PROT_WRITE) != 0;
    r->uffd = tracked_by_uffd;
    atomic_store_explicit(&r->used, 1, memory_order_release);
    return p;
}

EXPORT void *mmap64(void *addr, size_t length, int prot, int flags, int fd, off_t offset)
    __attribute__((alias("mmap")));

EXPORT int munmap(void *addr, size_t length) {
    resolve();
    struct region *r = connected ? region_at((uintptr_t)addr) : NULL;
    int ret = real_munmap(addr, length);
    if (r && ret == 0) {
        uint64_t off = (uintptr_t)addr - r->addr;
        size_t len = (length + FBX_PAGE_SIZE - 1) & ~(size_t)(FBX_PAGE_SIZE - 1);
        if (len > r->length - off) len = r->length - off;
        if (off == 0 && len == r->length) atomic_store(&r->used, 0);
        struct fbx_msg reply;
        req_lock();
        (void)ask(FBX_MUNMAP, 0, r->id, off, len, &reply);
        req_unlock();
    }
    return ret;
}

// MARK: - ioctl: answered from the emulated fb_info

static void fill_var(struct fb_var_screeninfo *v) {
    memset(v, 0, sizeof *v);
    v->xres = v->xres_virtual = mode.xres;
    v->yres = v->yres_virtual = mode.yres;
    v->bits_per_pixel = mode.bits_per_pixel;
    v->red.offset = mode.red[0], v->red.length = mode.red[1];
    v->green.offset = mode.green[0], v->green.length = mode.green[1];
    v->blue.offset = mode.blue[0], v->blue.length = mode.blue[1];
    v->transp.offset = mode.transp[0], v->transp.length = mode.transp[1];
    v->height = v->width = (uint32_t)-1;
    v->vmode = FB_VMODE_NONINTERLACED;
}

static void fill_fix(struct fb_fix_screeninfo *f) {
    memset(f, 0, sizeof *f);
    memcpy(f->id, mode.id, sizeof f->id < sizeof mode.id ? sizeof f->id : sizeof mode.id);
    f->smem_len = mode.smem_len;
    f->type = FB_TYPE_PACKED_PIXELS;
    f->visual = FB_VISUAL_TRUECOLOR;
    f->line_length = mode.line_length;
    f->accel = FB_ACCEL_NONE;
}

static void note(uint32_t what, uint64_t a, uint64_t b) {
    struct fbx_msg reply;
    req_lock();
    (void)ask(FBX_IOCTL, what, a, b, 0, &reply);
    req_unlock();
}

static int fb_ioctl(unsigned long request, void *arg) {
    switch (request) {
    case FBIOGET_VSCREENINFO:
        fill_var(arg);
        return 0;
    case FBIOGET_FSCREENINFO:
        fill_fix(arg);
        return 0;
    case FBIOPUT_VSCREENINFO: {
        struct fb_var_screeninfo *v = arg;
        uint32_t vx = v->xres_virtual ? v->xres_virtual : v->xres, vy = v->yres_virtual ? v->yres_virtual : v->yres;
        if (v->xres != mode.xres || v->yres != mode.yres || v->bits_per_pixel != mode.bits_per_pixel
            || vx != mode.xres || vy != mode.yres || v->xoffset || v->yoffset) {
            note(FBX_IOCTL_BADMODE, (uint64_t)v->xres << 32 | v->yres, v->bits_per_pixel);
            errno = EINVAL;
            return -1;
        }
        fill_var(v);  // what the driver really set, as fb_set_var() hands back
        note(FBX_IOCTL_PUTMODE, 0, 0);
        return 0;
    }
    case FBIOPAN_DISPLAY: {
        struct fb_var_screeninfo *v = arg;
        int refused = v->xoffset != 0 || v->yoffset != 0;
        note(FBX_IOCTL_PAN, (uint64_t)v->xoffset << 32 | v->yoffset, (uint64_t)refused);
        if (refused) { errno = EINVAL; return -1; }
        return 0;
    }
    case FBIOGETCMAP: {
        // A true-colour visual: the identity ramp.
        struct fb_cmap *c = arg;
        for (uint32_t i = 0; i < c->len && c->start + i < 256; i++) {
            uint16_t v = (uint16_t)((c->start + i) * 0x0101);
            if (c->red) c->red[i] = v;
            if (c->green) c->green[i] = v;
            if (c->blue) c->blue[i] = v;
            if (c->transp) c->transp[i] = 0;
        }
        return 0;
    }
    case FBIOPUTCMAP:
        return 0;
    case FBIOBLANK:
        note(FBX_IOCTL_BLANK, (uint64_t)(uintptr_t)arg, 0);
        return 0;
    case FBIO_WAITFORVSYNC: {
        // A 60 Hz refresh the panel does not really have: wait for the next 1/60 s boundary.
        uint64_t period = 1000000000ull / 60, t = now_ns(), next = (t / period + 1) * period;
        struct timespec ts = {(time_t)(next / 1000000000u), (long)(next % 1000000000u)};
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {}
        return 0;
    }
    default:
        errno = ENOTTY;
        return -1;
    }
}

EXPORT int ioctl(int fd, unsigned long request, ...) {
    resolve();
    va_list ap;
    va_start(ap, request);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    if (handle_of(fd) >= 0) return fb_ioctl(request, arg);
    return real_ioctl(fd, request, arg);
}
