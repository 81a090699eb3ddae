// loss.svg: training and validation loss against step, as a self-contained SVG that
// any browser shows (no script, no external font or style).
import Foundation

public enum LossChart {
    /// The chart for `train` (every logged step) and `validation` (evaluation steps) losses.
    public static func svg(train: [(step: Int, loss: Double)], validation: [(step: Int, loss: Double)],
                           title: String) -> String {
        let width = 720.0, height = 420.0, left = 64.0, right = 20.0, top = 40.0, bottom = 52.0
        let all = (train + validation).filter { $0.loss.isFinite }
        let maxStep = Double(max(1, all.map(\.step).max() ?? 1))
        var low = all.map(\.loss).min() ?? 0, high = all.map(\.loss).max() ?? 1
        if high - low < 1e-6 { low -= 0.5; high += 0.5 }
        let pad = (high - low) * 0.05
        low = max(0, low - pad); high += pad
        func x(_ step: Int) -> Double { left + Double(step) / maxStep * (width - left - right) }
        func y(_ loss: Double) -> Double { top + (high - loss) / (high - low) * (height - top - bottom) }
        func f(_ v: Double) -> String { String(format: "%.1f", v) }
        func path(_ points: [(step: Int, loss: Double)]) -> String {
            points.filter { $0.loss.isFinite }.enumerated()
                .map { "\($0.offset == 0 ? "M" : "L")\(f(x($0.element.step))),\(f(y($0.element.loss)))" }.joined(separator: " ")
        }
        var out = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" font-family="sans-serif" font-size="12">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(f(width / 2))" y="22" text-anchor="middle" font-size="15">\(escape(title))</text>

        """
        for loss in ticks(low, high) {
            let yy = y(loss)
            out += "<line x1=\"\(f(left))\" y1=\"\(f(yy))\" x2=\"\(f(width - right))\" y2=\"\(f(yy))\" stroke=\"#e5e5e5\"/>"
            out += "<text x=\"\(f(left - 6))\" y=\"\(f(yy + 4))\" text-anchor=\"end\">\(String(format: "%g", loss))</text>\n"
        }
        for value in ticks(0, maxStep) {
            let step = Int(value), xx = x(step)
            out += "<line x1=\"\(f(xx))\" y1=\"\(f(height - bottom))\" x2=\"\(f(xx))\" y2=\"\(f(height - bottom + 5))\" stroke=\"black\"/>"
            out += "<text x=\"\(f(xx))\" y=\"\(f(height - bottom + 18))\" text-anchor=\"middle\">\(step)</text>\n"
        }
        out += """
        <line x1="\(f(left))" y1="\(f(top))" x2="\(f(left))" y2="\(f(height - bottom))" stroke="black"/>
        <line x1="\(f(left))" y1="\(f(height - bottom))" x2="\(f(width - right))" y2="\(f(height - bottom))" stroke="black"/>
        <text x="\(f((left + width - right) / 2))" y="\(f(height - 12))" text-anchor="middle">step</text>
        <text x="16" y="\(f((top + height - bottom) / 2))" text-anchor="middle" transform="rotate(-90 16 \(f((top + height - bottom) / 2)))">loss (nats per token)</text>
        <path d="\(path(train))" fill="none" stroke="#1f77b4" stroke-width="1.2"/>
        <path d="\(path(validation))" fill="none" stroke="#d62728" stroke-width="2"/>

        """
        for point in validation where point.loss.isFinite {
            out += "<circle cx=\"\(f(x(point.step)))\" cy=\"\(f(y(point.loss)))\" r=\"3\" fill=\"#d62728\"/>\n"
        }
        out += """
        <rect x="\(f(width - right - 150))" y="\(f(top + 4))" width="144" height="42" fill="white" stroke="#ccc"/>
        <line x1="\(f(width - right - 140))" y1="\(f(top + 18))" x2="\(f(width - right - 116))" y2="\(f(top + 18))" stroke="#1f77b4" stroke-width="2"/>
        <text x="\(f(width - right - 110))" y="\(f(top + 22))">train loss</text>
        <line x1="\(f(width - right - 140))" y1="\(f(top + 36))" x2="\(f(width - right - 116))" y2="\(f(top + 36))" stroke="#d62728" stroke-width="2"/>
        <text x="\(f(width - right - 110))" y="\(f(top + 40))">validation loss</text>
        </svg>

        """
        return out
    }

    /// Reads a metrics.jsonl and returns its (step, train_loss) and (step, val_loss) series.
    public static func series(metrics url: URL) -> (train: [(step: Int, loss: Double)], validation: [(step: Int, loss: Double)]) {
        var train: [(step: Int, loss: Double)] = [], validation: [(step: Int, loss: Double)] = []
        guard let data = FileManager.default.contents(atPath: url.path) else { return ([], []) }
        for line in data.split(separator: UInt8(ascii: "\n")) {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
                  let step = object["step"] as? Int else { continue }
            if let loss = object["train_loss"] as? Double { train.append((step, loss)) }
            if let loss = object["val_loss"] as? Double { validation.append((step, loss)) }
        }
        return (train, validation)
    }

    /// About five round values between low and high: multiples of the 1, 2 or 5 × 10ⁿ nearest a fifth of the range.
    static func ticks(_ low: Double, _ high: Double) -> [Double] {
        let raw = (high - low) / 5
        let magnitude = pow(10, floor(log10(raw)))
        let spacing = [1.0, 2, 5, 10].map { $0 * magnitude }.min { abs(log($0 / raw)) < abs(log($1 / raw)) }!
        var values: [Double] = []
        var v = (low / spacing).rounded(.up) * spacing
        while v <= high + spacing * 1e-9 { values.append(v); v += spacing }
        return values
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}
