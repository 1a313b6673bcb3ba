// SPDX-License-Identifier: MIT — the values of --workload and --panel as argument types: checked while the flags are
// parsed, listed in --help and offered by the generated shell completion scripts.
import ArgumentParser
import Panels
import Workloads

/// A flag whose value names one of a fixed list. argument-parser refuses an unknown name itself; `main` then prints
/// `unknownMessage` instead of its message, so that the error is one line in the style of every other bad value
/// (argument-parser spreads a list of six names or more over several lines).
protocol NamedChoice: ExpressibleByArgument {
    /// The flag, the same in every command that has it.
    static var flag: String { get }
    /// What one value is, for the error.
    static var noun: String { get }
}

extension NamedChoice {
    /// `--panel: unknown panel 'vt100'; one of ideal, …`.
    static func unknownMessage(_ value: String) -> String {
        "\(flag): unknown \(noun) '\(value)'; one of \(allValueStrings.joined(separator: ", "))"
    }
}

/// The choices `main` knows the flag of.
let namedChoices: [any NamedChoice.Type] = [WorkloadKind.self, PanelProfile.self]

/// The one-line error for argument-parser's message `message` when it refused the value of a `NamedChoice` flag
/// ("The value 'V' is invalid for '--flag <name>'…"); nil for any other message.
func namedChoiceError(_ message: String) -> String? {
    guard let line = message.split(separator: "\n").first,
          let open = line.range(of: "The value '"),
          let close = line.range(of: "' is invalid for '", range: open.upperBound ..< line.endIndex) else { return nil }
    let flag = line[close.upperBound...].prefix { $0 != " " && $0 != "'" }
    guard let choice = namedChoices.first(where: { $0.flag == flag }) else { return nil }
    return "Error: " + choice.unknownMessage(String(line[open.upperBound ..< close.lowerBound]))
}

extension WorkloadKind: NamedChoice {
    static var flag: String { "--workload" }
    static var noun: String { "workload" }
}

extension PanelProfile: NamedChoice {
    static var flag: String { "--panel" }
    static var noun: String { "panel" }

    public init?(argument: String) {
        guard let profile = PanelProfile.named(argument) else { return nil }
        self = profile
    }

    public var defaultValueDescription: String { name }
    public static var allValueStrings: [String] { names }
    public static var defaultCompletionKind: CompletionKind { .list(names) }
}
