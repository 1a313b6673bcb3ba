// SPDX-License-Identifier: MIT — stacks and the register switch for the emulated tasks (the host's analogue of
// alloc_thread_stack_node() in kernel/fork.c and __switch_to_asm in arch/x86/entry/entry_64.S).
#include "task_switch.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

// The Swift runtime keeps the accesses a task has begun but not ended in a thread-local list; it swaps a task's
// accesses out of that list when the task leaves a thread and back in when it runs again. An emulated task that is
// switched out in the middle of an access must take its accesses along in the same way, or the next task would
// see them as its own and report a conflict that is none.
extern void swift_task_enterThreadLocalContext(char *state);
extern void swift_task_exitThreadLocalContext(char *state);

// Saves the callee-saved registers on the current stack, stores the stack pointer at *save, loads `next` and pops
// the registers saved there. A fresh stack is prepared with a frame that pops into fbd_task_start, which calls
// fbd_task_run(entry, arg).
void fbd_swap_stacks(void **save, void *next);
void fbd_task_start(void);

typedef void (*fbd_entry)(void *, fbd_final_switch *);

__attribute__((noreturn, used)) static void fbd_task_run(fbd_entry entry, void *arg) {
    fbd_final_switch last = {0};
    entry(arg, &last);
    fbd_switch_to(last.from, last.to);
    __builtin_trap();
}

#if defined(__x86_64__)
__asm__(
    ".text\n"
    ".globl fbd_swap_stacks\n"
    ".type fbd_swap_stacks,@function\n"
    "fbd_swap_stacks:\n"
    "    pushq %rbp\n"
    "    pushq %rbx\n"
    "    pushq %r12\n"
    "    pushq %r13\n"
    "    pushq %r14\n"
    "    pushq %r15\n"
    "    subq $8, %rsp\n"
    "    stmxcsr (%rsp)\n"
    "    fnstcw 4(%rsp)\n"
    "    movq %rsp, (%rdi)\n"
    "    movq %rsi, %rsp\n"
    "    ldmxcsr (%rsp)\n"
    "    fldcw 4(%rsp)\n"
    "    addq $8, %rsp\n"
    "    popq %r15\n"
    "    popq %r14\n"
    "    popq %r13\n"
    "    popq %r12\n"
    "    popq %rbx\n"
    "    popq %rbp\n"
    "    ret\n"
    ".size fbd_swap_stacks, .-fbd_swap_stacks\n"
    ".globl fbd_task_start\n"
    ".type fbd_task_start,@function\n"
    "fbd_task_start:\n"
    "    movq %r12, %rdi\n"
    "    movq %r13, %rsi\n"
    "    callq fbd_task_run\n"
    "    ud2\n"
    ".size fbd_task_start, .-fbd_task_start\n");

enum { SAVED_WORDS = 8 };  // control words, r15, r14, r13, r12, rbx, rbp, return address

static void prepare_frame(uintptr_t *top, fbd_entry entry, void *arg, void **sp) {
    // After the final `ret` the stack pointer is `top`, 16-byte aligned, as a call expects it before the call.
    uintptr_t *frame = top - SAVED_WORDS;
    uint32_t mxcsr;
    uint16_t fpucw;
    __asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
    __asm__ volatile("fnstcw %0" : "=m"(fpucw));
    frame[0] = (uintptr_t)mxcsr | ((uintptr_t)fpucw << 32);
    frame[1] = 0;                   // r15
    frame[2] = 0;                   // r14
    frame[3] = (uintptr_t)arg;      // r13
    frame[4] = (uintptr_t)entry;    // r12
    frame[5] = 0;                   // rbx
    frame[6] = 0;                   // rbp
    frame[7] = (uintptr_t)fbd_task_start;
    *sp = frame;
}

#elif defined(__aarch64__)
__asm__(
    ".text\n"
    ".globl fbd_swap_stacks\n"
    ".type fbd_swap_stacks,%function\n"
    "fbd_swap_stacks:\n"
    "    sub sp, sp, #176\n"
    "    stp x19, x20, [sp, #0]\n"
    "    stp x21, x22, [sp, #16]\n"
    "    stp x23, x24, [sp, #32]\n"
    "    stp x25, x26, [sp, #48]\n"
    "    stp x27, x28, [sp, #64]\n"
    "    stp x29, x30, [sp, #80]\n"
    "    stp d8, d9, [sp, #96]\n"
    "    stp d10, d11, [sp, #112]\n"
    "    stp d12, d13, [sp, #128]\n"
    "    stp d14, d15, [sp, #144]\n"
    "    mrs x9, fpcr\n"
    "    str x9, [sp, #160]\n"
    "    mov x9, sp\n"
    "    str x9, [x0]\n"
    "    mov sp, x1\n"
    "    ldp x19, x20, [sp, #0]\n"
    "    ldp x21, x22, [sp, #16]\n"
    "    ldp x23, x24, [sp, #32]\n"
    "    ldp x25, x26, [sp, #48]\n"
    "    ldp x27, x28, [sp, #64]\n"
    "    ldp x29, x30, [sp, #80]\n"
    "    ldp d8, d9, [sp, #96]\n"
    "    ldp d10, d11, [sp, #112]\n"
    "    ldp d12, d13, [sp, #128]\n"
    "    ldp d14, d15, [sp, #144]\n"
    "    ldr x9, [sp, #160]\n"
    "    msr fpcr, x9\n"
    "    add sp, sp, #176\n"
    "    ret\n"
    ".size fbd_swap_stacks, .-fbd_swap_stacks\n"
    ".globl fbd_task_start\n"
    ".type fbd_task_start,%function\n"
    "fbd_task_start:\n"
    "    mov x0, x19\n"
    "    mov x1, x20\n"
    "    bl fbd_task_run\n"
    "    brk #0\n"
    ".size fbd_task_start, .-fbd_task_start\n");

static void prepare_frame(uintptr_t *top, fbd_entry entry, void *arg, void **sp) {
    uintptr_t *frame = top - 22;  // 176 bytes
    memset(frame, 0, 176);
    uint64_t fpcr;
    __asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
    frame[0] = (uintptr_t)entry;            // x19
    frame[1] = (uintptr_t)arg;              // x20
    frame[11] = (uintptr_t)fbd_task_start;  // x30
    frame[20] = fpcr;
    *sp = frame;
}

#else
#error "fbd_swap_stacks: only x86_64 and aarch64 hosts are supported"
#endif

int fbd_stack_map(fbd_stack *stack, size_t size) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size = (size + page - 1) / page * page + page;
    void *base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED) return errno;
    // The lowest page stays inaccessible: a task that overflows its stack faults there instead of writing over
    // whatever lies below.
    if (mprotect(base, page, PROT_NONE) != 0) {
        int e = errno;
        munmap(base, size);
        return e;
    }
    memset(stack, 0, sizeof *stack);
    stack->base = base;
    stack->size = size;
    return 0;
}

void fbd_stack_unmap(fbd_stack *stack) {
    if (stack->base) munmap(stack->base, stack->size);
    stack->base = NULL;
}

void fbd_stack_prepare(fbd_stack *stack, fbd_entry entry, void *arg) {
    uintptr_t top = ((uintptr_t)stack->base + stack->size) & ~(uintptr_t)15;
    prepare_frame((uintptr_t *)top, entry, arg, &stack->sp);
    stack->access_state[0] = stack->access_state[1] = NULL;
}

void fbd_switch_to(fbd_stack *from, fbd_stack *to) {
    swift_task_exitThreadLocalContext((char *)from->access_state);
    swift_task_enterThreadLocalContext((char *)to->access_state);
    fbd_swap_stacks(&from->sp, to->sp);
}
