// The command line of a run as config.json records it: every setup flag as typed, paths made
// absolute (so `--resume RUN` works from any folder), without the flags that only say where the
// run lives.
import Foundation

enum RunArguments {
    /// Options whose value is a path, made absolute when recorded.
    static let pathOptions: Set<String> = ["--data", "--val", "--describe", "--init-from"]
    /// Options (with a value) and flags that place the run, bound this one invocation or only change
    /// what it prints, rather than shape the run: never recorded (a resumed run goes on to its end
    /// unless given `--steps`, and prints as its own flags say).
    static let locationOptions: Set<String> = ["--out", "--resume", "--steps", "--metrics-port", "--metrics-host"]
    static let locationFlags: Set<String> = ["--overwrite", "--auto-resume", "--quiet", "-q", "--verbose", "-v"]

    /// This process's arguments after the program name, with `--config FILE` expanded: set once by
    /// `Keypoints.main` before parsing, read only after.
    nonisolated(unsafe) static var commandLine = Array(CommandLine.arguments.dropFirst())

    /// The arguments after the subcommand `command` in `commandLine`.
    static func tail(after command: String) -> [String] {
        guard let i = commandLine.firstIndex(of: command) else { return commandLine }
        return Array(commandLine[(i + 1)...])
    }

    /// `tail` as recorded: location flags removed, path values absolute.
    static func recorded(_ tail: [String]) -> [String] {
        var out: [String] = []
        var i = 0
        while i < tail.count {
            let token = tail[i]
            let (name, inline) = split(token)
            if locationFlags.contains(name) { i += 1; continue }
            if locationOptions.contains(name) { i += inline == nil ? 2 : 1; continue }
            if pathOptions.contains(name) {
                if let inline { out.append("\(name)=\(absolute(inline))"); i += 1; continue }
                out.append(name)
                if i + 1 < tail.count { out.append(absolute(tail[i + 1])) }
                i += 2
                continue
            }
            out.append(token)
            i += 1
        }
        return out
    }

    /// `--name=value` as (`--name`, value); anything else as (token, nil).
    private static func split(_ token: String) -> (String, String?) {
        guard token.hasPrefix("--"), let eq = token.firstIndex(of: "=") else { return (token, nil) }
        return (String(token[..<eq]), String(token[token.index(after: eq)...]))
    }

    private static func absolute(_ path: String) -> String {
        URL(fileURLWithPath: path).standardizedFileURL.path
    }

    /// Which data a run reads, paths absolute: compared on resume.
    static func dataSource(_ options: TrainingSetupOptions) -> [String: String] {
        let d = options.dataOptions
        return ["--data": d.data.map(absolute) ?? "", "--val": d.val.map(absolute) ?? "(split off --data)",
                "--val-fraction": d.val == nil ? "\(d.valFraction)" : "(not used)", "--describe": d.describe.map(absolute) ?? "(next to the labels)",
                "--skip-bad": "\(d.skipBad)"]
    }
}
