// The named flags a subcommand takes, as swift-argument-parser itself describes them (its JSON
// help dump): what config files are checked against, and what the recorded config.yaml lists.
import ArgumentParser
import Foundation

struct CommandFlags {
    /// One named option or flag.
    struct Flag {
        /// The long name without dashes (`lr`, `input-size`).
        let name: String
        let shortNames: [String]
        /// True for an option (`--lr 0.001`), false for a flag (`--overwrite`).
        let takesValue: Bool
        /// True when it may be given more than once (an array option).
        let repeats: Bool
        /// The default as `--help` shows it (nil: none, the tool picks).
        let defaultValue: String?
        /// Its one-line help.
        let help: String
        /// False for hidden flags (kept so that old names still get their explanation).
        let visible: Bool
    }

    /// The subcommand's words (`["train"]`).
    let command: [String]
    /// In declaration order, as `--help` lists them.
    let flags: [Flag]

    /// Names every command has that are no configuration.
    static let builtIn: Set<String> = ["help", "version", "experimental-dump-help", "generate-completion-script", "config"]

    func flag(named name: String) -> Flag? { flags.first { $0.name == name } }

    /// The long name of a short one (`j` -> `threads`).
    func longName(ofShort short: String) -> String? { flags.first { $0.shortNames.contains(short) }?.name }

    /// The flag name closest to `key` in edit distance, when it is close enough to be a typo.
    func nearest(to key: String) -> String? {
        let dashed = key.replacingOccurrences(of: "_", with: "-").lowercased()
        if flag(named: dashed) != nil { return dashed }
        let scored = flags.filter(\.visible).map { ($0.name, Self.editDistance(dashed, $0.name)) }
        guard let best = scored.min(by: { $0.1 < $1.1 }), best.1 <= max(2, dashed.count / 3) else { return nil }
        return best.0
    }

    /// Levenshtein distance, in characters.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        guard !a.isEmpty, !b.isEmpty else { return max(a.count, b.count) }
        var row = Array(0...b.count)
        for i in 1...a.count {
            var diagonal = row[0]
            row[0] = i
            for j in 1...b.count {
                let above = row[j]
                row[j] = min(row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1))
                diagonal = above
            }
        }
        return row[b.count]
    }

    /// The flags of the subcommand that `words` start with (`["train", "--lr", ...]` -> train's),
    /// with how many words named it; nil when `words` name no subcommand of `root`.
    static func of(_ root: ParsableCommand.Type, words: [String]) -> (CommandFlags, consumed: Int)? {
        guard let dump = try? JSONDecoder().decode(Dump.self, from: Data(root._dumpHelp().utf8)) else { return nil }
        var command = dump.command, path: [String] = []
        while path.count < words.count, let sub = command.subcommands?.first(where: { $0.commandName == words[path.count] }) {
            command = sub
            path.append(sub.commandName)
        }
        guard !path.isEmpty else { return nil }
        return (CommandFlags(command: path, arguments: command.arguments ?? []), path.count)
    }

    /// The flags of an option group (`TrainingSetupOptions`), as a command that holds only it.
    static func of(_ group: ParsableArguments.Type) -> CommandFlags {
        let dump = try? JSONDecoder().decode(Dump.self, from: Data(group._dumpHelp().utf8))
        return CommandFlags(command: [], arguments: dump?.command.arguments ?? [])
    }

    private init(command: [String], arguments: [Dump.Argument]) {
        self.command = command
        flags = arguments.compactMap { a in
            guard a.kind != "positional", let long = a.names?.first(where: { $0.kind == "long" })?.name,
                  !Self.builtIn.contains(long) else { return nil }
            return Flag(name: long, shortNames: (a.names ?? []).filter { $0.kind == "short" }.map(\.name),
                        takesValue: a.kind == "option", repeats: a.isRepeating, defaultValue: a.defaultValue,
                        help: a.abstract ?? "", visible: a.shouldDisplay)
        }
    }

    /// The part of swift-argument-parser's `--experimental-dump-help` JSON (ToolInfoV0) read here.
    private struct Dump: Decodable {
        struct Name: Decodable { let kind: String; let name: String }
        struct Argument: Decodable {
            let kind: String
            let shouldDisplay: Bool
            let isRepeating: Bool
            let names: [Name]?
            let defaultValue: String?
            let abstract: String?
        }
        struct Command: Decodable {
            let commandName: String
            let subcommands: [Command]?
            let arguments: [Argument]?
        }
        let command: Command
    }
}
