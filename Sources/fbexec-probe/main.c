// SPDX-License-Identifier: MIT — fbexec-probe: a small fbdev client whose exact accesses the exec tests assert.
//
//   fbexec-probe            open /dev/fb0, read the mode, map it, write pages 0, 2, 1, fsync; write page 0 (twice)
//                           and page 3, msync; write page 5 and exit without syncing (the last close flushes)
//   fbexec-probe badmode    ask FBIOPUT_VSCREENINFO for twice the resolution (must fail with EINVAL) and exit 3
//   fbexec-probe crash      map, write page 1, then die of SIGABRT
//   fbexec-probe noopen     never open the framebuffer
//   fbexec-probe frames N   N frames of a full-screen gradient, fsync after each (a throughput test)
//   fbexec-probe dup        dup the descriptor, close the first, map and fsync through the duplicate
//   fbexec-probe threads N  four threads write every page N times (each its own bytes of each page) while the main
//                           thread fsyncs: concurrent first writes to the same page
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <linux/fb.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

struct writer {
    uint8_t *fb;
    size_t len;
    int index, rounds;
};

static _Atomic int running;

static void *write_pages(void *arg) {
    struct writer *w = arg;
    for (int r = 0; r < w->rounds; r++) {
        for (size_t page = 0; page < w->len / 4096; page++) w->fb[page * 4096 + (size_t)w->index * 64] = (uint8_t)(r + 1);
        usleep(1000);
    }
    running--;
    return NULL;
}

static void touch(uint8_t *fb, int line_length, int page, uint8_t value) {
    (void)line_length;
    fb[page * 4096 + 8] = value;
}

int main(int argc, char **argv) {
    const char *what = argc > 1 ? argv[1] : "pages";
    if (strcmp(what, "noopen") == 0) {
        printf("probe: not opening the framebuffer\n");
        return 0;
    }
    int fd = open("/dev/fb0", O_RDWR);
    if (fd < 0) { perror("probe: open /dev/fb0"); return 1; }
    struct fb_var_screeninfo var;
    struct fb_fix_screeninfo fix;
    if (ioctl(fd, FBIOGET_VSCREENINFO, &var) < 0 || ioctl(fd, FBIOGET_FSCREENINFO, &fix) < 0) {
        perror("probe: FBIOGET_*SCREENINFO");
        return 1;
    }
    printf("probe: %ux%u %ubpp line_length %u smem_len %u id %.16s\n", var.xres, var.yres, var.bits_per_pixel,
           fix.line_length, fix.smem_len, fix.id);
    if (strcmp(what, "badmode") == 0) {
        var.xres *= 2;
        var.yres *= 2;
        var.xres_virtual = var.xres;
        var.yres_virtual = var.yres;
        int r = ioctl(fd, FBIOPUT_VSCREENINFO, &var);
        printf("probe: FBIOPUT_VSCREENINFO %ux%u: %s\n", var.xres, var.yres, r == 0 ? "ok" : strerror(errno));
        return 3;
    }
    if (strcmp(what, "dup") == 0) {
        int copy = dup(fd);
        close(fd);
        fd = copy;
    }
    uint8_t *fb = mmap(NULL, fix.smem_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (fb == MAP_FAILED) { perror("probe: mmap"); return 1; }
    if (strcmp(what, "crash") == 0) {
        touch(fb, fix.line_length, 1, 0x11);
        fflush(stdout);
        abort();
    }
    if (strcmp(what, "threads") == 0) {
        int n = argc > 2 ? atoi(argv[2]) : 20;
        pthread_t t[4];
        struct writer w[4];
        running = 4;
        for (int i = 0; i < 4; i++) {
            w[i] = (struct writer){fb, fix.smem_len, i, n};
            pthread_create(&t[i], NULL, write_pages, &w[i]);
        }
        while (running > 0) {
            fsync(fd);
            usleep(2000);
        }
        for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
        printf("probe: 4 threads x %d rounds\n", n);
        return 0;
    }
    if (strcmp(what, "frames") == 0) {
        int n = argc > 2 ? atoi(argv[2]) : 10;
        for (int f = 0; f < n; f++) {
            for (uint32_t y = 0; y < var.yres; y++)
                memset(fb + (size_t)y * fix.line_length, (int)((y + (uint32_t)f) & 0xFF), fix.line_length);
            fsync(fd);
        }
        printf("probe: %d frames\n", n);
        return 0;
    }
    if (strcmp(what, "dup") == 0) {
        touch(fb, fix.line_length, 7, 0xD7);
        if (fsync(fd) < 0) { perror("probe: fsync"); return 1; }
        printf("probe: dup done\n");
        return 0;
    }
    touch(fb, fix.line_length, 0, 0xA0);
    touch(fb, fix.line_length, 2, 0xA2);
    touch(fb, fix.line_length, 1, 0xA1);
    if (fsync(fd) < 0) { perror("probe: fsync"); return 1; }
    touch(fb, fix.line_length, 0, 0xB0);
    touch(fb, fix.line_length, 0, 0xB1);
    touch(fb, fix.line_length, 3, 0xB3);
    if (msync(fb, fix.smem_len, MS_SYNC) < 0) { perror("probe: msync"); return 1; }
    touch(fb, fix.line_length, 5, 0xC5);
    printf("probe: done\n");
    return 0;
}
