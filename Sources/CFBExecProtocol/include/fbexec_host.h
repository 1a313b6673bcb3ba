// SPDX-License-Identifier: MIT — the emulator's side of `fbdefio-emu exec`: host calls that Swift reaches badly
// (memfd, SCM_RIGHTS, posix_spawn with inherited sockets, userfaultfd probing), kept out of the emulator's Swift.
#ifndef FBEXEC_HOST_H
#define FBEXEC_HOST_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "fbexec_protocol.h"

/// Two SOCK_SEQPACKET pairs: emu[0]/child[0] the request socket, emu[1]/child[1] the control socket. The emulator's
/// ends are close-on-exec, the child's are inherited. Returns 0 or an errno.
int fbx_host_socketpairs(int emu[2], int child[2]);
/// A memory file of `size` bytes (memfd_create). Returns the descriptor or -errno.
int fbx_host_memfd(size_t size);
/// Puts page `offset` of the memory file at `at` (MAP_SHARED | MAP_FIXED over whatever was there); `restore` puts
/// a fresh private zero page back. Return 0 or an errno.
int fbx_host_map_page(void *at, int memfd, int64_t offset);
int fbx_host_restore_page(void *at);
/// posix_spawnp; returns 0 or an errno (ENOENT: not found).
int fbx_host_spawn(const char *file, char *const argv[], char *const envp[], pid_t *pid);
/// waitpid(WNOHANG): 0 still running; 1 exited with *code; 2 killed by *code (a signal); -1 error.
int fbx_host_reap(pid_t pid, int *code);
int fbx_host_kill(pid_t pid, int sig);
/// 1 readable (or hung up), 0 timed out.
int fbx_host_poll(int fd, int timeout_ms);
/// One message: >0 its size, 0 the peer is gone, -1 nothing there (non-blocking) or timed out.
int fbx_host_recv(int fd, struct fbx_msg *m, int timeout_ms);
/// The same, keeping a descriptor passed with the message (SCM_RIGHTS) in *passed (-1: none).
int fbx_host_recv_fd(int fd, struct fbx_msg *m, int timeout_ms, int *passed);
/// poll() on two descriptors (b may be -1): bit 0 a is readable, bit 1 b is; 0 timed out.
int fbx_host_poll2(int a, int b, int timeout_ms);
/// One userfaultfd message: 1 a write-protect fault at *address, 3 another page fault, 2 another event, 0 closed,
/// -1 nothing there.
int fbx_host_uffd_read(int uffd, uint64_t *address);
/// Write-protects [start, start + length) (protect != 0) or lifts the protection and wakes the faulting threads.
/// Returns 0 or an errno.
int fbx_host_uffd_writeprotect(int uffd, uint64_t start, uint64_t length, int protect);
int fbx_host_send(int fd, uint32_t type, uint32_t arg0, uint64_t a, uint64_t b, uint64_t c);
int fbx_host_send_info(int fd, const struct fbx_info *info, int memfd);
/// Sends the pages to the library's helper thread and waits for its acknowledgements. 0 done, -1 program gone.
int fbx_host_protect(int ctl, const uint32_t *pages, int count);
void fbx_host_close(int fd);
uint64_t fbx_host_now_ns(void);
void fbx_host_sleep_ns(uint64_t ns);
/// 1 when this process may create a userfaultfd with write-protect support for shmem (kernel ≥ 6.1, privilege or
/// vm.unprivileged_userfaultfd=1), else 0.
int fbx_host_uffd_wp_available(void);
#endif
