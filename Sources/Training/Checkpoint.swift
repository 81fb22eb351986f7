// Checkpoints: everything needed to continue a run identically (weights, BN statistics, optimizer
// moments and step counts, the step, the configuration, the dataset fingerprint, the run history),
// written atomically and checksummed, the newest few kept.
import Foundation
import Model
#if canImport(Glibc)
import Glibc
#endif

public enum Checkpoint {
    static let prefix = "ckpt-"
    /// 2: the run history in the metadata, BN statistics prior in the configuration.
    static let version = 2

    /// The history may hold a diverged epoch's infinite or NaN loss: written as "inf", "-inf", "nan".
    private static var historyEncoder: JSONEncoder {
        let e = JSONEncoder()
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return e
    }
    private static var historyDecoder: JSONDecoder {
        let d = JSONDecoder()
        d.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return d
    }

    /// The file name of the checkpoint taken after `step` steps.
    public static func fileName(step: Int) -> String { String(format: "\(prefix)%09d.safetensors", step) }

    /// Writes the trainer's state to `directory` (temporary file, fsync, rename, fsync of the
    /// folder) and deletes all but the newest `keep`. A failed write leaves older checkpoints intact.
    @discardableResult
    public static func write(trainer: Trainer, config: RunConfig, fingerprint: String, history: RunHistory = RunHistory(),
                             to directory: URL, keep: Int) throws -> String {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let store = trainer.network.store, optimizer = trainer.optimizer
        var tensors: [NamedTensor] = []
        for spec in store.layout.parameters + store.layout.statistics {
            tensors.append(NamedTensor(name: spec.name, shape: spec.shape, values: store.values(spec.name)!))
        }
        for spec in store.layout.parameters {
            tensors.append(NamedTensor(name: "optimizer.m.\(spec.name)", shape: spec.shape,
                                       values: Array(optimizer.moment1.buffer[spec.range])))
            tensors.append(NamedTensor(name: "optimizer.v.\(spec.name)", shape: spec.shape,
                                       values: Array(optimizer.moment2.buffer[spec.range])))
        }
        var body = Foundation.Data()
        for t in tensors { t.values.withUnsafeBytes { body.append(contentsOf: $0) } }
        let crc = body.withUnsafeBytes { crc32($0.baseAddress!, count: body.count) }
        let configJSON = String(decoding: try JSONEncoder().encode(config), as: UTF8.self)
        let stepsJSON = String(decoding: try JSONEncoder().encode(optimizer.steps), as: UTF8.self)
        let historyJSON = String(decoding: try historyEncoder.encode(history), as: UTF8.self)
        let metadata = ["format": "keypoints-checkpoint", "version": "\(version)", "step": "\(trainer.step)",
                        "optimizer_steps": stepsJSON, "config": configJSON, "fingerprint": fingerprint,
                        "history": historyJSON, "crc32": String(crc, radix: 16)]
        let bytes = try SafeTensors.encode(tensors, metadata: metadata)
        let final = directory.appendingPathComponent(fileName(step: trainer.step))
        let temporary = directory.appendingPathComponent(".tmp-\(fileName(step: trainer.step))-\(getpid())")
        try writeDurably(bytes, to: temporary)
        guard rename(temporary.path, final.path) == 0 else {
            unlink(temporary.path)
            throw TrainingError("cannot rename \(temporary.path) to \(final.path): \(String(cString: strerror(errno)))")
        }
        syncDirectory(directory)
        let all = list(directory)
        for old in all.dropLast(keep) { try? FileManager.default.removeItem(at: old) }
        return final.path
    }

    private static func writeDurably(_ data: Foundation.Data, to url: URL) throws {
        let fd = open(url.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw TrainingError("cannot create \(url.path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var written = 0
        try data.withUnsafeBytes { raw in
            while written < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + written, raw.count - written)
                guard n > 0 else {
                    let why = String(cString: strerror(errno))
                    unlink(url.path)
                    throw TrainingError("cannot write checkpoint \(url.path): \(why); the previous checkpoint is untouched")
                }
                written += n
            }
        }
        guard fsync(fd) == 0 else {
            unlink(url.path)
            throw TrainingError("cannot fsync \(url.path): \(String(cString: strerror(errno)))")
        }
    }

    private static func syncDirectory(_ url: URL) {
        let fd = open(url.path, O_RDONLY)
        if fd >= 0 { fsync(fd); close(fd) }
    }

    /// Checkpoint files in `directory`, oldest first.
    public static func list(_ directory: URL) -> [URL] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { $0.hasPrefix(prefix) && $0.hasSuffix(".safetensors") }.sorted()
            .map { directory.appendingPathComponent($0) }
    }

    /// A checkpoint read and verified: tensors by name and its metadata.
    public struct Contents {
        public var url: URL
        public var step: Int
        public var config: RunConfig
        public var fingerprint: String
        public var optimizerSteps: [Int]
        /// The run's epochs and best score up to `step`.
        public var history: RunHistory
        public var tensors: [String: NamedTensor]
    }

    /// Reads and verifies one checkpoint (format, checksum); errors name the file.
    public static func read(_ url: URL) throws -> Contents {
        guard let data = FileManager.default.contents(atPath: url.path) else { throw TrainingError("\(url.path): cannot read") }
        let (tensors, meta) = try SafeTensors.decode(data, source: url.path)
        guard meta["format"] == "keypoints-checkpoint", meta["version"] == "\(version)" else {
            throw TrainingError("\(url.path): not a keypoints checkpoint v\(version)"
                + (meta["format"] == "keypoints-checkpoint" ? " (it is v\(meta["version"] ?? "?"), from another build)" : ""))
        }
        let headerLength = Int(data.prefix(8).withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) })
        let body = data.subdata(in: (8 + headerLength)..<data.count)
        let crc = body.withUnsafeBytes { crc32($0.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, count: body.count) }
        guard meta["crc32"] == String(crc, radix: 16) else {
            throw TrainingError("\(url.path): checksum mismatch (the file is damaged or truncated)")
        }
        guard let stepText = meta["step"], let step = Int(stepText), let configText = meta["config"],
              let config = try? JSONDecoder().decode(RunConfig.self, from: Foundation.Data(configText.utf8)),
              let stepsText = meta["optimizer_steps"],
              let steps = try? JSONDecoder().decode([Int].self, from: Foundation.Data(stepsText.utf8)),
              let historyText = meta["history"],
              let history = try? historyDecoder.decode(RunHistory.self, from: Foundation.Data(historyText.utf8)) else {
            throw TrainingError("\(url.path): metadata incomplete")
        }
        return Contents(url: url, step: step, config: config, fingerprint: meta["fingerprint"] ?? "",
                        optimizerSteps: steps, history: history, tensors: tensors)
    }

    /// The newest checkpoint in `directory` that reads and verifies; damaged newer ones are
    /// reported through `log` and passed over.
    public static func newestValid(in directory: URL, log: (String) -> Void) -> Contents? {
        for url in list(directory).reversed() {
            do { return try read(url) } catch { log("skipping damaged checkpoint: \(error)") }
        }
        return nil
    }

    /// Restores `contents` into the trainer after checking it was made for this model and data.
    public static func restore(_ contents: Contents, into trainer: Trainer, config: RunConfig, fingerprint: String) throws {
        guard contents.config.model == config.model else {
            throw TrainingError("\(contents.url.path) was made for a different model (\(contents.config.model.backbone)); "
                + "resume with the run's own configuration, or train into another --out folder")
        }
        guard contents.fingerprint == fingerprint else {
            throw TrainingError("\(contents.url.path) was made for a different dataset (fingerprint \(contents.fingerprint), "
                + "this data \(fingerprint)); resume with the same labels and images, or train into another --out folder")
        }
        let store = trainer.network.store
        for spec in store.layout.parameters + store.layout.statistics {
            guard let t = contents.tensors[spec.name], t.values.count == spec.count else {
                throw TrainingError("\(contents.url.path) lacks \(spec.name) or has the wrong shape")
            }
            store.setValues(spec.name, t.values)
        }
        for spec in store.layout.parameters {
            guard let m = contents.tensors["optimizer.m.\(spec.name)"], let v = contents.tensors["optimizer.v.\(spec.name)"],
                  m.values.count == spec.count, v.values.count == spec.count else {
                throw TrainingError("\(contents.url.path) lacks optimizer state for \(spec.name)")
            }
            m.values.withUnsafeBufferPointer { (trainer.optimizer.moment1.base + spec.offset).update(from: $0.baseAddress!, count: spec.count) }
            v.values.withUnsafeBufferPointer { (trainer.optimizer.moment2.base + spec.offset).update(from: $0.baseAddress!, count: spec.count) }
        }
        guard contents.optimizerSteps.count == trainer.optimizer.steps.count else {
            throw TrainingError("\(contents.url.path): optimizer step counts do not match the model")
        }
        trainer.optimizer.steps = contents.optimizerSteps
        trainer.step = contents.step
    }
}
