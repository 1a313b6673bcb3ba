// SPDX-License-Identifier: MIT — `fbdefio-emu panels`: the panel profiles.
import ArgumentParser
import Kernel
import Panels

struct PanelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "panels", abstract: "List the panel profiles (the display devices behind deferred_io).")

    @Option(help: "Timer ticks per second used to show the drivers' delays.")
    var hz: Int64 = 250

    func validate() throws {
        try FlagCheck.hz(hz)
    }

    func run() throws {
        print(PanelProfile.table(tickRate: TickRate(hz: hz)))
    }
}
