// SPDX-License-Identifier: MIT — the plasma arithmetic in C (see PlasmaC.h). Integer maths only; `>>` of a negative
// value is an arithmetic shift, as in Swift (clang and gcc both define it so).
#include "PlasmaC.h"

#include <stdlib.h>
#include <string.h>

enum { SINE_COUNT = 1024, SINE_MASK = SINE_COUNT - 1, SINE_ONE = 32767, PALETTE_SHIFT = 9 };

static int32_t sine[SINE_COUNT];
static int sine_ready;

/// sin(2π·i/1024) in Q15, from a Taylor series of the first quarter-wave in Q30 fixed point (bit-identical to the
/// Swift table: same constants, same truncating divisions, same rounding).
static void sine_build(void) {
    if (sine_ready) return;
    const int64_t pi_q30 = 3373259426LL;  // round(π · 2^30)
    int32_t quarter[SINE_COUNT / 4 + 1];
    for (int64_t i = 0; i <= SINE_COUNT / 4; i++) {
        int64_t x = pi_q30 * i / (SINE_COUNT / 2);
        int64_t term = x, sum = x;
        for (int64_t n = 2; n <= 18; n += 2) {
            int64_t x_term = (term * x) >> 30;
            term = -((x_term * x) >> 30) / (n * (n + 1));
            sum += term;
        }
        quarter[i] = (int32_t)((sum * SINE_ONE + (1LL << 29)) >> 30);
    }
    for (int i = 0; i < SINE_COUNT; i++) {
        int q = i / (SINE_COUNT / 4), r = i % (SINE_COUNT / 4);
        switch (q) {
        case 0: sine[i] = quarter[r]; break;
        case 1: sine[i] = quarter[SINE_COUNT / 4 - r]; break;
        case 2: sine[i] = -quarter[r]; break;
        default: sine[i] = -quarter[SINE_COUNT / 4 - r]; break;
        }
    }
    sine_ready = 1;
}

static inline int64_t clamp_channel(int64_t v) { return v < 0 ? 0 : v > 255 ? 255 : v; }

static void palette_build(const plasma_c_band *b, uint32_t palette[256]) {
    for (int64_t i = 0; i < 256; i++) {
        int64_t ch[3];
        for (int c = 0; c < 3; c++) {
            int64_t step = i * (c == b->double_channel ? 8 : 4) + b->phase[c];
            ch[c] = 128 + (int64_t)sine[step & SINE_MASK] * 127 / SINE_ONE;
        }
        palette[i] = (uint32_t)(clamp_channel(ch[0]) << 16 | clamp_channel(ch[1]) << 8 | clamp_channel(ch[2]));
    }
}

/// One band's scratch: the per-column terms of the current frame.
typedef struct band_state {
    const plasma_c_band *band;
    uint32_t palette[256];
    int32_t *col_term;
    int64_t *col_diag, *col_warp;
} band_state;

static void draw_frame(band_state *s, int64_t n, uint32_t *framebuffer, int width) {
    const plasma_c_band *b = s->band;
    const int64_t w = b->clip_width;
    if (w <= 0 || b->clip_height <= 0) return;
    for (int64_t i = 0; i < w; i++) {
        int64_t x = b->clip_x + i;
        s->col_term[i] = sine[((x * b->fx + n * b->sx) >> 16) & SINE_MASK];
        s->col_diag[i] = x * b->fdx + n * b->sd;
        s->col_warp[i] = x * b->fw;
    }
    const int64_t cycle = n * 3;
    const int32_t *ct = s->col_term;
    const int64_t *cd = s->col_diag, *cw = s->col_warp;
    const uint32_t *pal = s->palette;
    for (int64_t j = 0; j < b->clip_height; j++) {
        int64_t y = b->clip_y + j;
        int64_t row_term = sine[((y * b->fy + n * b->sy) >> 16) & SINE_MASK];
        int64_t row_diag = y * b->fdy;
        int64_t warp = (int64_t)sine[((y * b->fwarp + n * b->swarp) >> 16) & SINE_MASK] * (b->warp_amp << 1);
        int64_t warp_base = n * b->sw + warp;
        uint32_t *out = framebuffer + y * width + b->clip_x;
        for (int64_t i = 0; i < w; i++) {
            int64_t d = sine[((cd[i] + row_diag) >> 16) & SINE_MASK];
            int64_t v = sine[((cw[i] + warp_base) >> 16) & SINE_MASK];
            int64_t sum = (int64_t)ct[i] + row_term + d + v;
            out[i] = pal[((sum >> PALETTE_SHIFT) + 128 + cycle) & 255];
        }
    }
}

int plasma_c_render(const plasma_c_band *bands, int band_count, int width, int height, int frames,
                    uint32_t *framebuffer, uint32_t *panel) {
    sine_build();
    band_state *states = calloc((size_t)band_count, sizeof *states);
    if (!states) return -1;
    int rc = 0;
    for (int k = 0; k < band_count; k++) {
        const plasma_c_band *b = &bands[k];
        if (b->clip_x < 0 || b->clip_y < 0 || b->clip_x + b->clip_width > width ||
            b->clip_y + b->clip_height > height) {
            rc = -1;
            break;
        }
        states[k].band = b;
        palette_build(b, states[k].palette);
        size_t w = b->clip_width > 0 ? (size_t)b->clip_width : 1;
        states[k].col_term = malloc(w * sizeof(int32_t));
        states[k].col_diag = malloc(w * sizeof(int64_t));
        states[k].col_warp = malloc(w * sizeof(int64_t));
        if (!states[k].col_term || !states[k].col_diag || !states[k].col_warp) {
            rc = -1;
            break;
        }
    }
    if (rc == 0) {
        size_t bytes = (size_t)width * (size_t)height * sizeof(uint32_t);
        for (int n = 0; n < frames; n++) {
            for (int k = 0; k < band_count; k++) draw_frame(&states[k], n, framebuffer, width);
            memcpy(panel, framebuffer, bytes);
        }
    }
    for (int k = 0; k < band_count; k++) {
        free(states[k].col_term);
        free(states[k].col_diag);
        free(states[k].col_warp);
    }
    free(states);
    return rc;
}
