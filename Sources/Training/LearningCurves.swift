// The learning-curve picture: training and validation loss, and validation NME and PCK@0.1, per
// epoch, as a self-contained SVG (opens in any browser).
import Foundation

public enum LearningCurves {
    /// Two panels side by side: losses (log scale) and NME / PCK@0.1 against epoch.
    public static func svg(_ history: [EpochSummary], title: String) -> String {
        let w = 420.0, h = 260.0, margin = 44.0
        func panel(_ x0: Double, _ name: String, _ series: [(String, String, [Double])], log: Bool,
                   range: (Double, Double)? = nil) -> String {
            let values = series.flatMap(\.2).filter { $0.isFinite && (!log || $0 > 0) }
            guard let lo0 = range?.0 ?? values.min(), let hi0 = range?.1 ?? values.max() else { return "" }
            let f: (Double) -> Double = log ? { Foundation.log10(max($0, 1e-12)) } : { $0 }
            let lo = f(lo0), hi = f(hi0) == f(lo0) ? f(lo0) + 1 : f(hi0)
            let n = max(history.count - 1, 1)
            func px(_ i: Int) -> Double { x0 + margin + Double(i) / Double(n) * (w - 1.5 * margin) }
            func py(_ v: Double) -> Double { h - margin - (f(v) - lo) / (hi - lo) * (h - 1.8 * margin) }
            var s = "<g font-family='sans-serif' font-size='11'>"
            s += "<rect x='\(x0 + margin)' y='\(0.8 * margin)' width='\(w - 1.5 * margin)' height='\(h - 1.8 * margin)' fill='none' stroke='#999'/>"
            s += "<text x='\(x0 + margin)' y='\(0.6 * margin)' font-weight='bold'>\(name)</text>"
            s += "<text x='\(x0 + w / 2)' y='\(h - 10)'>epoch</text>"
            s += "<text x='\(x0 + 4)' y='\(py(lo0) + 4)'>\(String(format: "%.3g", lo0))</text>"
            s += "<text x='\(x0 + 4)' y='\(py(hi0) + 4)'>\(String(format: "%.3g", hi0))</text>"
            for (k, (label, colour, ys)) in series.enumerated() {
                let points = ys.enumerated().filter { $0.element.isFinite }.map { "\(px($0.offset)),\(py($0.element))" }
                s += "<polyline fill='none' stroke='\(colour)' stroke-width='2' points='\(points.joined(separator: " "))'/>"
                s += "<text x='\(x0 + w - 150)' y='\(0.8 * margin + 16 + Double(k) * 14)' fill='\(colour)'>\(label)</text>"
            }
            return s + "</g>"
        }
        let losses = panel(0, "loss" + " (log scale)", [("train loss", "#1f77b4", history.map(\.trainLoss)),
                                                        ("validation loss", "#d62728", history.map(\.validationLoss))], log: true)
        let accuracy = panel(w, "validation accuracy", [("NME", "#2ca02c", history.map(\.metrics.nme)),
                                                        ("PCK@0.1", "#9467bd", history.map(\.metrics.pck10))], log: false, range: (0, 1))
        return """
        <svg xmlns='http://www.w3.org/2000/svg' width='\(Int(2 * w))' height='\(Int(h + 20))'>
        <rect width='100%' height='100%' fill='white'/>
        <text x='10' y='\(h + 14)' font-family='sans-serif' font-size='11' fill='#555'>\(title)</text>
        \(losses)\(accuracy)
        </svg>

        """
    }
}
