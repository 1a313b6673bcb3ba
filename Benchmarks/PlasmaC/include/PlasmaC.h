// SPDX-License-Identifier: MIT — the `plasma` workload's arithmetic in plain C: the baseline of the end-to-end
// plasma row of the benchmark table (BenchTable). Same fixed-point maths, sine table and palette as
// Sources/Workloads/Plasma.swift and FixedPoint.swift, so it draws the same bytes.
#ifndef PLASMA_C_H
#define PLASMA_C_H

#include <stdint.h>

/// One band's plasma: the clip and the values its seeded generator drew (in the order Plasma.init draws them).
/// The caller (Swift) draws them; this file does the arithmetic.
typedef struct plasma_c_band {
    int64_t clip_x, clip_y, clip_width, clip_height;
    /// Spatial frequencies (Q16 table steps per screen pixel).
    int64_t fx, fy, fdx, fdy, fw, fwarp;
    /// Speeds (Q16 table steps per frame).
    int64_t sx, sy, sd, sw, swarp;
    /// Amplitude of the warp, in table steps.
    int64_t warp_amp;
    /// Palette: phase of each channel (table steps) and which channel runs at double rate.
    int64_t phase[3];
    int64_t double_channel;
} plasma_c_band;

/// Renders frames 0..<frames of every band into `framebuffer` (width × height pixels 0x00RRGGBB, line length
/// width × 4 bytes) and, after each frame, copies the whole framebuffer to `panel` (what a per-page panel that was
/// handed every page would hold). Returns 0, or -1 if a band is outside the screen or scratch memory ran out.
int plasma_c_render(const plasma_c_band *bands, int band_count, int width, int height, int frames,
                    uint32_t *framebuffer, uint32_t *panel);

#endif
