// SPDX-License-Identifier: MIT — host calls of `fbdefio-emu exec` (see fbexec_host.h).
#define _GNU_SOURCE
#include "fbexec_host.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#ifndef UFFD_FEATURE_WP_HUGETLBFS_SHMEM  /* headers older than Linux 5.19: the bit the kernel would answer with */
#define UFFD_FEATURE_WP_HUGETLBFS_SHMEM (1 << 12)
#endif
#ifndef UFFD_USER_MODE_ONLY  /* Linux 5.11 */
#define UFFD_USER_MODE_ONLY 1
#endif
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int fbx_host_socketpairs(int emu[2], int child[2]) {
    for (int i = 0; i < 2; i++) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) return errno;
        emu[i] = sv[0];
        child[i] = sv[1];
        fcntl(child[i], F_SETFD, 0);
    }
    return 0;
}

int fbx_host_memfd(size_t size) {
    int fd = memfd_create("fbdefio-exec-fb", MFD_CLOEXEC);
    if (fd < 0) return -errno;
    if (ftruncate(fd, (off_t)size) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

int fbx_host_map_page(void *at, int memfd, int64_t offset) {
    void *p = mmap(at, FBX_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, memfd, (off_t)offset);
    return p == MAP_FAILED ? errno : 0;
}

int fbx_host_restore_page(void *at) {
    void *p = mmap(at, FBX_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    return p == MAP_FAILED ? errno : 0;
}

extern char **environ;

int fbx_host_spawn(const char *file, char *const argv[], char *const envp[], pid_t *pid) {
    return posix_spawnp(pid, file, NULL, NULL, argv, envp ? envp : environ);
}

int fbx_host_reap(pid_t pid, int *code) {
    int status;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == 0) return 0;
    if (r < 0) return -1;
    if (WIFEXITED(status)) { *code = WEXITSTATUS(status); return 1; }
    if (WIFSIGNALED(status)) { *code = WTERMSIG(status); return 2; }
    return 0;
}

int fbx_host_kill(pid_t pid, int sig) { return kill(pid, sig) < 0 ? errno : 0; }

int fbx_host_poll(int fd, int timeout_ms) {
    struct pollfd p = {fd, POLLIN, 0};
    int r;
    do { r = poll(&p, 1, timeout_ms); } while (r < 0 && errno == EINTR);
    return r > 0 ? 1 : 0;
}

int fbx_host_recv(int fd, struct fbx_msg *m, int timeout_ms) { return fbx_host_recv_fd(fd, m, timeout_ms, NULL); }

int fbx_host_recv_fd(int fd, struct fbx_msg *m, int timeout_ms, int *passed) {
    if (passed) *passed = -1;
    if (timeout_ms != 0 && !fbx_host_poll(fd, timeout_ms)) return -1;
    struct iovec iov = {m, sizeof *m};
    char control[CMSG_SPACE(sizeof(int))];
    struct msghdr msg = {0};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n;
    do { n = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC); } while (n < 0 && errno == EINTR);
    if (n < 0) return (errno == EAGAIN || errno == EWOULDBLOCK) ? -1 : 0;
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
        int got;
        memcpy(&got, CMSG_DATA(c), sizeof got);
        if (passed) *passed = got; else close(got);
    }
    return (int)n;
}

int fbx_host_poll2(int a, int b, int timeout_ms) {
    struct pollfd p[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
    int r;
    do { r = poll(p, b >= 0 ? 2 : 1, timeout_ms); } while (r < 0 && errno == EINTR);
    if (r <= 0) return 0;
    return (p[0].revents ? 1 : 0) | (b >= 0 && p[1].revents ? 2 : 0);
}

int fbx_host_uffd_read(int uffd, uint64_t *address) {
    struct uffd_msg m;
    ssize_t n = read(uffd, &m, sizeof m);
    if (n != (ssize_t)sizeof m) return n == 0 ? 0 : -1;
    if (m.event != UFFD_EVENT_PAGEFAULT) return 2;
    *address = m.arg.pagefault.address;
    return (m.arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP) ? 1 : 3;
}

int fbx_host_uffd_writeprotect(int uffd, uint64_t start, uint64_t length, int protect) {
    struct uffdio_writeprotect wp = {.range = {start, length}, .mode = protect ? UFFDIO_WRITEPROTECT_MODE_WP : 0};
    return ioctl(uffd, UFFDIO_WRITEPROTECT, &wp) < 0 ? errno : 0;
}

int fbx_host_send(int fd, uint32_t type, uint32_t arg0, uint64_t a, uint64_t b, uint64_t c) {
    struct fbx_msg m = {type, arg0, a, b, c, 0};
    return send(fd, &m, sizeof m, MSG_NOSIGNAL) == (ssize_t)sizeof m ? 0 : -1;
}

int fbx_host_send_info(int fd, const struct fbx_info *info, int memfd) {
    return fbx_send_with_fd(fd, info, sizeof *info, memfd) == (ssize_t)sizeof *info ? 0 : -1;
}

int fbx_host_protect(int ctl, const uint32_t *pages, int count) {
    static struct fbx_protect p;
    for (int done = 0; done < count;) {
        int n = count - done > FBX_MAX_PROTECT ? FBX_MAX_PROTECT : count - done;
        p.type = FBX_PROTECT;
        p.count = (uint32_t)n;
        memcpy(p.pages, pages + done, (size_t)n * sizeof(uint32_t));
        size_t size = 8 + (size_t)n * sizeof(uint32_t);
        if (send(ctl, &p, size, MSG_NOSIGNAL) != (ssize_t)size) return -1;
        struct fbx_msg ack;
        // The helper answers within microseconds; a program stopped in a debugger is given ten seconds.
        int r = fbx_host_recv(ctl, &ack, 10000);
        if (r <= 0 || ack.type != FBX_ACK) return -1;
        done += n;
    }
    return 0;
}

void fbx_host_close(int fd) { if (fd >= 0) close(fd); }

uint64_t fbx_host_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void fbx_host_sleep_ns(uint64_t ns) {
    // nanosleep() wakes 50 µs late at the default timer slack, more than a fault costs: short waits spin.
    uint64_t until = fbx_host_now_ns() + ns;
    if (ns > 200000) {
        uint64_t coarse = ns - 100000;
        struct timespec ts = {(time_t)(coarse / 1000000000u), (long)(coarse % 1000000000u)};
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {}
    }
    while (fbx_host_now_ns() < until) {}
}

int fbx_host_uffd_wp_available(void) {
    int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
    if (fd < 0) return 0;
    struct uffdio_api api = {.api = UFFD_API, .features = UFFD_FEATURE_WP_HUGETLBFS_SHMEM};
    int ok = ioctl(fd, UFFDIO_API, &api) == 0 && (api.features & UFFD_FEATURE_WP_HUGETLBFS_SHMEM);
    close(fd);
    return ok;
}
