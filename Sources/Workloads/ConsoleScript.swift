// SPDX-License-Identifier: MIT — what the `console` workload types: a seeded boot log, a login and a shell session.
import Kernel

/// One step of console output.
enum ConsoleUnit: Equatable {
    /// A character in a colour; `typed` ones come at a person's pace, the others at printk's.
    case char(Unicode.Scalar, UInt32, typed: Bool)
    /// Carriage return and line feed.
    case newline(typed: Bool)
    /// Nothing happens for the rest of the frame (someone thinking, a command running).
    case pause
    /// `clear`: blank the screen and home the cursor.
    case clear
}

/// Generates an endless, plausible console session from a seed: the kernel log of a boot with an fbtft panel,
/// systemd's status lines, a login, then shell commands about the framebuffer with their output. Everything
/// (version numbers, timestamps, sizes, which commands) is drawn from the seed; nothing reads a clock.
struct ConsoleScript {
    static let grey: UInt32 = 0xAA_AAAA, white: UInt32 = 0xFF_FFFF, green: UInt32 = 0x55_FF55
    static let blue: UInt32 = 0x55_55FF, yellow: UInt32 = 0xFF_FF55, cyan: UInt32 = 0x55_FFFF

    private var rng: SplitMix64
    private var stage = 0
    /// The previous shell command, so the same one is not typed twice in a row.
    private var lastCommand = -1
    /// Seconds since boot, in microseconds, for printk timestamps.
    private var uptimeMicros = 0
    /// Wall clock of the shell session, in seconds since midnight.
    private var clock: Int
    private let patch: Int, buildMonth: Int, buildDay: Int, cpus: Int, ramMiB: Int
    private let panel: String, rootUUID: String, spiMHz: Int, fps: Int
    /// Screen facts the log and `fbset` print.
    private let layout: FramebufferLayout, consoleCols: Int, consoleRows: Int

    init(seed: UInt64, layout: FramebufferLayout, consoleCols: Int, consoleRows: Int) {
        rng = SplitMix64(seed: SplitMix64.derive(seed, "console-script"))
        self.layout = layout
        self.consoleCols = consoleCols
        self.consoleRows = consoleRows
        patch = 20 + rng.below(30)
        buildMonth = 1 + rng.below(12)
        buildDay = 1 + rng.below(28)
        cpus = [1, 2, 4, 4, 8][rng.below(5)]
        ramMiB = [256, 512, 1024, 2048][rng.below(4)]
        panel = ["ili9341", "st7789v", "ssd1351", "hx8357d", "st7735r", "ili9486"][rng.below(6)]
        spiMHz = [16, 24, 32, 48][rng.below(4)]
        fps = [10, 20, 25, 30][rng.below(4)]
        clock = 8 * 3600 + rng.below(10 * 3600)
        var uuid = ""
        for (i, n) in [8, 4, 4, 4, 12].enumerated() {
            if i > 0 { uuid += "-" }
            for _ in 0 ..< n { uuid += String(rng.below(16), radix: 16) }
        }
        rootUUID = uuid
    }

    /// The transmit buffer the fbtft driver of `panel` prints, in KiB: fb_ili9341 asks for 4 × PAGE_SIZE; the
    /// others set no `txbuflen`, so fbtft gives them PAGE_SIZE for the byte swap of 16 bpp pixels.
    /// Kernel: `TXBUFLEN` of drivers/staging/fbtft/fb_ili9341.c; fbtft_framebuffer_alloc() for the rest
    static func txbufKiB(_ panel: String) -> Int { panel == "ili9341" ? 16 : 4 }

    /// The next piece of the session (never empty).
    mutating func next() -> [ConsoleUnit] {
        defer { stage += 1 }
        switch stage {
        case 0: return kernelLog()
        case 1: return systemdStatus()
        case 2: return login()
        default: return shellCommand()
        }
    }

    // MARK: - Text helpers

    private func line(_ text: String, _ colour: UInt32 = grey, typed: Bool = false) -> [ConsoleUnit] {
        text.unicodeScalars.map { .char($0, colour, typed: typed) } + [.newline(typed: typed)]
    }

    private func text(_ text: String, _ colour: UInt32 = grey, typed: Bool = false) -> [ConsoleUnit] {
        text.unicodeScalars.map { .char($0, colour, typed: typed) }
    }

    private static func pad(_ s: String, _ width: Int, with fill: Character = " ") -> String {
        s.count >= width ? s : String(repeating: fill, count: width - s.count) + s
    }

    private static func num(_ v: Int, _ width: Int) -> String { pad(String(v), width, with: "0") }

    private static func hex(_ v: UInt64, _ digits: Int) -> String { pad(String(v, radix: 16), digits, with: "0") }

    /// "[    1.234567] " with the timestamp advanced by up to `maxStep` µs.
    private mutating func stamp(_ maxStep: Int) -> String {
        uptimeMicros += 1 + rng.below(maxStep)
        let secs = uptimeMicros / 1_000_000, micros = uptimeMicros % 1_000_000
        return "[" + Self.pad(String(secs), 5) + "." + Self.num(micros, 6) + "] "
    }

    private var release: String { "6.12.\(patch)-amd64" }
    private var buildDate: String { "2025-\(Self.num(buildMonth, 2))-\(Self.num(buildDay, 2))" }

    // MARK: - Stages

    private mutating func kernelLog() -> [ConsoleUnit] {
        let ramKiB = ramMiB * 1024
        let code = 14000 + rng.below(4000), rw = 3000 + rng.below(1000), ro = 5000 + rng.below(2000)
        let mhz = 1800 + rng.below(2200), khz = rng.below(1000)
        let vmemKiB = layout.byteCount / 1024
        let messages: [(String, Int)] = [
            ("Linux version \(release) (debian-kernel@lists.debian.org) (x86_64-linux-gnu-gcc-14 (Debian "
                + "14.2.0-19) 14.2.0, GNU ld (GNU Binutils for Debian) 2.44) #1 SMP PREEMPT_DYNAMIC Debian "
                + "6.12.\(patch)-1 (\(buildDate))", 1),
            ("Command line: BOOT_IMAGE=/boot/vmlinuz-\(release) root=UUID=\(rootUUID) ro quiet", 1),
            ("BIOS-provided physical RAM map:", 1),
            ("BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable", 1),
            ("BIOS-e820: [mem 0x0000000000100000-0x\(Self.hex(UInt64(ramMiB) << 20 - 1, 16))] usable", 1),
            ("NX (Execute Disable) protection: active", 1),
            ("DMI: QEMU Standard PC (Q35 + ICH9, 2009), BIOS 1.16.3-debian-1.16.3-2 04/01/2014", 1),
            ("tsc: Detected \(mhz).\(Self.num(khz, 3)) MHz processor", 400),
            ("Memory: \(ramKiB - code - rw - ro - 9000)K/\(ramKiB)K available (\(code)K kernel code, \(rw)K rwdata, "
                + "\(ro)K rodata, 4096K init, 3012K bss, \(9000 - 4096 - 3012)K reserved, 0K cma-reserved)", 9000),
            ("SLUB: HWalign=64, Order=0-3, MinObjects=0, CPUs=\(cpus), Nodes=1", 500),
            ("rcu: Preemptible hierarchical RCU implementation.", 300),
            ("Console: colour dummy device 80x25", 3000),
            ("printk: legacy console [tty0] enabled", 200),
            ("Calibrating delay loop (skipped), value calculated using timer frequency.. "
                + "\(mhz * 2).\(Self.num(khz / 10, 2)) BogoMIPS (lpj=\(mhz * 4000 + khz * 4))", 2000),
            ("smp: Brought up 1 node, \(cpus) CPU\(cpus == 1 ? "" : "s")", 60000),
            ("devtmpfs: initialized", 9000),
            ("clocksource: jiffies: mask: 0xffffffff max_cycles: 0xffffffff, max_idle_ns: 7645041785100000 ns",
             900),
            ("NET: Registered PF_NETLINK/PF_ROUTE protocol family", 2000),
            ("PCI: Using configuration type 1 for base access", 9000),
            ("fbtft: module is from the staging directory, the quality is unknown, you have been warned.", 400000),
            ("fb_\(panel): module is from the staging directory, the quality is unknown, you have been warned.", 9000),
            ("graphics fb0: fb_\(panel) frame buffer, \(layout.width)x\(layout.height), \(vmemKiB) KiB video memory, "
                + "\(Self.txbufKiB(panel)) KiB buffer memory, fps=\(fps), spi0.0 at \(spiMHz) MHz", 90000),
            ("Console: switching to colour frame buffer device \(consoleCols)x\(consoleRows)", 3000),
            ("EXT4-fs (vda1): mounted filesystem \(rootUUID) ro with ordered data mode. Quota mode: none.", 300000),
            ("Run /sbin/init as init process", 20000),
            ("systemd[1]: systemd 257.\(7 + rng.below(3))-1 running in system mode (+PAM +AUDIT +SELINUX +APPARMOR "
                + "+IMA +SMACK +SECCOMP +GCRYPT -GNUTLS +OPENSSL +ACL +BLKID +CURL +ELFUTILS +FIDO2 +IDN2 -IDN +KMOD "
                + "+LIBCRYPTSETUP +PCRE2 +PWQUALITY +P11KIT +QRENCODE +TPM2 +BZIP2 +LZ4 +XZ +ZLIB +ZSTD)", 200000),
            ("systemd[1]: Hostname set to <fbdefio>.", 9000),
            ("random: crng init done", 100000),
        ]
        var out: [ConsoleUnit] = []
        for (message, step) in messages {
            out += line(stamp(step) + message)
        }
        return out
    }

    private mutating func systemdStatus() -> [ConsoleUnit] {
        let units = [
            "Created slice system-getty.slice - Slice /system/getty.",
            "Started systemd-journald.service - Journal Service.",
            "Finished systemd-remount-fs.service - Remount Root and Kernel File Systems.",
            "Reached target local-fs.target - Local File Systems.",
            "Started systemd-udevd.service - Rule-based Manager for Device Events and Files.",
            "Finished systemd-tmpfiles-setup.service - Create System Files and Directories.",
            "Reached target sysinit.target - System Initialization.",
            "Started cron.service - Regular background program processing daemon.",
            "Started dbus.service - D-Bus System Message Bus.",
            "Started systemd-logind.service - User Login Management.",
            "Started getty@tty1.service - Getty on tty1.",
            "Reached target multi-user.target - Multi-User System.",
        ]
        var out: [ConsoleUnit] = []
        for u in units {
            out += text("[") + text("  OK  ", Self.green) + text("] ") + line(u)
            if rng.below(4) == 0 { out.append(.pause) }
        }
        return out
    }

    private mutating func login() -> [ConsoleUnit] {
        var out: [ConsoleUnit] = [.newline(typed: false)]
        out += line("Debian GNU/Linux 13 fbdefio tty1")
        out.append(.newline(typed: false))
        out += text("fbdefio login: ")
        out += [.pause, .pause]
        out += line("root", Self.white, typed: true)
        out += text("Password: ")
        out += [.pause, .pause, .pause, .newline(typed: true)]
        out += line("Linux fbdefio \(release) #1 SMP PREEMPT_DYNAMIC Debian 6.12.\(patch)-1 (\(buildDate)) x86_64")
        out.append(.newline(typed: false))
        out += line("The programs included with the Debian GNU/Linux system are free software;")
        out += line("the exact distribution terms for each program are described in the")
        out += line("individual files in /usr/share/doc/*/copyright.")
        out.append(.newline(typed: false))
        out += line("Debian GNU/Linux comes with ABSOLUTELY NO WARRANTY, to the extent")
        out += line("permitted by applicable law.")
        return out
    }

    private var timeOfDay: String {
        let t = clock % 86400
        return "\(Self.num(t / 3600, 2)):\(Self.num(t / 60 % 60, 2)):\(Self.num(t % 60, 2))"
    }

    private mutating func shellCommand() -> [ConsoleUnit] {
        clock += 2 + rng.below(40)
        var out = text("root@fbdefio", Self.green) + text(":") + text("~", Self.blue) + text("# ")
        for _ in 0 ..< 1 + rng.below(4) { out.append(.pause) }
        let bpp = layout.format.bitsPerPixel
        let command: String
        var output: [String] = []
        var clears = false
        var choice = rng.below(14)
        if choice == lastCommand { choice = (choice + 1 + rng.below(13)) % 14 }
        lastCommand = choice
        switch choice {
        case 0:
            command = "uname -a"
            output = ["Linux fbdefio \(release) #1 SMP PREEMPT_DYNAMIC Debian 6.12.\(patch)-1 (\(buildDate)) x86_64 "
                + "GNU/Linux"]
        case 1:
            command = "cat /proc/fb"
            output = ["0 fb_\(panel)"]
        case 2:
            command = "fbset -i"
            let rgba = bpp == 16 ? "5/11,6/5,5/0,0/0" : "8/16,8/8,8/0,0/0"
            output = ["", "mode \"\(layout.width)x\(layout.height)\"",
                      "    geometry \(layout.width) \(layout.height) \(layout.width) \(layout.height) \(bpp)",
                      "    timings 0 0 0 0 0 0 0", "    nonstd 1", "    rgba \(rgba)", "endmode", "",
                      "Frame buffer device information:", "    Name        : fb_\(panel)",
                      "    Address     : (nil)", "    Size        : \(layout.byteCount)",
                      "    Type        : PACKED PIXELS", "    Visual      : TRUECOLOR", "    XPanStep    : 0",
                      "    YPanStep    : 0", "    YWrapStep   : 0", "    LineLength  : \(layout.lineLength)",
                      "    Accelerator : No"]
        case 3:
            command = "ls /sys/class/graphics"
            output = ["fb0  fbcon"]
        case 4:
            command = "cat /sys/class/graphics/fb0/virtual_size"
            output = ["\(layout.width),\(layout.height)"]
        case 5:
            command = "cat /sys/class/graphics/fb0/bits_per_pixel"
            output = ["\(bpp)"]
        case 6:
            command = "uptime"
            let loads = (0 ..< 3).map { _ in "0.\(Self.num(rng.below(60), 2))" }
            output = [" \(timeOfDay) up \(1 + uptimeMicros / 60_000_000 + stage / 3) min,  1 user,  load average: "
                + loads.joined(separator: ", ")]
        case 7:
            command = "free -m"
            let used = ramMiB / 8 + rng.below(ramMiB / 8), cache = ramMiB / 10 + rng.below(ramMiB / 10)
            let cols = [ramMiB, used, ramMiB - used - cache, 1 + rng.below(4), cache, ramMiB - used]
            output = ["               total        used        free      shared  buff/cache   available",
                      "Mem:" + cols.map { Self.pad(String($0), 12) }.joined(),
                      "Swap:" + Self.pad("0", 11) + Self.pad("0", 12) + Self.pad("0", 12)]
        case 8:
            command = "ls -l /dev/fb0"
            output = ["crw-rw---- 1 root video 29, 0 Nov 21 \(String(timeOfDay.prefix(5))) /dev/fb0"]
        case 9:
            command = "dmesg | tail -n 3"
            uptimeMicros += 60_000_000 + rng.below(60_000_000)
            output = [stamp(90000) + "fb_\(panel) spi0.0: Display update: \(rng.below(900) + 100) kB/s, fps=\(fps)",
                      stamp(900000) + "systemd-journald[\(180 + rng.below(60))]: Time spent on flushing to "
                        + "/var/log/journal is \(rng.below(9000))us for \(100 + rng.below(900)) entries.",
                      stamp(9_000_000) + "fb_\(panel) spi0.0: deferred io: \(1 + rng.below(40)) pages"]
        case 10:
            command = "grep MemTotal /proc/meminfo"
            output = ["MemTotal:" + Self.pad(String(ramMiB * 1024 - 9000), 16) + " kB"]
        case 11:
            command = "date"
            output = ["Fri Nov 21 \(timeOfDay) UTC 2025"]
        case 12:
            command = "tty"
            output = ["/dev/tty1"]
        default:
            command = "clear"
            clears = true
        }
        out += line(command, Self.white, typed: true)
        if clears {
            out.append(.clear)
            return out
        }
        if command == "uname -a" || command == "fbset -i" || command == "free -m" { out.append(.pause) }
        for l in output { out += line(l) }
        return out
    }
}
