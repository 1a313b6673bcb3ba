#!/usr/bin/env python3
# SPDX-License-Identifier: MIT — draws Assets/images/landscape.ppm, the backdrop of the `cursor` workload.
#
# A sunset over mountains and a lake, 640x360 (16:9, so it scales by whole numbers to 1280x720 and 1920x1080),
# written as a binary PPM (P6, maxval 255). Deterministic: a fixed seed and only numpy, so re-running it gives the
# same bytes. Usage: python3 Assets/images/make-landscape.py [output.ppm]
import sys

import numpy as np

W, H = 640, 360
HORIZON = 232  # the lake's far shore
rng = np.random.default_rng(20250101)


def ridge(n, roughness, octaves, rng):
    """1-D fractal noise in [0, 1]: a sum of octaves of smoothly interpolated random values."""
    out = np.zeros(n)
    amp, total = 1.0, 0.0
    for o in range(octaves):
        points = 2 + (4 << o)
        knots = rng.random(points)
        xs = np.linspace(0, points - 1, n)
        i = np.floor(xs).astype(int).clip(0, points - 2)
        t = xs - i
        t = t * t * (3 - 2 * t)  # smoothstep between knots
        out += amp * (knots[i] * (1 - t) + knots[i + 1] * t)
        total += amp
        amp *= roughness
    return out / total


def mix(a, b, t):
    t = np.asarray(t)[..., None]
    return np.asarray(a, float) * (1 - t) + np.asarray(b, float) * t


y = np.arange(H)[:, None].astype(float)
x = np.arange(W)[None, :].astype(float)
img = np.zeros((H, W, 3))

# Sky: deep blue at the top through violet and rose to a warm glow at the horizon.
stops = [(0.0, (22, 30, 74)), (0.45, (86, 62, 130)), (0.75, (214, 104, 112)), (1.0, (255, 190, 110))]
ty = np.clip(y / HORIZON, 0, 1)[:, 0]
sky = np.zeros((H, 3))
for (t0, c0), (t1, c1) in zip(stops, stops[1:]):
    m = (ty >= t0) & (ty <= t1)
    sky[m] = mix(c0, c1, (ty[m] - t0) / (t1 - t0))
img[:] = sky[:, None, :]

# The sun, low on the horizon, with a soft glow.
sx, sy, sr = 410.0, HORIZON - 112.0, 24.0
d = np.sqrt((x - sx) ** 2 + (y - sy) ** 2)
glow = np.clip(1 - d / 170, 0, 1) ** 2
img = mix(img, (255, 214, 150), glow * 0.55)
img = mix(img, (255, 244, 214), np.clip(sr + 1 - d, 0, 1))

# A few thin clouds lit from below.
for cy, cx, cw, ch in [(62, 150, 70, 5), (92, 500, 80, 4), (118, 250, 55, 3), (44, 560, 45, 3)]:
    c = np.exp(-(((x - cx) / cw) ** 2) - (((y - cy) / ch) ** 2))
    img = mix(img, (250, 170, 150), np.clip(c * 0.8, 0, 1))

# Three mountain ridges, far to near, bluer and paler with distance (aerial perspective).
layers = [
    (HORIZON - 120, 70, 0.55, 6, (120, 92, 150)),
    (HORIZON - 78, 60, 0.5, 6, (78, 58, 110)),
    (HORIZON - 36, 40, 0.45, 5, (42, 34, 70)),
]
for top, height, rough, octaves, colour in layers:
    profile = top + height * (1 - ridge(W, rough, octaves, rng))
    m = y >= profile[None, :]
    shade = np.clip((y - profile[None, :]) / 90, 0, 1) * 0.35
    layer = mix(colour, (20, 16, 36), shade)
    img = np.where(m[..., None], layer, img)

# Pine trees along the near shore on the left.
shore = HORIZON - 2
trees = rng.integers(0, 250, 26)
for tx in np.sort(trees):
    th = rng.integers(16, 44)
    for row in range(th):
        half = 1 + row * 7 // th
        yy = shore - th + row
        img[yy, max(0, tx - half):min(W, tx + half + 1)] = (14, 20, 30)
img[HORIZON - 4:HORIZON, :] = mix(img[HORIZON - 4:HORIZON, :], (16, 20, 32), 0.6)

# The lake: the scene mirrored, darkened, with horizontal ripples.
lake_rows = H - HORIZON
for r in range(lake_rows):
    depth = r / lake_rows
    ripple = int(round(2.5 * np.sin(r * 0.9 + rng.random() * 0.5) * (0.3 + depth)))
    src = HORIZON - 1 - min(r + abs(ripple), HORIZON - 1)
    row = np.roll(img[src], ripple * 2, axis=0)
    img[HORIZON + r] = mix(row, (18, 26, 52), 0.25 + 0.55 * depth)
# Glitter of the sun on the water.
for r in range(0, lake_rows, 3):
    w = 6 + r // 2
    a = 0.6 * (1 - r / lake_rows)
    xs = sx + rng.integers(-w, w + 1, 4)
    for gx in xs:
        gx = int(gx)
        img[HORIZON + r, max(0, gx - 3):min(W, gx + 4)] = mix(
            img[HORIZON + r, max(0, gx - 3):min(W, gx + 4)], (255, 220, 170), a)

# A dark grassy bank in the right foreground.
bank = H - 18 - 40 * ridge(W, 0.5, 4, rng) * np.clip((x[0] - 380) / 260, 0, 1)
m = (y >= bank[None, :]) & (x >= 380)
img = np.where(m[..., None], mix((22, 40, 30), (8, 14, 12), np.clip((y - bank[None, :]) / 40, 0, 1)), img)

pixels = np.clip(np.round(img), 0, 255).astype(np.uint8)
out = sys.argv[1] if len(sys.argv) > 1 else "landscape.ppm"
with open(out, "wb") as f:
    f.write(b"P6\n# fbdefio-emu landscape backdrop, drawn by make-landscape.py\n%d %d\n255\n" % (W, H))
    f.write(pixels.tobytes())
