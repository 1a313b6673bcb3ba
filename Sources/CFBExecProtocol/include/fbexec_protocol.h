// SPDX-License-Identifier: MIT — the wire protocol between `fbdefio-emu exec` and its preload library
// (libfbdefio-preload.so), shared by the C library and the Swift side.
//
// Two SOCK_SEQPACKET socket pairs, inherited by the program; FBDEFIO_EXEC_FDS="REQ,CTL" names the program's ends.
//  - REQ: the program asks, the emulator answers. One request at a time (the library serialises its threads), each
//    answered by one FBX_REPLY (FBX_HELLO by an FBX_INFO carrying the memory file). A write fault is answered when
//    the emulated PTE became writable; the library then unprotects the page and confirms with FBX_DONE, so that the
//    emulator never re-protects a page before the program's mprotect that opened it.
//    With userfaultfd tracking (FBX_TRACK_UFFD) the mapping is registered for write-protect instead; the library
//    hands the descriptor over once (FBX_UFFD) and the emulator reads the faults, resolves and re-protects itself.
//  - CTL: the emulator asks, the library's helper thread answers: FBX_PROTECT lists pages the emulated worker
//    write-protected; the helper applies mprotect(PROT_READ) to them and sends FBX_ACK.
#ifndef FBEXEC_PROTOCOL_H
#define FBEXEC_PROTOCOL_H
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#define FBX_ENV_FDS "FBDEFIO_EXEC_FDS"
#define FBX_PROTOCOL_VERSION 1
#define FBX_PAGE_SIZE 4096
#define FBX_MAX_PROTECT 2048  /* page numbers in one FBX_PROTECT message */

enum fbx_type {
    FBX_HELLO = 1,   /* a = pid, b = protocol version, c = 1 if userfaultfd could be used (informational) */
    FBX_INFO,        /* the mode (struct fbx_info), with the memory file as SCM_RIGHTS */
    FBX_OPEN,        /* a = open flags; reply a = handle */
    FBX_CLOSE,       /* a = handle */
    FBX_MMAP,        /* a = handle, b = offset, c = length, d = address, arg0 = prot (| FBX_MMAP_UFFD);
                        reply a = region */
    FBX_MUNMAP,      /* a = region, b = offset in the region, c = length */
    FBX_FAULT,       /* a = region, b = byte offset in the region, c = stall ns before this fault;
                        reply, then FBX_DONE */
    FBX_DONE,        /* the page is writable in the program */
    FBX_FSYNC,       /* a = handle (fsync, fdatasync, msync MS_SYNC) */
    FBX_IOCTL,       /* arg0 = what (enum fbx_ioctl), a, b = its arguments; a note, answered at once */
    FBX_BYE,         /* a = faults, b = stall ns in all, c = exit code (from the library's destructor) */
    FBX_REPLY,       /* arg0 = errno (0: done), a = value */
    FBX_PROTECT,     /* CTL: arg0 = count, then count uint32 page numbers (struct fbx_protect) */
    FBX_ACK,         /* CTL: the pages are read-only in the program */
    FBX_UFFD,        /* the library's userfaultfd, as SCM_RIGHTS; answered at once */
};

enum fbx_ioctl {
    FBX_IOCTL_BADMODE = 1,  /* FBIOPUT_VSCREENINFO refused: a = xres << 32 | yres, b = bits_per_pixel */
    FBX_IOCTL_PAN,          /* FBIOPAN_DISPLAY: a = xoffset << 32 | yoffset, b = 1 if refused */
    FBX_IOCTL_BLANK,        /* FBIOBLANK: a = blank level */
    FBX_IOCTL_PUTMODE,      /* FBIOPUT_VSCREENINFO accepted (the machine's own mode) */
};

struct fbx_msg {
    uint32_t type;
    uint32_t arg0;
    uint64_t a, b, c, d;
};

/* fbx_info.tracking: how write faults reach the emulator. */
enum fbx_tracking {
    FBX_TRACK_MPROTECT = 0,  /* read-only mapping, SIGSEGV in the library, FBX_FAULT on REQ */
    FBX_TRACK_UFFD = 1,      /* userfaultfd write-protect; the emulator reads the faults from the descriptor */
};
#define FBX_MMAP_UFFD 0x100  /* FBX_MMAP arg0: the region is registered with the userfaultfd */

struct fbx_info {
    uint32_t type;          /* FBX_INFO */
    uint32_t xres, yres, bits_per_pixel, line_length, smem_len;
    /* bit fields: offset, length of red, green, blue, transp */
    uint32_t red[2], green[2], blue[2], transp[2];
    char id[16];
    uint32_t tracking;      /* enum fbx_tracking the emulator asks for */
};

struct fbx_protect {
    uint32_t type;          /* FBX_PROTECT */
    uint32_t count;
    uint32_t pages[FBX_MAX_PROTECT];
};

/* Sends one message with a descriptor attached (SCM_RIGHTS): the emulator's memory file to the library, the
 * library's userfaultfd to the emulator. Returns what sendmsg returns. */
static inline ssize_t fbx_send_with_fd(int sock, const void *data, size_t len, int fd) {
    struct iovec iov = {(void *)data, len};
    char control[CMSG_SPACE(sizeof(int))];
    memset(control, 0, sizeof control);
    struct msghdr msg = {0};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
    return sendmsg(sock, &msg, MSG_NOSIGNAL);
}

#endif
