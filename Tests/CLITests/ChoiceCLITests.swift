import Foundation
import Testing

/// `--workload` and `--panel` take one of a fixed list of names: the list is in `--help` and in the completion
/// scripts, and any other name is refused while parsing, in one line naming the flag.
@Suite struct ChoiceCLITests {
    static let workloads = ["console", "sprites", "plasma", "life", "cursor"]
    static let panels = ["ideal", "ili9341-spi10", "ili9341-spi32", "ili9341-spi66", "mipi-dbi-spi32", "ssd1306-i2c",
                         "epd213", "displaylink", "hyperv", "simpledrm"]

    @Test func helpListsTheNames() throws {
        for command in ["run", "exec", "step"] {
            let r = try CLI.run([command, "--help"])
            #expect(r.status == 0)
            let text = r.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
            #expect(text.contains("(values: " + Self.workloads.joined(separator: ", ")), "\(command)")
            #expect(text.contains("(values: " + Self.panels.joined(separator: ", ")), "\(command)")
        }
        let run = try CLI.run(["run", "--help"]).stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        #expect(run.contains("default: console)") && run.contains("default: ili9341-spi32)"))
        let replay = try CLI.run(["replay", "--help"])
        #expect(replay.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
            .contains("(values: " + Self.panels.joined(separator: ", ")))
    }

    @Test(arguments: [
        (["--headless", "--workload", "doom"], "workload", "doom"),
        (["run", "--workload=doom"], "workload", "doom"),
        (["exec", "--headless", "--workload", "doom", "--", "true"], "workload", "doom"),
        (["step", "--workload", "doom"], "workload", "doom"),
        (["--headless", "--panel", "vt100"], "panel", "vt100"),
        (["exec", "--panel", "vt100", "--", "true"], "panel", "vt100"),
        (["step", "--panel", "vt100"], "panel", "vt100"),
        (["replay", "--panel", "vt100", "-"], "panel", "vt100"),
    ])
    func anUnknownNameIsOneLineNamingTheFlag(args: [String], noun: String, value: String) throws {
        let r = try CLI.run(args)
        #expect(r.status == 2)
        #expect(r.stdout.isEmpty)
        let names = noun == "panel" ? Self.panels : Self.workloads
        let lines = r.stderr.split(separator: "\n")
        #expect(lines.first == "fbdefio-emu: Error: --\(noun): unknown \(noun) '\(value)'; one of "
            + names.joined(separator: ", "), "\(r.stderr)")
        #expect(lines.count == 2 && lines.last == "Run 'fbdefio-emu --help' for the flags.", "\(r.stderr)")
    }

    @Test(arguments: ["bash", "zsh", "fish"]) func theCompletionScriptOffersTheNames(shell: String) throws {
        let r = try CLI.run(["--generate-completion-script", shell])
        #expect(r.status == 0)
        for name in Self.workloads + Self.panels { #expect(r.stdout.contains(name), "\(shell): \(name)") }
    }
}
