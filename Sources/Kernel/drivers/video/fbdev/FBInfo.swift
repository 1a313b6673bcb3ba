// SPDX-License-Identifier: MIT — framebuffer devices (kernel: include/linux/fb.h, drivers/video/fbdev/core/fb_chrdev.c
// and fbmem.c).

/// Kernel: `struct fb_fix_screeninfo` (the fields that matter here).
public struct FBFixScreeninfo: Sendable, Equatable {
    package var id: String
    /// Physical start of contiguous framebuffer memory; 0 for vmalloc memory. Kernel: smem_start
    package var smemStart: UInt64 = 0
    /// Bytes of mappable framebuffer memory. Kernel: smem_len
    public var smemLen: Int
    /// Bytes per scanline. Kernel: line_length
    package var lineLength: Int
}

/// Kernel: `struct fb_var_screeninfo` (resolution and depth).
public struct FBVarScreeninfo: Sendable, Equatable {
    package var xres: Int
    package var yres: Int
    package var bitsPerPixel: Int
}

/// Kernel: FBINFO_* flags.
public struct FBInfoFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// The framebuffer is system RAM, not device memory (no VM_IO on its mappings). Kernel: FBINFO_VIRTFB
    package static let virtfb = FBInfoFlags(rawValue: 0x0004)
}

/// A driver's framebuffer operations. Kernel: `struct fb_ops` (fb_open, fb_release, fb_mmap).
public struct FBOps {
    package var name: String
    package var open: (@EmuActor (FBInfo) -> Errno?)?
    package var release: (@EmuActor (FBInfo) -> Void)?
    /// fb_defio drivers point this at `fbDeferredIOMmap`. Kernel: fb_ops.fb_mmap
    package var mmap: (@EmuActor (FBInfo, VMArea) -> Errno?)?
    package init(name: String, open: (@EmuActor (FBInfo) -> Errno?)? = nil,
                release: (@EmuActor (FBInfo) -> Void)? = nil,
                mmap: (@EmuActor (FBInfo, VMArea) -> Errno?)? = nil) {
        self.name = name
        self.open = open
        self.release = release
        self.mmap = mmap
    }
}

/// Counters of the deferred-I/O machinery of one framebuffer.
public struct FBDefIOStats: Sendable, Equatable {
    /// `page_mkwrite` calls that reached track_page.
    public var mkwrites = 0
    /// Of those, pages already on the list (the early-out).
    package var alreadyListed = 0
    /// Runs of the work function, and how many pages they handed to the driver.
    package var batches = 0
    package var emptyBatches = 0
    package var pagesDelivered = 0
    /// PTEs the worker's write-protect pass changed.
    package var ptesWrprotected = 0
    package var fsyncs = 0
    package init() {}
}

/// A framebuffer: geometry, the screen buffer in vmalloc memory, the device node(s), and deferred I/O.
/// Kernel: `struct fb_info` — include/linux/fb.h
@EmuActor public final class FBInfo {
    public unowned(unsafe) let kernel: EmuKernel
    public var fix: FBFixScreeninfo
    public var variable: FBVarScreeninfo
    package var flags: FBInfoFlags = []
    /// Kernel virtual address of the screen memory (vmalloc). Kernel: info->screen_buffer
    @usableFromInline package private(set) var screenBuffer: UInt64
    package var fbops: FBOps
    /// The driver's deferred-I/O configuration. Kernel: info->fbdefio
    public var fbdefio: FBDeferredIO?
    /// Kernel: info->fbdefio_state (2026)
    package internal(set) var fbdefioState: FBDeferredIOState?
    /// Kernel: info->deferred_work
    public internal(set) var deferredWork: DelayedWork?
    /// Which historical behaviour the deferred-I/O core follows.
    package var variant: FBDefIOVariant = .upstream
    public var defioStats = FBDefIOStats()
    /// Kernel: info->lock (open/release) and info->mm_lock (mmap).
    package let lock: KMutex
    package let mmLock: KMutex
    /// Device nodes for this framebuffer; each has its own inode and address_space (bug I needs two).
    package private(set) var nodes: [Inode] = []
    /// Module references held by VMAs (2026: "Keep module reference from VMAs").
    package internal(set) var moduleRefs = 0

    /// Allocates `yres × lineLength` bytes (rounded up to pages) of vmalloc memory and creates `/dev/fb0`.
    /// Returns nil if RAM runs out.
    package init?(kernel: EmuKernel, xres: Int, yres: Int, bitsPerPixel: Int, lineLength: Int? = nil,
                 id: String = "fbdefio-emu") {
        precondition(bitsPerPixel == 16 || bitsPerPixel == 32, "bpp must be 16 or 32")
        let line = lineLength ?? xres * bitsPerPixel / 8
        let size = pageAlign(yres * line)
        guard let buffer = kernel.vmalloc.vmalloc(size) else { return nil }
        self.kernel = kernel
        screenBuffer = buffer
        fix = FBFixScreeninfo(id: id, smemLen: size, lineLength: line)
        variable = FBVarScreeninfo(xres: xres, yres: yres, bitsPerPixel: bitsPerPixel)
        fbops = FBOps(name: id)
        lock = KMutex.mutex("fb_info->lock", kernel.sched)
        mmLock = KMutex.mutex("fb_info->mm_lock", kernel.sched)
        _ = makeDeviceNode("fb0")
    }

    /// The first device node (`/dev/fb0`).
    public var node: Inode { nodes[0] }

    /// Size, pixel format and line length of the visible screen, from the screeninfo as it is now.
    public var layout: FramebufferLayout {
        FramebufferLayout(width: variable.xres, height: variable.yres,
                          format: PixelFormat(bitsPerPixel: variable.bitsPerPixel)!, lineLength: fix.lineLength)
    }

    /// Creates another device node (another inode, another address_space) for the same framebuffer, as a
    /// `mknod` in a container would (kernel-spec.md bug I).
    package func makeDeviceNode(_ name: String) -> Inode {
        let inode = Inode(kernel: kernel, name: "/dev/\(name)", fops: fbFileOperations)
        inode.privateData = self
        nodes.append(inode)
        return inode
    }

    /// A driver's mode change while nobody has the device open: the old screen memory is freed and new memory
    /// allocated (what `fb_set_par` of a vmalloc driver does). Returns false if RAM runs out.
    /// Kernel analogue: a driver's fb_set_par() → vfree()/vmalloc() of info->screen_buffer
    package func reallocateScreen() -> Bool {
        guard let fresh = kernel.vmalloc.vmalloc(fix.smemLen) else { return false }
        kernel.vmalloc.vfree(screenBuffer)
        screenBuffer = fresh
        return true
    }

    /// The page of framebuffer memory at byte `offset`.
    @inlinable package func page(at offset: Int) -> PFN? { kernel.vmalloc.vmallocToPage(screenBuffer + UInt64(offset)) }

    /// Reads the whole screen memory (smem_len bytes).
    package func readScreen() -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: fix.smemLen) { buffer, count in
            readScreen(at: 0, into: UnsafeMutableRawBufferPointer(buffer))
            count = fix.smemLen
        }
    }

    /// The `write()` system call's copy into screen memory: `bytes` at byte `offset`, clamped to smem_len, charged
    /// as a system call and a copy. No page is faulted, so fb_defio learns nothing: a driver that wants these writes
    /// on its panel marks them dirty itself. Returns the bytes written (0 from an offset past the end).
    /// Kernel: fb_sys_write() — drivers/video/fbdev/core/fb_sys_fops.c
    package func fbSysWrite(offset: Int, _ bytes: [UInt8]) -> Int {
        guard offset >= 0, offset < fix.smemLen else { return 0 }
        let count = min(bytes.count, fix.smemLen - offset)
        bytes.withUnsafeBytes { src in
            kernel.vmalloc.write(screenBuffer + UInt64(offset), UnsafeRawBufferPointer(rebasing: src[0 ..< count]))
        }
        kernel.sched.charge(kernel.costs.syscall + kernel.costs.copy(count))
        return count
    }

    /// Reads `out.count` bytes of screen memory from byte `offset` (a row, a page) through its vmalloc pages, as a
    /// driver reading `screen_buffer` does.
    package func readScreen(at offset: Int, into out: UnsafeMutableRawBufferPointer) {
        kernel.vmalloc.read(screenBuffer + UInt64(offset), into: out)
    }

    /// The file operations of a framebuffer device node. Kernel: fb_fops — drivers/video/fbdev/core/fb_chrdev.c
    var fbFileOperations: FileOperations {
        FileOperations(
            name: "fb",
            open: { [unowned self] inode, file in self.fbOpen(inode, file) },
            release: { [unowned self] inode, file in self.fbRelease(inode, file) },
            mmap: { [unowned self] file, vma in self.fbMmap(file, vma) },
            fsync: { [unowned self] file in fbDeferredIOFsync(self, file) })
    }

    /// Kernel: fb_open() — the driver's open, then (even if that failed: bug M) the defio open.
    func fbOpen(_ inode: Inode, _ file: KFile) -> Errno? {
        lock.lock()
        var result: Errno? = nil
        if let open = fbops.open { result = open(self) }
        if fbdefio != nil { fbDeferredIOOpen(self, inode, file) }
        file.privateData = self
        lock.unlock()
        return result
    }

    /// Kernel: fb_release()
    func fbRelease(_ inode: Inode, _ file: KFile) {
        lock.lock()
        if fbdefio != nil { fbDeferredIORelease(self) }
        if let release = fbops.release { release(self) }
        lock.unlock()
    }

    /// Kernel: fb_mmap() — a defio driver must supply fb_mmap since 2022; without it the mmap fails with ENODEV.
    func fbMmap(_ file: KFile, _ vma: VMArea) -> Errno? {
        mmLock.lock()
        let result: Errno?
        if let mmap = fbops.mmap {
            result = mmap(self, vma)
        } else {
            if fbdefio != nil {
                kernel.warnOnOnce("fb_mmap: !fbops->fb_mmap", "fbdev mmap not set up for deferred I/O")
            }
            result = .ENODEV
        }
        mmLock.unlock()
        return result
    }
}
