// Checkpoints: everything needed to continue a run identically (weights, BN statistics, optimizer
// moments and step counts, the step, the configuration, the dataset fingerprint, the run history),
// written atomically and checksummed, the newest few kept.
import Foundation
import Model
import ModelFiles

public enum Checkpoint {
    static let prefix = "ckpt-"
    /// 2: the run history in the metadata, BN statistics prior in the configuration. 3: the
    /// checksum covers the whole file (metadata, tensor table and tensors), not only the tensors.
    static let version = 3
    /// The oldest version this build still reads (v2: its checksum covers the tensors only).
    static let oldestReadable = 2
    /// The checksum's field in the header: 8 hex digits, zeros while the checksum is computed.
    static let checksumKey = Array("\"crc32\":\"".utf8)
    static let checksumPlaceholder = "00000000"

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
        let configJSON = String(decoding: try JSONEncoder().encode(config), as: UTF8.self)
        let stepsJSON = String(decoding: try JSONEncoder().encode(optimizer.steps), as: UTF8.self)
        let historyJSON = String(decoding: try historyEncoder.encode(history), as: UTF8.self)
        let metadata = ["format": "keypoints-checkpoint", "version": "\(version)", "step": "\(trainer.step)",
                        "optimizer_steps": stepsJSON, "config": configJSON, "fingerprint": fingerprint,
                        "history": historyJSON, "crc32": checksumPlaceholder]
        var bytes = try SafeTensors.encode(tensors, metadata: metadata)
        // The CRC-32 of the whole file with the placeholder, then written over the placeholder.
        guard let at = checksumOffset(bytes) else { throw TrainingError("checkpoint header without its checksum field") }
        let crc = bytes.withUnsafeBytes { crc32($0.baseAddress!, count: bytes.count) }
        bytes.replaceSubrange(at..<(at + 8), with: Array(String(format: "%08x", crc).utf8))
        let final = directory.appendingPathComponent(fileName(step: trainer.step))
        do { try DurableFile.write(bytes, to: final) } catch {
            throw TrainingError("cannot write checkpoint: \(error)" + ((error as? DurableWriteError)?.isFull == true ? "; free some space" : ""))
        }
        let all = list(directory)
        for old in all.dropLast(keep) { try? FileManager.default.removeItem(at: old) }
        return final.path
    }

    /// Where the 8 hex digits of the checksum start in a checkpoint's bytes (inside its header).
    static func checksumOffset(_ bytes: Foundation.Data) -> Int? {
        guard bytes.count >= 8 else { return nil }
        let headerLength = bytes.prefix(8).withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard headerLength <= UInt64(bytes.count - 8) else { return nil }
        let header = bytes.subdata(in: 8..<(8 + Int(headerLength)))
        guard let range = header.firstRange(of: checksumKey), range.upperBound + 8 <= header.count else { return nil }
        return 8 + range.upperBound - header.startIndex
    }

    /// True when the checksum in `bytes` matches the whole file (a v3 checkpoint).
    static func verifiesWhole(_ bytes: Foundation.Data) -> Bool {
        guard let at = checksumOffset(bytes) else { return false }
        let stored = String(decoding: bytes.subdata(in: at..<(at + 8)), as: UTF8.self)
        // In three pieces (before, the placeholder, after), so that the file is not copied.
        let crc = bytes.withUnsafeBytes { raw in
            let before = crc32(raw.baseAddress!, count: at)
            let placeholder = Array(checksumPlaceholder.utf8).withUnsafeBytes { crc32($0.baseAddress!, count: 8, continuing: before) }
            return crc32(raw.baseAddress! + at + 8, count: raw.count - at - 8, continuing: placeholder)
        }
        return stored == String(format: "%08x", crc)
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
        let v = meta["version"].flatMap { Int($0) } ?? 0
        guard meta["format"] == "keypoints-checkpoint", (oldestReadable...version).contains(v) else {
            throw TrainingError("\(url.path): not a keypoints checkpoint v\(oldestReadable)-v\(version)"
                + (meta["format"] == "keypoints-checkpoint" ? " (it is v\(meta["version"] ?? "?"), from another build)" : ""))
        }
        let intact: Bool
        if v >= 3 {
            intact = verifiesWhole(data)
        } else {
            let headerLength = Int(data.prefix(8).withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) })
            let body = data.subdata(in: (8 + headerLength)..<data.count)
            intact = meta["crc32"] == String(body.withUnsafeBytes { crc32($0.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, count: body.count) },
                                             radix: 16)
        }
        guard intact else { throw TrainingError("\(url.path): checksum mismatch (the file is damaged or truncated)") }
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
