import Kernel
import Lab
import Panels
import Testing
import Workloads

/// Every workload through the headless machine: the lost-update checker passes (panel == framebuffer == reference
/// rendering) and the final panel image matches its golden hash for the seed.
@Suite struct MachineTests {
    static let goldens: [String: UInt64] = [:]

    @EmuActor func run(_ workload: String, panel: String = "ili9341-spi32", seed: UInt64 = 1, frames: Int = 12,
                       procs: Int = 3, bpp: Int? = nil, policy: PolicyChoice = .random) async throws -> DemoReport {
        var o = DemoOptions()
        o.machine.seed = seed
        o.machine.policy = policy
        o.workload = workload
        o.panel = panel
        let profile = PanelProfile.named(panel)!
        (o.width, o.height) = (profile.width, profile.height)
        o.bpp = bpp ?? profile.defaultFramebufferBPP
        o.procs = procs
        o.frames = frames
        let m = try Machine(o)
        return try await m.run()
    }

    @Test(arguments: WorkloadKind.allCases.map(\.rawValue))
    @EmuActor func everyWorkloadPassesTheCheckerHeadless(workload: String) async throws {
        let r = try await run(workload)
        #expect(r.checkerPassed, "\(r.checkerReport)\n\(r.summary)")
        print("GOLDEN \(workload) \(hex(r.frameHash))")
        if let golden = Self.goldens[workload] { #expect(r.frameHash == golden) }
        let again = try await run(workload)
        #expect(again.frameHash == r.frameHash)
        #expect(again.eventHash == r.eventHash)
    }
}
