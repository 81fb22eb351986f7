// The operator's endpoint during a real run with two worker processes: Prometheus text with the
// keypoints_* metrics, and the status page loaded in headless Chromium (Debian's package): its
// rendered DOM has both workers in the table and both curves drawn, and a screenshot is taken.
import Data
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import TestSupport
import XCTest

final class StatusPageTests: XCTestCase {
    func testMetricsAndStatusPageInHeadlessChromiumDuringARun() throws {
        _ = try PythonScripts.interpreter()
        let chromium = URL(fileURLWithPath: "/usr/bin/chromium")
        guard FileManager.default.isExecutableFile(atPath: chromium.path) else {
            throw Requirement.unavailable("Debian's chromium is not installed (scripts/setup.sh installs it), so the status page cannot be loaded")
        }
        let dir = try BinaryRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let cards = dir.appendingPathComponent("cards")
        XCTAssertEqual(try BinaryRunner.run(["synth", "--out", cards.path, "--count", "40", "--size", "64"]).status, 0)
        let run = try Background(["train", "--data", cards.appendingPathComponent("labels.csv").path, "--alpha", "0.25", "--input-size", "96",
                                  "--hidden", "8", "--epochs", "500", "--batch-size", "8", "--micro-batch", "4", "--workers", "2",
                                  "--metrics-port", "0", "--out", dir.appendingPathComponent("run").path],
                                 log: dir.appendingPathComponent("train.log"))
        defer { _ = run.interrupt() }
        XCTAssertTrue(run.wait(for: "status page: http://127.0.0.1:"), run.output)
        XCTAssertTrue(run.wait(for: "epoch   3 "), "three epochs for the curves: \(run.output)")
        let line = try XCTUnwrap(run.output.split(separator: "\n").first { $0.contains("status page: http://") })
        let port = try XCTUnwrap(line.components(separatedBy: "http://127.0.0.1:").dropFirst().first?.prefix { $0.isNumber })
        let base = "http://127.0.0.1:\(port)"

        let metrics = try fetch(base + "/metrics")
        XCTAssertTrue(metrics.contains("keypoints_workers_alive 2"), metrics)
        XCTAssertTrue(metrics.contains("keypoints_step_part_seconds{part=\"transfer\"}"), metrics)
        // Parsed by the Prometheus client's own parser (scripts/check-prometheus.py), families and types.
        let text = dir.appendingPathComponent("metrics.txt")
        try metrics.write(to: text, atomically: true, encoding: .utf8)
        let parsed = try PythonScripts.run("check-prometheus.py", [text.path] + [
            "keypoints_step:gauge", "keypoints_last_step:gauge", "keypoints_epoch:gauge", "keypoints_images_per_second:gauge",
            "keypoints_workers_alive:gauge", "keypoints_microbatches_reassigned:counter", "keypoints_messages_dropped:counter",
            "keypoints_step_seconds:gauge", "keypoints_step_part_seconds:gauge", "keypoints_validation_nme:gauge",
            "keypoints_validation_nme_mean_shape:gauge", "keypoints_train_loss:gauge", "keypoints_learning_rate:gauge", "keypoints_training:gauge"])
        XCTAssertEqual(parsed.status, 0, parsed.output)

        let dom = try runChild(chromium, ["--headless", "--no-sandbox", "--disable-gpu", "--window-size=1200,1000",
                                          "--virtual-time-budget=5000", "--dump-dom", base + "/"]).stdout
        let rows = dom.components(separatedBy: "<tr class=\"worker\">").count - 1
        XCTAssertEqual(rows, 2, "the workers table should list both workers:\n\(dom.prefix(3000))")
        XCTAssertTrue(dom.contains("<td>worker-1</td>") && dom.contains("<td>worker-2</td>"), String(dom.prefix(3000)))
        for curve in ["loss-line", "nme-line", "mean-shape-line"] {
            let points = dom.components(separatedBy: "id=\"\(curve)\" points=\"").dropFirst().first?.prefix { $0 != "\"" } ?? ""
            XCTAssertGreaterThanOrEqual(points.split(separator: " ").count, 3, "\(curve) is not drawn: '\(points)'")
        }
        XCTAssertTrue(dom.contains("/overlay.png?epoch="), "the validation picture is shown")

        let screenshot = dir.appendingPathComponent("status.png")
        let shot = try runChild(chromium, ["--headless", "--no-sandbox", "--disable-gpu", "--window-size=1200,1000",
                                           "--virtual-time-budget=5000", "--screenshot=\(screenshot.path)", base + "/"])
        XCTAssertEqual(shot.status, 0, shot.stderr)
        let picture = try ImageCodec.load(path: screenshot.path)
        XCTAssertEqual(picture.width, 1200)
        let colours = Set(stride(from: 0, to: picture.height, by: 7).flatMap { y in stride(from: 0, to: picture.width, by: 7).map { x in
            let p = picture[x, y]; return Int(p.0) << 16 | Int(p.1) << 8 | Int(p.2) } })
        XCTAssertGreaterThan(colours.count, 20, "the screenshot is blank")
        try? FileManager.default.copyItem(at: screenshot, to: FileManager.default.temporaryDirectory.appendingPathComponent("keypoints-status-page.png"))

        // Ctrl-C stops the run and its two worker processes: none is left behind.
        let endpoint = try XCTUnwrap(run.output.components(separatedBy: "listening on ").dropFirst().first?.prefix { !$0.isWhitespace })
        XCTAssertEqual(run.interrupt(), 130, run.output)
        let left = try runChild(URL(fileURLWithPath: "/usr/bin/pgrep"), ["-f", "--connect \(endpoint) "])
        XCTAssertTrue(left.stdout.isEmpty, "workers left behind: \(left.stdout)")
    }

    private func fetch(_ url: String) throws -> String {
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var body = ""
        URLSession.shared.dataTask(with: URL(string: url)!) { data, _, _ in
            body = data.map { String(decoding: $0, as: UTF8.self) } ?? ""
            done.signal()
        }.resume()
        XCTAssertEqual(done.wait(timeout: .now() + 10), .success, "no answer from \(url)")
        return body
    }
}
