// SPDX-License-Identifier: MIT — `fbdefio-emu boot`: the memory model alone, on a scratch device.
import ArgumentParser
import Lab

struct Boot: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Boot the memory model alone: processes fault on a scratch device (no framebuffer), then a summary.")

    @OptionGroup var machine: MachineFlags

    @Option(help: "Number of fake processes (1-64).")
    var procs: Int = 4

    func validate() throws {
        try FlagCheck.procs(procs, limit: 64)
    }

    func run() throws {
        let options = try machine.machineOptions()
        let procs = self.procs
        let report = runOnEmulator { BootDemo.run(options, procs: procs) }
        print(report.text)
        try machine.writeSchedule(report.schedule)
        if !report.succeeded { throw ExitCode(1) }
    }
}
