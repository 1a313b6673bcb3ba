// SPDX-License-Identifier: MIT — the host side of an emulated task's kernel stack and of the context switch.
#ifndef FBD_TASK_SWITCH_H
#define FBD_TASK_SWITCH_H

#include <stddef.h>

/// A stack an emulated task runs on, and the stack pointer saved while it is switched out.
typedef struct fbd_stack {
    void *base;       // the mapping, guard page included
    size_t size;      // bytes mapped
    void *sp;         // saved stack pointer while the task is not on the host CPU
    // The Swift runtime's dynamic-exclusivity access set of the task, swapped in and out at each switch as the
    // runtime does for its own async tasks (two words, the runtime's thread-local-context layout).
    void *access_state[2];
} fbd_stack;

/// Maps a stack of `size` bytes (rounded up to pages) below a guard page. Returns 0, or an errno value.
int fbd_stack_map(fbd_stack *stack, size_t size);
void fbd_stack_unmap(fbd_stack *stack);

/// Where a task that has ended switches to, for good: filled in by its entry function.
typedef struct fbd_final_switch {
    fbd_stack *from;
    fbd_stack *to;
} fbd_final_switch;

/// Prepares `stack` so that the first switch to it calls `entry(arg, &final)` on it. When `entry` returns, every
/// frame of the task is gone (nothing it held stays referenced from a stack that never runs again), and the task's
/// last switch is made from `final.from` to `final.to`, never to return.
void fbd_stack_prepare(fbd_stack *stack, void (*entry)(void *, fbd_final_switch *), void *arg);

/// Saves the callee-saved registers and stack pointer of the running context in `from` and continues `to` where it
/// last switched away (or at its entry). Returns when something switches back to `from`.
void fbd_switch_to(fbd_stack *from, fbd_stack *to);

#endif
