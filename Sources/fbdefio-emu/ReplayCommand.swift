// SPDX-License-Identifier: MIT — `fbdefio-emu replay TRACE`: run an access trace against the emulated kernel.
import ArgumentParser
import Foundation
import Frontend
import Kernel
import Lab
import Panels

struct ReplayCLI: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Run an access trace (proc P write/read, flush, sleep) against fb_defio and print its events.",
        discussion: """
            Each trace process maps the whole framebuffer MAP_SHARED read/write at offset 0 (upstream fb_defio, \
            vmalloc memory, line_length 4096). Operations cost no virtual time: the clock moves only at 'sleep' \
            lines, so the deferred work runs at 'flush' lines or when its timer fires during a sleep. Lines run \
            strictly in trace order. Output, one line per event: 'fault proc=P page=N epoch=E' per page_mkwrite, \
            'flush epoch=E pages=[…]' per batch ('timer=1' when the timer fired it), 'display epoch=E \
            crc32=XXXXXXXX' with --display-crc, and 'end epoch=E pending=[…]'. A malformed trace prints \
            'line N: what is wrong' on stderr and exits 2.

            Format: '#' comments; headers 'size BYTES' (default 8294400) and 'procs N' before the first command; \
            'proc P write OFFSET LEN [BYTE]' (BYTE defaults to the line number & 255), 'proc P read OFFSET LEN', \
            'flush', 'sleep MS'. Numbers are decimal or 0x/0X hex.
            """)

    @Argument(help: "The trace file, or - for stdin.")
    var trace: String

    @Flag(name: .customLong("display-crc"), help: "After each flush line, print the CRC-32 of the panel's bytes.")
    var displayCRC = false

    @Option(help: "Kernel variant (see 'fbdefio-emu variants'); VERSION+PATCH+… composes.")
    var variant: String = "upstream"

    @Option(help: "Timer ticks per second (CONFIG_HZ): 100, 250, 300 or 1000.")
    var hz: Int64 = 1000

    @Option(help: "CPUs of the emulated machine (1 to 64); the trace's processes are placed round robin.")
    var cpus: Int = 4

    @Option(name: .customLong("delay-ms"), help: "fb_defio delay in ms (msecs_to_jiffies; 0 = HZ, the kernel's default). Default 50, or with --panel the panel driver's.")
    var delayMs: Int64?

    @Option(help: "Also hand every batch to this panel's driver (see 'fbdefio-emu panels'): its bus time passes, the summary reports its updates.")
    var panel: PanelProfile?

    @Option(help: "With --panel: write the panel's final image as a PNG to FILE.")
    var png: String?

    @OptionGroup var observe: ObservabilityFlags

    @Option(help: "Write a PNG of per-page page_mkwrite counts over the screen layout to FILE.")
    var heatmap: String?

    @Flag(help: "Print the end-of-run summary (counters, latency) on stderr.")
    var summary = false

    @Option(help: "Write a self-contained HTML walkthrough of the run (timeline, PTEs, TLBs, list, locks) to FILE.")
    var walkthrough: String?

    func validate() throws {
        try FlagCheck.hz(hz)
        try FlagCheck.cpus(cpus)
        if let delayMs { try FlagCheck.delayMs(delayMs) }
        if png != nil && panel == nil { throw ValidationError("--png: only with --panel") }
    }

    /// Reads and checks a trace; a malformed one prints `line N: what is wrong` on stderr and exits 2.
    static func load(_ path: String) throws -> ReplayTrace {
        let bytes: [UInt8]
        if path == "-" {
            bytes = [UInt8](FileHandle.standardInput.readDataToEndOfFile())
        } else {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw ValidationError("TRACE: cannot read '\(path)'")
            }
            bytes = [UInt8](data)
        }
        do { return try ReplayTrace(parsing: bytes) } catch {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode(2)
        }
    }

    func run() throws {
        let parsed = try Self.load(trace)
        var options = ReplayOptions()
        options.hz = hz
        options.cpus = cpus
        options.delayMilliseconds = delayMs ?? 50
        options.panel = panel?.name
        options.panelDelay = panel != nil && delayMs == nil
        if displayCRC { options.displayChecksum = { crc32($0) } }
        options.keepEvents = observe.events != nil
        options.keepTrace = observe.trace != nil
        options.variant = try parseVariant(variant)
        let opts = options
        let result = runOnEmulator { Replay(parsed, options: opts).run() }
        FileHandle.standardOutput.write(Data(result.text.utf8))
        try observe.write(events: result.events, stats: result.stats.json, trace: result.trace)
        if let heatmap {
            let image = Heatmap.image(counts: result.mkwritesPerPage, layout: result.layout)
            do { try PNGEncoder.write(heatmap, width: image.width, height: image.height, argb: image.pixels) } catch {
                throw ValidationError("--heatmap: cannot write '\(heatmap)': \(error)")
            }
        }
        if let png, let image = result.panelImage, let size = result.panelSize {
            do { try PNGEncoder.write(png, width: size.width, height: size.height, argb: image) } catch {
                throw ValidationError("--png: cannot write '\(png)': \(error)")
            }
        }
        if summary { FileHandle.standardError.write(Data((result.summary + "\n").utf8)) }
        if let walkthrough {
            try writeWalkthrough(.replay(parsed, opts, name: (trace as NSString).lastPathComponent), to: walkthrough)
        }
        if !result.errors.isEmpty {
            for e in result.errors { FileHandle.standardError.write(Data("fbdefio-emu: \(e)\n".utf8)) }
            throw ExitCode(1)
        }
    }

}

