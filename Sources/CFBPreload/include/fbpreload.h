// SPDX-License-Identifier: MIT — libfbdefio-preload.so exports the libc functions it interposes; no API of its own.
