import Testing
import Kernel
@testable import Panels
import TestSupport

/// One machine: a kernel, a framebuffer and a panel driver installed as its deferred-I/O callback, with every
/// update the panel reports collected in order.
@EmuActor struct Rig {
    let k: EmuKernel
    let info: FBInfo
    let driver: any PanelDriver
    let updates: Box<[PanelUpdate]>

    /// A writer process body: opens /dev/fb0, maps all of it shared, runs `body` with the mapping's base.
    func spawnWriter(_ name: String = "writer", _ body: @escaping @EmuActor (UserTask, Int, VirtAddr) throws -> Void) {
        k.spawnProcess(name) { t in
            let fd = try t.open(info.node)
            let base = try t.mmap(length: info.fix.smemLen, prot: .readWrite, flags: .shared, fd: fd)
            try body(t, fd, base)
        }
    }

    /// Reads framebuffer bytes from the kernel side.
    func screen(_ offset: Int, _ count: Int) -> [UInt8] { Array(info.readScreen()[offset ..< offset + count]) }
}

/// Boots a machine for `profile`: the framebuffer at the profile's native size and depth unless given.
@EmuActor func makeRig(_ profile: PanelProfile, xres: Int? = nil, yres: Int? = nil, bpp: Int? = nil,
                       options: PanelOptions = PanelOptions(), hz: Int64 = 250,
                       policy: SchedPolicy = .roundRobin()) -> Rig {
    let k = EmuKernel(policy: policy, tickRate: TickRate(hz: hz), ramPages: 8192)
    let info = FBInfo(kernel: k, xres: xres ?? profile.width, yres: yres ?? profile.height,
                      bitsPerPixel: bpp ?? profile.defaultFramebufferBPP)!
    let driver = makePanelDriver(profile, for: info, options: options)
    let err = driver.install()
    #expect(err == nil)
    let updates = Box<[PanelUpdate]>([])
    driver.onUpdate = { updates.value.append($0) }
    return Rig(k: k, info: info, driver: driver, updates: updates)
}

/// `count` bytes of a deterministic test picture: seeded pixel values with runs of repeated pixels mixed in (so the
/// udlfb encoder sees both raw spans and repeats).
func pattern(bytes count: Int, seed: UInt64) -> [UInt8] {
    var rng = SplitMix64(seed: seed)
    var out = [UInt8](repeating: 0, count: count)
    var i = 0
    while i < count {
        let word = rng.next()
        let run = Int(word >> 60) // 0…15 repeats of a 4-byte value
        for _ in 0 ... run where i + 4 <= count {
            out[i] = UInt8(truncatingIfNeeded: word)
            out[i + 1] = UInt8(truncatingIfNeeded: word >> 8)
            out[i + 2] = UInt8(truncatingIfNeeded: word >> 16)
            out[i + 3] = UInt8(truncatingIfNeeded: word >> 24)
            i += 4
        }
        if i + 4 > count {
            while i < count {
                out[i] = UInt8(truncatingIfNeeded: word >> 32)
                i += 1
            }
        }
    }
    return out
}

/// Stores `bytes` into the mapping at `offset` (the user-space `memcpy` into /dev/fb0).
@EmuActor func store(_ t: UserTask, _ base: VirtAddr, at offset: Int, _ bytes: [UInt8]) throws {
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 8)
    defer { buffer.deallocate() }
    buffer.copyBytes(from: bytes)
    try t.storeBytes(base + offset, UnsafeRawBufferPointer(buffer))
}

/// Virtual time in microseconds, for readable expectations.
func micros(_ t: VirtualTime) -> Int64 { t.picoseconds / 1_000_000 }
