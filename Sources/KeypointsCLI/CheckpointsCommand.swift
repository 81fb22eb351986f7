// `keypoints checkpoints`: lists a checkpoint folder and verifies every file (format, checksum).
import ArgumentParser
import Training
import Foundation

struct Checkpoints: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the checkpoints in a folder and verify each one; exits 1 if any is damaged.")

    @Argument(help: "A run folder (its checkpoints/) or a folder of checkpoints.") var directory: String

    func run() throws {
        let url = URL(fileURLWithPath: directory)
        let files = Checkpoint.list(RunFolder.holdsRun(url) ? RunFolder(url).checkpoints : url)
        guard !files.isEmpty else { throw ValidationError("no checkpoints in \(directory)") }
        var damaged = 0
        for url in files {
            do {
                let c = try Checkpoint.read(url)
                print("ok       step \(c.step)  \(url.lastPathComponent)  dataset \(c.fingerprint.prefix(12))")
            } catch {
                damaged += 1
                print("DAMAGED  \(url.lastPathComponent): \(error)")
            }
        }
        if damaged > 0 { throw ExitCode(1) }
    }
}
