// SPDX-License-Identifier: MIT — `fbdefio-emu scenarios`: the explorer's built-in scenarios.
import ArgumentParser
import Lab

struct ScenariosCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scenarios", abstract: "List the explorer's built-in scenarios.")
    func run() throws { print(Scenario.table) }
}
