// SPDX-License-Identifier: MIT — the host side of `exec`: the real program, its sockets and the memory file it
// shares with the emulated framebuffer. No kernel types here (this file sees the C host calls, not the model).
import CFBExecProtocol

/// What the program asks over its request socket. Kernel analogue: the system calls the preload library forwards.
package enum ExecRequest: Sendable, Equatable {
    case hello(pid: Int)
    case open(flags: Int)
    case close(handle: Int)
    /// `address` is where the program has it; `userfaultfd`: registered for write-protect faults.
    case mmap(handle: Int, offset: Int, length: Int, writable: Bool, address: UInt64, userfaultfd: Bool)
    /// The library handed its userfaultfd over (`accepted`: a descriptor came with the message).
    case userfaultfd(accepted: Bool)
    case munmap(region: Int, offset: Int, length: Int)
    /// A write to `offset` bytes into `region`; `stallBefore` is the time the program spent in earlier faults.
    case fault(region: Int, offset: Int, stallBefore: UInt64)
    case fsync(handle: Int)
    case badMode(xres: Int, yres: Int, bitsPerPixel: Int)
    case putMode
    case pan(xoffset: Int, yoffset: Int, refused: Bool)
    case blank(level: Int)
    case bye(faults: Int, stallNanoseconds: UInt64)
    case unknown(type: UInt32)
}

/// The mode the library answers FBIOGET_VSCREENINFO/FBIOGET_FSCREENINFO with.
package struct ExecMode: Sendable, Equatable {
    package var xres: Int, yres: Int, bitsPerPixel: Int, lineLength: Int, smemLen: Int
    package var id: String
    package init(xres: Int, yres: Int, bitsPerPixel: Int, lineLength: Int, smemLen: Int, id: String) {
        self.xres = xres
        self.yres = yres
        self.bitsPerPixel = bitsPerPixel
        self.lineLength = lineLength
        self.smemLen = smemLen
        self.id = id
    }
}

/// How the program ended.
package enum ExecExit: Sendable, Equatable, CustomStringConvertible {
    case exited(Int32)
    case signalled(Int32)
    package var description: String {
        switch self {
        case .exited(let c): "exited with status \(c)"
        case .signalled(let s): "killed by signal \(s)\(ExecExit.signalName(s).map { " (\($0))" } ?? "")"
        }
    }
    package var succeeded: Bool { self == .exited(0) }
    static func signalName(_ s: Int32) -> String? {
        [1: "SIGHUP", 2: "SIGINT", 6: "SIGABRT", 7: "SIGBUS", 9: "SIGKILL", 11: "SIGSEGV", 13: "SIGPIPE",
         15: "SIGTERM"][s]
    }
}

package struct ExecHostError: Error, Sendable, CustomStringConvertible {
    package var description: String
}

/// The running program and the emulator's ends of its sockets. Used from the emulator thread only.
package final class ExecHost: @unchecked Sendable {
    package private(set) var pid: Int32 = -1
    private let req: Int32, ctl: Int32
    private var childFDs: (Int32, Int32)
    private let memfd: Int32
    package private(set) var startNanoseconds: UInt64 = 0
    package private(set) var exit: ExecExit?
    /// The request socket hung up (the program exited or closed it).
    package private(set) var hungUp = false

    /// Creates the memory file (`memfdSize` bytes) and the two socket pairs; `spawn` then starts the program.
    package init(memfdSize: Int) throws(ExecHostError) {
        let mfd = fbx_host_memfd(memfdSize)
        guard mfd >= 0 else { throw ExecHostError(description: "memfd_create: errno \(-mfd)") }
        var emu: (Int32, Int32) = (-1, -1), child: (Int32, Int32) = (-1, -1)
        let err = withUnsafeMutableBytes(of: &emu) { e in
            withUnsafeMutableBytes(of: &child) { c in
                fbx_host_socketpairs(e.baseAddress!.assumingMemoryBound(to: Int32.self),
                                     c.baseAddress!.assumingMemoryBound(to: Int32.self))
            }
        }
        guard err == 0 else {
            close(mfd)
            throw ExecHostError(description: "socketpair: errno \(err)")
        }
        req = emu.0
        ctl = emu.1
        childFDs = child
        memfd = mfd
    }

    /// Starts `argv` (looked up in PATH) with the preload library and the sockets. Fails when the program cannot be
    /// started (not found, not executable).
    package func spawn(argv: [String], preload: String, environment: [String: String]) throws(ExecHostError) {
        var env = environment
        env[FBX_ENV_FDS] = "\(childFDs.0),\(childFDs.1)"
        let existing = env["LD_PRELOAD"].map { $0.isEmpty ? "" : ":" + $0 } ?? ""
        env["LD_PRELOAD"] = preload + existing
        let envStrings = env.keys.sorted().map { "\($0)=\(env[$0]!)" }
        var pid: pid_t = 0
        let spawned = withCStrings(argv) { cargv in
            withCStrings(envStrings) { cenv in fbx_host_spawn(argv[0], cargv, cenv, &pid) }
        }
        close(childFDs.0)
        close(childFDs.1)
        childFDs = (-1, -1)
        guard spawned == 0 else {
            throw ExecHostError(description: spawned == 2
                ? "program '\(argv[0])' cannot be started: not found (or its #! interpreter is missing)"
                : "cannot start '\(argv[0])': errno \(spawned)")
        }
        self.pid = pid
        startNanoseconds = fbx_host_now_ns()
    }

    deinit {
        close(req)
        close(ctl)
        close(memfd)
        close(uffd)
        close(childFDs.0)
        close(childFDs.1)
    }

    /// Nanoseconds of wall time since the program started.
    package var elapsedNanoseconds: UInt64 { fbx_host_now_ns() &- startNanoseconds }

    /// Sleeps the calling thread until `nanoseconds` after the program's start (presentation pacing).
    package func sleep(untilElapsed nanoseconds: UInt64) {
        let now = elapsedNanoseconds
        if nanoseconds > now { fbx_host_sleep_ns(min(nanoseconds - now, 1_000_000_000)) }
    }

    /// Puts page `pgoff` of the memory file over the host page at `address` (an emulated physical page), so that
    /// the program's stores and the emulated kernel's reads see the same bytes.
    package func share(page address: UnsafeMutableRawPointer, pgoff: Int) throws(ExecHostError) {
        let e = fbx_host_map_page(address, memfd, Int64(pgoff) * Int64(FBX_PAGE_SIZE))
        guard e == 0 else { throw ExecHostError(description: "mmap of the memory file: errno \(e)") }
    }

    /// Gives the page back its own private memory (zero), so the arena can be reused.
    package func unshare(page address: UnsafeMutableRawPointer) { _ = fbx_host_restore_page(address) }

    /// The next request, waiting at most `timeoutMs` (0: do not wait). nil: none yet, or the socket hung up.
    package func nextRequest(timeoutMs: Int32) -> ExecRequest? {
        guard !hungUp else {
            if timeoutMs > 0 { fbx_host_sleep_ns(UInt64(timeoutMs) * 1_000_000) }
            return nil
        }
        var m = fbx_msg()
        var passed: Int32 = -1
        let n = fbx_host_recv_fd(req, &m, timeoutMs, &passed)
        if n == 0 {
            hungUp = true
            return nil
        }
        guard n == MemoryLayout<fbx_msg>.size else {
            close(passed)
            return nil
        }
        if m.type == UInt32(FBX_UFFD.rawValue) {
            if passed >= 0 && uffd < 0 { uffd = passed } else { close(passed) }
            return .userfaultfd(accepted: passed >= 0)
        }
        close(passed)
        return Self.decode(m)
    }

    /// The program's userfaultfd, once it handed it over.
    package private(set) var uffd: Int32 = -1

    /// Waits at most `timeoutMs` for a request or a userfaultfd fault.
    package func waitForProgram(timeoutMs: Int32) {
        if hungUp && uffd < 0 {
            fbx_host_sleep_ns(UInt64(timeoutMs) * 1_000_000)
            return
        }
        _ = fbx_host_poll2(hungUp ? uffd : req, hungUp ? -1 : uffd, timeoutMs)
    }

    /// The next write-protect fault the program's threads wait in, if any (not waiting).
    package func nextUserfault() -> UInt64? {
        guard uffd >= 0 else { return nil }
        var address: UInt64 = 0
        while true {
            switch fbx_host_uffd_read(uffd, &address) {
            case 1: return address
            case 2, 3: continue  // not a write-protect fault: nothing to do here
            default: return nil
            }
        }
    }

    /// Lifts (`protect` false) or sets the write-protection of [address, address + length) in the program; lifting
    /// wakes the threads waiting in a fault there. False when the kernel refused (the program is gone).
    @discardableResult
    package func userfaultWriteprotect(_ address: UInt64, length: Int, protect: Bool) -> Bool {
        guard uffd >= 0 else { return false }
        return fbx_host_uffd_writeprotect(uffd, address, UInt64(length), protect ? 1 : 0) == 0
    }

    static func decode(_ m: fbx_msg) -> ExecRequest {
        let a = Int(truncatingIfNeeded: m.a), b = Int(truncatingIfNeeded: m.b), c = Int(truncatingIfNeeded: m.c)
        switch m.type {
        case UInt32(FBX_HELLO.rawValue): return .hello(pid: a)
        case UInt32(FBX_OPEN.rawValue): return .open(flags: a)
        case UInt32(FBX_CLOSE.rawValue): return .close(handle: a)
        case UInt32(FBX_MMAP.rawValue):
            return .mmap(handle: a, offset: b, length: c, writable: m.arg0 & 2 != 0, address: m.d,
                         userfaultfd: m.arg0 & UInt32(FBX_MMAP_UFFD) != 0)
        case UInt32(FBX_MUNMAP.rawValue): return .munmap(region: a, offset: b, length: c)
        case UInt32(FBX_FAULT.rawValue): return .fault(region: a, offset: b, stallBefore: m.c)
        case UInt32(FBX_FSYNC.rawValue): return .fsync(handle: a)
        case UInt32(FBX_BYE.rawValue): return .bye(faults: a, stallNanoseconds: m.b)
        case UInt32(FBX_IOCTL.rawValue):
            switch m.arg0 {
            case UInt32(FBX_IOCTL_BADMODE.rawValue):
                return .badMode(xres: Int(m.a >> 32), yres: Int(m.a & 0xFFFF_FFFF), bitsPerPixel: b)
            case UInt32(FBX_IOCTL_PAN.rawValue):
                return .pan(xoffset: Int(m.a >> 32), yoffset: Int(m.a & 0xFFFF_FFFF), refused: b != 0)
            case UInt32(FBX_IOCTL_BLANK.rawValue): return .blank(level: a)
            case UInt32(FBX_IOCTL_PUTMODE.rawValue): return .putMode
            default: return .unknown(type: m.type)
            }
        default: return .unknown(type: m.type)
        }
    }

    /// Answers the pending request: `errno` 0 means done.
    package func reply(errno: Int32 = 0, value: Int = 0) {
        _ = fbx_host_send(req, UInt32(FBX_REPLY.rawValue), UInt32(bitPattern: errno), UInt64(bitPattern: Int64(value)),
                          0, 0)
    }

    /// Answers FBX_HELLO with the mode and the memory file; `userfaultfd`: ask the library to track with it.
    package func sendMode(_ mode: ExecMode, userfaultfd: Bool) {
        var info = fbx_info()
        info.tracking = userfaultfd ? UInt32(FBX_TRACK_UFFD.rawValue) : UInt32(FBX_TRACK_MPROTECT.rawValue)
        info.type = UInt32(FBX_INFO.rawValue)
        info.xres = UInt32(mode.xres)
        info.yres = UInt32(mode.yres)
        info.bits_per_pixel = UInt32(mode.bitsPerPixel)
        info.line_length = UInt32(mode.lineLength)
        info.smem_len = UInt32(mode.smemLen)
        // RGB565 or XRGB8888, as the emulated panels' framebuffers are laid out.
        if mode.bitsPerPixel == 16 {
            info.red = (11, 5); info.green = (5, 6); info.blue = (0, 5); info.transp = (0, 0)
        } else {
            info.red = (16, 8); info.green = (8, 8); info.blue = (0, 8); info.transp = (24, 0)
        }
        withUnsafeMutableBytes(of: &info.id) { id in
            for (i, b) in mode.id.utf8.prefix(15).enumerated() { id[i] = b }
        }
        _ = fbx_host_send_info(req, &info, memfd)
    }

    /// Waits for the library's FBX_DONE after a fault reply (the page is writable in the program). False when the
    /// program went away instead.
    package func awaitDone() -> Bool {
        var m = fbx_msg()
        while true {
            let n = fbx_host_recv(req, &m, 10_000)
            if n == 0 {
                hungUp = true
                return false
            }
            if n < 0 { return false }
            if m.type == UInt32(FBX_DONE.rawValue) { return true }
        }
    }

    /// Makes `pages` read-only in the program (through its helper thread) and waits until they are. False when the
    /// program is gone (then nothing can write them any more).
    package func protect(_ pages: [Int]) -> Bool {
        guard !pages.isEmpty else { return true }
        let list = pages.map { UInt32($0) }
        return list.withUnsafeBufferPointer { fbx_host_protect(ctl, $0.baseAddress, Int32($0.count)) } == 0
    }

    /// Checks (without waiting) whether the program has ended; records how.
    @discardableResult
    package func reap() -> ExecExit? {
        if exit != nil { return exit }
        var code: Int32 = 0
        switch fbx_host_reap(pid, &code) {
        case 1: exit = .exited(code)
        case 2: exit = .signalled(code)
        default: break
        }
        return exit
    }

    /// Asks the program to stop (SIGTERM; `force`: SIGKILL).
    package func terminate(force: Bool = false) { _ = fbx_host_kill(pid, force ? 9 : 15) }

    /// Sends the program a signal (an emulated SIGBUS or SIGSEGV of a fault it waits in).
    package func signal(_ sig: Int32) { _ = fbx_host_kill(pid, sig) }

    /// Whether the host lets this process use userfaultfd write-protect on shared memory.
    package static var userfaultfdWPAvailable: Bool { fbx_host_uffd_wp_available() == 1 }
}

private func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
    var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { s in
        let utf8 = Array(s.utf8CString)
        let p = UnsafeMutablePointer<CChar>.allocate(capacity: utf8.count)
        p.initialize(from: utf8, count: utf8.count)
        return p
    }
    pointers.append(nil)
    defer { for p in pointers { p?.deallocate() } }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}

private func close(_ fd: Int32) { if fd >= 0 { fbx_host_close(fd) } }
