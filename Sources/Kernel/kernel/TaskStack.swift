// SPDX-License-Identifier: MIT — the stacks emulated tasks run on (kernel analogue: a task's kernel stack).
import CTaskSwitch
import Foundation
import Synchronization

/// The stack one emulated task runs on while it is on a CPU, and its saved registers while it is not. The kernel
/// code of the emulator is synchronous; a task gives up the host CPU only inside the scheduler, which switches
/// stacks as the kernel does in `__switch_to_asm`: the callee-saved registers go on the old stack, the stack pointer
/// is swapped, and the other task returns from its own earlier switch.
/// Kernel: alloc_thread_stack_node() — kernel/fork.c; __switch_to_asm — arch/x86/entry/entry_64.S
final class TaskStack {
    /// The register-save area and, for a task, the mapping. The driver's (the host code that called `run`) has no
    /// mapping of its own: it is the host thread's stack.
    let context: UnsafeMutablePointer<fbd_stack>

    /// Room for the emulated kernel's deepest synchronous chains (a fault under a page walk under a workload's
    /// drawing); debug builds need several times the frame sizes of release ones. Untouched pages cost nothing.
    #if DEBUG
    static let size = 8 << 20
    #else
    static let size = 2 << 20
    #endif

    /// The context of the code that runs the machine: nothing to map.
    init() {
        context = .allocate(capacity: 1)
        context.initialize(to: fbd_stack())
    }

    private init(context: UnsafeMutablePointer<fbd_stack>) {
        self.context = context
    }

    /// A task stack, reused from the pool when one is free. A host that cannot map one more (its address space
    /// exhausted) cannot set the machine up: the emulator says so and exits with status 3.
    static func task() -> TaskStack {
        if let reused = pool.withLock({ $0.popLast() }) { return TaskStack(context: reused.pointer) }
        let c = UnsafeMutablePointer<fbd_stack>.allocate(capacity: 1)
        c.initialize(to: fbd_stack())
        let rc = fbd_stack_map(c, size)
        guard rc == 0 else {
            let reason = String(cString: strerror(rc))
            FileHandle.standardError.write(Data("fbdefio-emu: cannot map a stack for an emulated task: \(reason)\n".utf8))
            exit(3)
        }
        mappedCount.withLock { $0 += 1 }
        return TaskStack(context: c)
    }

    /// Points the stack at its first call: `entry(argument, &last)` the first time a switch reaches it, then the
    /// switch `entry` left in `last`.
    func prepare(entry: @convention(c) (UnsafeMutableRawPointer?, UnsafeMutablePointer<fbd_final_switch>?) -> Void,
                 argument: UnsafeMutableRawPointer) {
        fbd_stack_prepare(context, entry, argument)
    }

    deinit {
        guard context.pointee.base != nil else {
            context.deallocate()
            return
        }
        let kept = TaskStack.pool.withLock { free -> Bool in
            guard free.count < 64 else { return false }
            free.append(Pointer(pointer: context))
            return true
        }
        if !kept {
            fbd_stack_unmap(context)
            context.deallocate()
            TaskStack.mappedCount.withLock { $0 -= 1 }
        }
    }

    /// Task stacks mapped in this process, in use or pooled for reuse.
    static var mapped: Int { mappedCount.withLock { $0 } }
    private static let mappedCount = Mutex(0)

    private struct Pointer: @unchecked Sendable { let pointer: UnsafeMutablePointer<fbd_stack> }
    private static let pool = Mutex<[Pointer]>([])
}
