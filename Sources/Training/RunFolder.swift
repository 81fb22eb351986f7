// The run folder, the unit a user handles: everything one training run writes, in one place.
//
//     RUN/config.json         the resolved configuration, command line, tool version, fingerprint
//     RUN/config.yaml         the run's flags, defaults filled in: `train --config` replays it
//     RUN/split/train.csv     exactly the images trained on (labels format, paths relative to split/)
//     RUN/split/val.csv       exactly the images held out for validation
//     RUN/split/dataset.json  their keypoint names, flip pairs and skeleton
//     RUN/checkpoints/        ckpt-<step>.safetensors, the newest few
//     RUN/best/               the saved model with the lowest validation NME so far
//     RUN/last/               the saved model at the last step
//     RUN/metrics.jsonl       one JSON line per step and per epoch end
//     RUN/curves.svg          losses, NME and PCK per epoch
//     RUN/events.out.tfevents.*  the TensorBoard log (one file per start of the run)
//     RUN/image-hashes.json   SHA-256 of each image (by path, size, time), for the dataset fingerprint
import Data
import Foundation
import Model
import ModelFiles

public struct RunFolder: Sendable {
    public let url: URL

    public init(_ url: URL) { self.url = url.standardizedFileURL }

    public var config: URL { url.appendingPathComponent("config.json") }
    public var configFile: URL { url.appendingPathComponent("config.yaml") }
    public var split: URL { url.appendingPathComponent("split") }
    public var trainSplit: URL { split.appendingPathComponent("train.csv") }
    public var validationSplit: URL { split.appendingPathComponent("val.csv") }
    public var checkpoints: URL { url.appendingPathComponent("checkpoints") }
    public var best: URL { url.appendingPathComponent("best") }
    public var last: URL { url.appendingPathComponent("last") }
    public var metrics: URL { url.appendingPathComponent("metrics.jsonl") }
    public var curves: URL { url.appendingPathComponent("curves.svg") }
    public var imageHashes: URL { url.appendingPathComponent("image-hashes.json") }

    /// What a run writes, removed by `--overwrite` (nothing else in the folder is touched).
    private var entries: [URL] { [config, configFile, split, checkpoints, best, last, metrics, curves, imageHashes] }

    /// The TensorBoard event files in the folder (`events.out.tfevents.*`), oldest first.
    public var eventFiles: [URL] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []
        return names.filter { $0.hasPrefix("events.out.tfevents.") }.sorted().map { url.appendingPathComponent($0) }
    }

    /// True when `url` holds a run (its `config.json`).
    public static func holdsRun(_ url: URL) -> Bool {
        FileManager.default.fileExists(atPath: url.appendingPathComponent("config.json").path)
    }

    /// The folder for a fresh run: created if missing. A folder that already holds a run is refused
    /// unless `overwrite` (which removes that run's files first); a non-empty folder that is not a
    /// run is refused always, so that no user file is ever overwritten.
    public static func fresh(at url: URL, overwrite: Bool) throws -> RunFolder {
        let run = RunFolder(url), fm = FileManager.default
        let existing = (try? fm.contentsOfDirectory(atPath: run.url.path)) ?? []
        if holdsRun(run.url) {
            guard overwrite else {
                throw TrainingError("\(run.url.path) already holds a run: continue it with `--resume \(run.url.path)`, "
                                    + "start over with --overwrite (deletes its checkpoints and models), or pick another --out")
            }
            for entry in run.entries + run.eventFiles where fm.fileExists(atPath: entry.path) { try fm.removeItem(at: entry) }
        } else if !existing.isEmpty {
            throw TrainingError("\(run.url.path) is not empty and holds no keypoints run (no config.json): "
                                + "pick a new or empty folder for --out")
        }
        try fm.createDirectory(at: run.url, withIntermediateDirectories: true)
        return run
    }

    /// The default folder of a new run: `runs/train` in the current folder, or the first of
    /// `runs/train2`, `runs/train3`, ... that is missing or empty.
    public static func nextDefault() -> URL {
        let fm = FileManager.default
        var n = 1
        while true {
            let url = URL(fileURLWithPath: "runs/train" + (n == 1 ? "" : "\(n)")).standardizedFileURL
            if ((try? fm.contentsOfDirectory(atPath: url.path)) ?? []).isEmpty { return url }
            n += 1
        }
    }

    /// An existing run (for `--resume` and `evaluate --model RUN`); the error says what a run is.
    public static func existing(at url: URL) throws -> RunFolder {
        let run = RunFolder(url)
        guard holdsRun(run.url) else {
            throw TrainingError("\(run.url.path) is not a run folder (no config.json): give the --out folder of a "
                                + "`keypoints train` or `keypoints coordinator` run")
        }
        return run
    }

    /// Writes the record of the run (atomically and durably).
    public func write(_ record: RunRecord) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try durably(encoder.encode(record), to: config)
    }

    /// Writes RUN/config.yaml (atomically and durably).
    public func writeConfigFile(_ text: String) throws {
        try durably(Foundation.Data(text.utf8), to: configFile)
    }

    private func durably(_ data: Foundation.Data, to file: URL) throws {
        do { try DurableFile.write(data, to: file) } catch { throw TrainingError("\(error)") }
    }

    /// Keeps the image hashes of the dataset fingerprint; a cache that cannot be written costs only
    /// time at the next start, so failing to write it is reported, not thrown.
    public func keep(_ hashes: ImageHashCache, log: (String) -> Void) {
        do { try DurableFile.write(try hashes.encoded(), to: imageHashes) } catch { log("note: \(error)") }
    }

    /// Removes what a killed run left half-written (`.tmp-*` files and folders of processes that
    /// are gone) in the run folder and its checkpoints; returns their paths.
    @discardableResult
    public func removeStaleTemporaries() -> [String] {
        [url, checkpoints, split].flatMap { folder in
            DurableFile.removeStaleTemporaries(in: folder).map { folder.appendingPathComponent($0).path }
        }
    }

    /// Reads the run's record; errors name the file.
    public func record() throws -> RunRecord {
        guard let data = FileManager.default.contents(atPath: config.path) else {
            throw TrainingError("\(config.path) cannot be read")
        }
        do { return try JSONDecoder().decode(RunRecord.self, from: data) } catch {
            throw TrainingError("\(config.path) is not a run record this build reads (\(error)); it may come from another version")
        }
    }

    /// Writes which images were trained on and which held out, as labels files (with their
    /// description) that `train --data` and `evaluate --data` read.
    public func writeSplit(train: KeypointDataset, validation: KeypointDataset) throws {
        try FileManager.default.createDirectory(at: split, withIntermediateDirectories: true)
        let names = train.description.keypointNames
        for (dataset, file) in [(train, trainSplit), (validation, validationSplit)] {
            try durably(Foundation.Data(CSVLabels.write(dataset.labels.records, names: names, relativeTo: split.path).utf8), to: file)
        }
        try durably(DatasetDescriptionFile.encode(train.description), to: split.appendingPathComponent("dataset.json"))
    }

    /// Image paths of the training split (absolute), for telling held-out figures from others.
    public func trainingImages() throws -> Set<String> {
        let (set, _) = try LabelReader.read(path: trainSplit.path)
        return Set(set.records.map(\.imagePath))
    }

    /// The saved model a `--model` path means, and the run it belongs to (if any): a run folder
    /// means its `best/` (or `last/` before any epoch ended); a saved model inside a run (its
    /// `best/` or `last/`) is itself, with that run.
    public static func model(at path: String) throws -> (model: URL, run: RunFolder?) {
        let url = URL(fileURLWithPath: path).standardizedFileURL
        if holdsRun(url) {
            let run = RunFolder(url), fm = FileManager.default
            for candidate in [run.best, run.last] where fm.fileExists(atPath: candidate.appendingPathComponent(SavedModel.manifestFile).path) {
                return (candidate, run)
            }
            throw TrainingError("\(url.path) is a run that has saved no model yet (no best/ or last/): train it further "
                                + "with `keypoints train --resume \(url.path)`")
        }
        let parent = url.deletingLastPathComponent()
        return (url, holdsRun(parent) ? RunFolder(parent) : nil)
    }
}

/// RUN/config.json: how the run was made, enough to continue it with `--resume RUN` alone.
public struct RunRecord: Codable, Sendable, Equatable {
    public var format = "keypoints-run"
    public var version = 1
    /// `keypoints <version>` that started the run.
    public var tool: String
    /// When the run started (ISO 8601).
    public var created: String
    /// The command line as typed.
    public var commandLine: [String]
    /// Every option that shapes the run, resolved (defaults included), as command-line arguments:
    /// `--resume` parses these, then the few options it may change.
    public var arguments: [String]
    /// The resolved run configuration (model, optimizer, schedule, data conventions).
    public var config: RunConfig
    /// The training labels' fingerprint (labels, image sizes and times).
    public var fingerprint: String
    public var trainImages: Int
    public var validationImages: Int
    /// How the latest invocation that finished, stopped early or stopped on a signal ended; nil
    /// before any did (a run that gave up or failed is not recorded here).
    public var ended: RunOutcome?

    public init(tool: String, commandLine: [String], arguments: [String], config: RunConfig, fingerprint: String,
                trainImages: Int, validationImages: Int) {
        self.tool = tool
        self.created = ISO8601DateFormatter().string(from: Date())
        self.commandLine = commandLine
        self.arguments = arguments
        self.config = config
        self.fingerprint = fingerprint
        self.trainImages = trainImages
        self.validationImages = validationImages
    }
}

/// How one invocation of a run ended, as config.json records it.
public struct RunOutcome: Codable, Sendable, Equatable {
    /// `finished`, `early stop` or `stopped`.
    public var how: String
    /// Why, in words (early stopping's reason, the signal); nil when it simply finished.
    public var reason: String?
    /// Steps done, and the last validated epoch (1-based; 0 before any).
    public var step: Int
    public var epochs: Int
    /// The best epoch (1-based) and its validation NME, if any epoch was validated.
    public var bestEpoch: Int?
    public var bestNME: Double?
    /// When (ISO 8601).
    public var at: String

    public init(how: String, reason: String?, step: Int, epochs: Int, bestEpoch: Int?, bestNME: Double?) {
        self.how = how; self.reason = reason; self.step = step; self.epochs = epochs
        self.bestEpoch = bestEpoch; self.bestNME = bestNME
        at = ISO8601DateFormatter().string(from: Date())
    }
}
