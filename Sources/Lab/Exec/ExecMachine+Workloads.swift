// SPDX-License-Identifier: MIT — the demo workloads an exec run draws beside the program, in the rows below its
// own, and their check against the reference rendering.
import Kernel
import Workloads

extension ExecMachine {
    private var workloadBands: [Rect] {
        let top = options.workloadTop(height: height)
        guard options.workload != nil, top < height else { return [] }
        return Rect.bands(width: width, height: height - top, count: min(options.procs, height - top))
            .map { $0.offsetBy(dx: 0, dy: top) }
    }

    /// One process per band, as `run` has them (each maps the whole framebuffer), drawing until the program ends;
    /// then each fsyncs, so the run ends quiescent.
    func startWorkloads() {
        guard let name = options.workload, let kind = WorkloadKind(rawValue: name) else {
            setupError = "--workload: unknown workload '\(options.workload ?? "")'"
            return
        }
        let assets: Assets
        do { assets = try Assets.load(from: options.assetsPath, backdrop: kind.showsBackdrop) } catch {
            setupError = error.message
            return
        }
        let bands = workloadBands
        framesPerBand = Array(repeating: 0, count: bands.count)
        let layout = info.layout
        for (i, band) in bands.enumerated() {
            let workload = kind.make(seed: SplitMix64.derive(options.machine.seed, "workload", i), clip: band,
                                     screenWidth: width, screenHeight: height, assets: assets)
            kernel.spawnProcess("\(name)\(i)") { [unowned self] t in
                let fd = try t.open(self.info.node)
                let base = try t.mmap(length: self.info.fix.smemLen, prot: .readWrite, flags: .shared, fd: fd)
                let canvas = MappedCanvas(task: t, origin: base, layout: layout, clip: band)
                let start = self.kernel.now
                var n = 0
                while !self.programEnded && self.setupError == nil {
                    try drawFrameInProcess(workload, n, on: canvas, process: t.name) { self.errors.append($0) }
                    n += 1
                    self.framesPerBand[i] = n
                    let next = start + VirtualTime(picoseconds: self.options.frameInterval.picoseconds * Int64(n))
                    self.kernel.sched.sleep(until: next)
                }
                try t.fsync(fd)
            }
        }
    }

    /// The workloads' bands of the framebuffer must equal the same frames drawn straight into a plain buffer.
    func checkWorkloads() {
        guard let name = options.workload, let kind = WorkloadKind(rawValue: name),
              let assets = try? Assets.load(from: options.assetsPath, backdrop: kind.showsBackdrop) else { return }
        let layout = info.layout
        let reference = PlainCanvas(layout: layout)
        let bands = workloadBands
        var frames: [Int] = []
        for (i, band) in bands.enumerated() {
            let w = kind.make(seed: SplitMix64.derive(options.machine.seed, "workload", i), clip: band,
                              screenWidth: width, screenHeight: height, assets: assets)
            reference.clip = band
            let done = framesPerBand[i]
            frames.append(done)
            for k in 0 ..< done { try? w.drawFrame(k, on: reference) }
        }
        let ref = reference.bytes
        let rowBytes = layout.width * layout.bytesPerPixel
        // Each band row read through the framebuffer's pages into one row's buffer, as the lost-update check does.
        var row = [UInt8](repeating: 0, count: rowBytes)
        var differ = 0
        for band in bands {
            for y in band.y ..< band.maxY {
                let offset = layout.offset(x: 0, y: y)
                row.withUnsafeMutableBytes { info.readScreen(at: offset, into: $0) }
                if row[...] != ref[offset ..< offset + rowBytes] { differ += 1 }
            }
        }
        workloadReport = "workloads: \(bands.count) \(name) band(s) in rows \(bands.first?.y ?? height)..<\(height), "
            + "frames \(frames); " + (differ == 0 ? "framebuffer == reference rendering in their rows"
                : "WRONG FRAMEBUFFER: \(differ) rows differ from the reference rendering")
        if differ > 0 { errors.append(workloadReport!) }
    }
}
