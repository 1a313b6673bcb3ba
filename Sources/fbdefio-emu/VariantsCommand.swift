// SPDX-License-Identifier: MIT — `fbdefio-emu variants`: the kernel versions and named bugs.
import ArgumentParser
import Lab

struct VariantsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "variants", abstract: "List the kernel versions and named bugs that --variant selects.")
    func run() throws { print(Variants.table) }
}
