// `--config FILE.yaml`: a YAML mapping whose keys are a subcommand's long flag names (`lr: 0.001`,
// `overwrite: true`), turned into those flags before the command line is parsed. Flags typed on
// the command line win over the file's. The run folder's config.yaml is written in this format,
// so `keypoints train --config RUN/config.yaml --out NEW` replays a run.
import ArgumentParser
import Foundation
import Yams

/// A config file that cannot be used; the description names the file, the line and what to do.
struct ConfigFileError: Error, CustomStringConvertible {
    let description: String
    init(_ file: String, line: Int? = nil, _ message: String) {
        description = "\(file)\(line.map { ":\($0)" } ?? ""): \(message)"
    }
}

enum ConfigFile {
    /// `arguments` (after the program name) with `--config FILE` replaced by the file's flags,
    /// put right after the subcommand so that every flag on the command line comes later; a key
    /// also given on the command line is dropped from the file's, so the command line always wins
    /// (array options included). Arguments without `--config` come back unchanged.
    static func expand(_ arguments: [String], root: ParsableCommand.Type) throws -> [String] {
        guard let at = arguments.firstIndex(where: { $0 == "--config" || $0.hasPrefix("--config=") }) else { return arguments }
        if let terminator = arguments.firstIndex(of: "--"), terminator < at { return arguments }
        guard let (flags, consumed) = CommandFlags.of(root, words: arguments), consumed <= at else {
            throw ConfigFileError("--config", "give it after the subcommand, e.g. `keypoints train --config run.yaml`")
        }
        var rest = arguments
        let path: String
        if arguments[at] == "--config" {
            guard at + 1 < arguments.count else { throw ConfigFileError("--config", "needs a file: --config FILE.yaml") }
            path = arguments[at + 1]
            rest.removeSubrange(at...(at + 1))
        } else {
            path = String(arguments[at].dropFirst("--config=".count))
            rest.remove(at: at)
        }
        if rest.contains(where: { $0 == "--config" || $0.hasPrefix("--config=") }) {
            throw ConfigFileError("--config", "is given twice; give one file (put shared keys in it, or flags on the command line)")
        }
        let typed = Set(values(of: Array(rest[consumed...]), flags: flags).keys)
        var given = typed
        for (a, b) in exclusive {   // from what was typed only: --out drops the file's resume, not its overwrite
            if typed.contains(a) { given.insert(b) }
            if typed.contains(b) { given.insert(a) }
        }
        let entries = try read(path, flags: flags).filter { !given.contains($0.name) }
        origins = Dictionary(entries.map { ($0.name, $0.origin) }, uniquingKeysWith: { a, _ in a })
        let fromFile = entries.flatMap(\.arguments)
        return Array(rest[..<consumed]) + fromFile + Array(rest[consumed...])
    }

    /// One key of a file, as command-line arguments.
    struct Entry {
        let name: String
        let arguments: [String]
        /// `file:line` of its key.
        let origin: String
    }

    /// Where each flag of the last expanded file came from (long name -> `file:line`), so that an
    /// error about a value can say which line to fix.
    nonisolated(unsafe) static var origins: [String: String] = [:]

    /// Flags that cannot go together: when the command line gives one, the file's other is dropped.
    static let exclusive: [(String, String)] = [("quiet", "verbose"), ("out", "resume"), ("overwrite", "resume"),
                                                ("auto-resume", "resume")]

    /// The entries of the config file at `path`, checked against `flags`.
    static func read(_ path: String, flags: CommandFlags) throws -> [Entry] {
        let text: String
        guard FileManager.default.fileExists(atPath: path) else {
            throw ConfigFileError(path, "no such file (--config takes a YAML file; RUN/config.yaml holds a run's flags)")
        }
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw ConfigFileError(path, "cannot be read as UTF-8 text (\((error as NSError).localizedDescription)); check the path")
        }
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch let e as YamlError {
            throw ConfigFileError(path, "is not valid YAML: \(Self.describe(e))")
        }
        guard let root else { return [] }
        guard let mapping = root.mapping else {
            throw ConfigFileError(path, line: root.mark?.line, "must be a mapping of flag names to values (`lr: 0.001`), not a \(Self.kind(root))")
        }
        let command = "keypoints " + flags.command.joined(separator: " ")
        return try mapping.map { key, value in
            let line = key.mark?.line
            guard let name = key.scalar?.string else { throw ConfigFileError(path, line: line, "a key must be a flag name") }
            if name == "config" { throw ConfigFileError(path, line: line, "a config file cannot name another one (config:)") }
            guard let flag = flags.flag(named: name) else {
                let hint = flags.nearest(to: name).map { "; did you mean '\($0)'?" } ?? "; `\(command) --help` lists them"
                throw ConfigFileError(path, line: line, "unknown key '\(name)': \(command) has no --\(name)\(hint)")
            }
            return Entry(name: name, arguments: try arguments(for: flag, value, file: path), origin: "\(path):\(line ?? 0)")
        }
    }

    /// A value as arguments: `--name=value` for an option (one per item of a list, for one that
    /// repeats), `--name` for a flag set to true, nothing for a flag set to false or an empty value.
    private static func arguments(for flag: CommandFlags.Flag, _ value: Node, file: String) throws -> [String] {
        let line = value.mark?.line
        if value.null != nil, value.scalar?.style == .plain { return [] }
        guard flag.takesValue else {
            guard let on = value.bool else {
                throw ConfigFileError(file, line: line, "'\(flag.name)' is a flag: give true or false, not \(Self.kind(value))")
            }
            return on ? ["--\(flag.name)"] : []
        }
        if let items = value.sequence {
            guard flag.repeats else {
                throw ConfigFileError(file, line: line, "'\(flag.name)' takes one value, not a list")
            }
            return try items.map { item in
                guard let text = item.scalar?.string else {
                    throw ConfigFileError(file, line: item.mark?.line, "'\(flag.name)': each item must be a plain value")
                }
                return "--\(flag.name)=\(text)"
            }
        }
        guard let text = value.scalar?.string else {
            throw ConfigFileError(file, line: line, "'\(flag.name)' takes a value (a number, word or path), not a \(Self.kind(value))")
        }
        return ["--\(flag.name)=\(text)"]
    }

    /// A config file that sets every flag of `flags` but those in `leaving`, in `--help` order,
    /// each under its help as a comment: its value in `values` (long name -> values; empty for a
    /// flag that is on), else its default; a flag with neither is written commented out.
    static func render(_ flags: CommandFlags, values: [String: [String]], leaving: Set<String>, header: [String]) throws -> String {
        var lines = header.map { "# " + $0 }
        for flag in flags.flags where flag.visible && !leaving.contains(flag.name) {
            lines.append("")
            lines += wrap(flag.help, width: 98).map { "# " + $0 }
            guard flag.takesValue else {
                lines.append("\(flag.name): \(values[flag.name] != nil)")
                continue
            }
            guard let given = values[flag.name] ?? flag.defaultValue.map({ [$0] }) else {
                lines.append("# \(flag.name):")
                continue
            }
            let value = flag.repeats ? Node(given.map { Node($0) }) : Node(given.last ?? "")
            let entry = try Yams.serialize(node: Node([(Node(flag.name), value)]))
            lines += entry.split(separator: "\n").map(String.init)
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The values of the named flags in `arguments` (as parsed by `flags`, up to a `--`): long name
    /// -> values (empty for a flag).
    static func values(of arguments: [String], flags: CommandFlags) -> [String: [String]] {
        var values: [String: [String]] = [:]
        var i = 0
        while i < arguments.count {
            defer { i += 1 }
            let token = arguments[i]
            if token == "--" { break }
            guard token.hasPrefix("-") else { continue }
            let body = token.hasPrefix("--") ? String(token.dropFirst(2)) : flags.longName(ofShort: String(token.dropFirst())) ?? ""
            let name = String(body.prefix { $0 != "=" })
            guard let flag = flags.flag(named: name) else { continue }
            if !flag.takesValue { values[name] = []; continue }
            if let eq = body.firstIndex(of: "=") {
                values[name, default: []].append(String(body[body.index(after: eq)...]))
            } else if i + 1 < arguments.count {
                values[name, default: []].append(arguments[i + 1])
                i += 1
            }
            if !flag.repeats, let last = values[name]?.last { values[name] = [last] }
        }
        return values
    }

    /// `text` cut into lines of at most `width` characters at spaces.
    private static func wrap(_ text: String, width: Int) -> [String] {
        var lines: [String] = [], line = ""
        for word in text.split(separator: " ") {
            if !line.isEmpty && line.count + 1 + word.count > width { lines.append(line); line = "" }
            line += (line.isEmpty ? "" : " ") + word
        }
        return line.isEmpty ? lines : lines + [line]
    }

    private static func kind(_ node: Node) -> String {
        switch node {
        case .scalar(let s): return "'\(s.string)'"
        case .mapping: return "mapping"
        case .sequence: return "list"
        case .alias: return "alias"
        }
    }

    /// A YAML error as `line:column: problem`.
    private static func describe(_ error: YamlError) -> String {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _), .composer(_, let problem, let mark, _):
            return "line \(mark.line), column \(mark.column): \(problem)"
        case .duplicatedKeysInMapping(let duplicates, let context):
            return "line \(context.mark.line): the key(s) \(duplicates.joined(separator: ", ")) appear more than once"
        default:
            return "\(error)"
        }
    }
}
