// SPDX-License-Identifier: MIT — `fbdefio-emu workloads`: the demo workloads.
import ArgumentParser
import Workloads

struct WorkloadsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "workloads", abstract: "List the demo workloads.")

    func run() throws {
        for kind in WorkloadKind.allCases {
            print("\(kind.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0)) \(kind.summary)")
        }
    }
}
