// TensorBoard event files: Event protocol buffers (tensorflow/core/util/event.proto and
// framework/summary.proto, the few fields written here) in TFRecord framing, each record
//
//     uint64 length | uint32 masked CRC-32C of length | length bytes | uint32 masked CRC-32C of them
//
// little-endian, as `tensorboard --logdir` and tbparse read them.
import Foundation
import Model
import ModelFiles

/// One `events.out.tfevents.<seconds>.<host>.<pid>.<n>` file, appended to record by record.
public final class EventFile {
    public let url: URL
    private let file: AppendingFile

    /// A new event file in `folder`, starting with the file-version event TensorBoard expects first.
    /// TensorBoard reads a folder's files in name order, so the new name sorts after every event
    /// file already there (its seconds are moved past theirs if the clock says otherwise).
    public init(folder: URL, wallTime: Date = Date()) throws {
        let prefix = "events.out.tfevents."
        let existing = ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).filter { $0.hasPrefix(prefix) }
        let newest = existing.compactMap { Int($0.dropFirst(prefix.count).prefix { $0 != "." }) }.max() ?? 0
        let seconds = max(Int(wallTime.timeIntervalSince1970), newest + 1)
        let host = ProcessInfo.processInfo.hostName, pid = ProcessInfo.processInfo.processIdentifier
        url = folder.appendingPathComponent("\(prefix)\(seconds).\(host).\(pid).0")
        do { file = try AppendingFile(url) } catch {
            throw TrainingError("cannot write the TensorBoard log: \(error); check the run folder's permissions")
        }
        try write(TensorBoardEvent.fileVersion(wallTime: wallTime))
    }

    /// Appends one encoded Event as a record; a full disk is an error naming the file.
    public func write(_ event: [UInt8]) throws {
        do { try file.append(Foundation.Data(Self.record(event))) } catch {
            throw TrainingError("the TensorBoard log: \(error); free some space and resume the run")
        }
    }

    /// `data` in TFRecord framing.
    public static func record(_ data: [UInt8]) -> [UInt8] {
        var length = UInt64(data.count).littleEndian
        let header = withUnsafeBytes(of: &length) { Array($0) }
        return header + littleEndian(masked(crc32c(header, count: header.count))) + data
            + littleEndian(masked(crc32c(data, count: data.count)))
    }

    /// TFRecord's CRC mask: rotate right by 15 bits and add 0xa282ead8 (so that a CRC of data
    /// holding CRCs does not degenerate).
    public static func masked(_ crc: UInt32) -> UInt32 {
        ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8
    }

    private static func littleEndian(_ word: UInt32) -> [UInt8] {
        (0..<4).map { UInt8(truncatingIfNeeded: word >> (8 * $0)) }
    }
}

/// Encoded `tensorflow.Event` messages. Field numbers from event.proto (Event: wall_time 1,
/// step 2, file_version 3, summary 5, session_log 7) and summary.proto (Summary: value 1;
/// Summary.Value: tag 1, simple_value 2, image 4; Summary.Image: height 1, width 2, colorspace 3,
/// encoded_image_string 4).
public enum TensorBoardEvent {
    /// The first event of every file: `brain.Event:2`.
    public static func fileVersion(wallTime: Date) -> [UInt8] {
        event(step: 0, wallTime: wallTime) { $0.string(3, "brain.Event:2") }
    }

    /// Scalars (tag, value) at `step`, one Summary.Value each.
    public static func scalars(_ values: [(tag: String, value: Float)], step: Int, wallTime: Date) -> [UInt8] {
        event(step: step, wallTime: wallTime) { e in
            e.message(5) { summary in
                for (tag, value) in values {
                    summary.message(1) { v in
                        v.string(1, tag)
                        v.float(2, value)
                    }
                }
            }
        }
    }

    /// A PNG image of `width` x `height` RGB pixels at `step`.
    public static func image(tag: String, png: [UInt8], width: Int, height: Int, step: Int, wallTime: Date) -> [UInt8] {
        event(step: step, wallTime: wallTime) { e in
            e.message(5) { summary in
                summary.message(1) { v in
                    v.string(1, tag)
                    v.message(4) { image in
                        image.int(1, Int64(height))
                        image.int(2, Int64(width))
                        image.int(3, 3)
                        image.bytes(4, png)
                    }
                }
            }
        }
    }

    /// SessionLog START at `step`: TensorBoard drops the events of this run at `step` and later
    /// that earlier files hold. Written first on resume, because the steps after the checkpoint
    /// run again (as PyTorch's `SummaryWriter(purge_step:)` does).
    public static func sessionStart(step: Int, wallTime: Date) -> [UInt8] {
        event(step: step, wallTime: wallTime) { e in e.message(7) { $0.int(1, 1) } }
    }

    private static func event(step: Int, wallTime: Date, _ body: (inout ProtobufWriter) -> Void) -> [UInt8] {
        var e = ProtobufWriter()
        e.double(1, wallTime.timeIntervalSince1970)
        e.int(2, Int64(step))
        body(&e)
        return e.bytes
    }
}
