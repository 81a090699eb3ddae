// The learning-rate schedules a run can take, by `lr_schedule`:
// - cosine (the default): linear warmup, then cosine decay to a floor (nanoGPT's get_lr), the
//   schedule GPT-2-style pre-training uses;
// - inverse_sqrt: the 2017 Transformer's (Vaswani et al., §5.3, eq. 3), for the encoder–decoder:
//   lr = scale · d_model^-0.5 · min(n^-0.5, n · warmup^-1.5) with n = step + 1 (1-based), linear
//   growth for `warmup` steps then decay with the inverse square root of the step. It ignores the
//   peak and floor rates: the width and the warmup set the peak (d_model^-0.5 · warmup^-0.5 · scale).
import Foundation

public struct LearningRateSchedule: Codable, Equatable, Sendable {
    public enum Kind: String, Codable, Sendable, CaseIterable {
        case cosine
        case inverseSquareRoot = "inverse_sqrt"
    }

    public var maxRate: Float
    public var minRate: Float
    public var warmupSteps: Int
    public var decaySteps: Int
    public var kind: Kind
    /// d_model of the inverse-square-root schedule (unused by cosine).
    public var modelWidth: Int
    /// The factor in front of the inverse-square-root schedule (unused by cosine).
    public var scale: Float

    public init(maxRate: Float, minRate: Float, warmupSteps: Int, decaySteps: Int) {
        self.maxRate = maxRate; self.minRate = minRate; self.warmupSteps = warmupSteps; self.decaySteps = decaySteps
        self.kind = .cosine; self.modelWidth = 1; self.scale = 1
    }

    /// The paper's schedule for a model of width `modelWidth` (d_model).
    public static func inverseSquareRoot(modelWidth: Int, warmupSteps: Int, scale: Float = 1) -> LearningRateSchedule {
        var s = LearningRateSchedule(maxRate: 0, minRate: 0, warmupSteps: warmupSteps, decaySteps: 0)
        s.kind = .inverseSquareRoot; s.modelWidth = modelWidth; s.scale = scale
        s.maxRate = s.rate(at: max(0, warmupSteps - 1))
        return s
    }

    /// The rate for 0-based `step`. Cosine: (step+1)/warmup·max during warmup, cosine from max
    /// to min until `decaySteps`, then min. Inverse square root: see the header (no warmup when
    /// `warmupSteps` is 0: n^-0.5 from the first step).
    public func rate(at step: Int) -> Float {
        switch kind {
        case .cosine:
            if step < warmupSteps { return maxRate * Float(step + 1) / Float(warmupSteps) }
            if step >= decaySteps { return minRate }
            let progress = Double(step - warmupSteps) / Double(max(1, decaySteps - warmupSteps))
            let coefficient = 0.5 * (1 + cos(Double.pi * progress))
            return minRate + Float(coefficient) * (maxRate - minRate)
        case .inverseSquareRoot:
            let n = Double(max(0, step) + 1)
            let decay = 1 / n.squareRoot()
            let factor = warmupSteps > 0 ? min(decay, n * pow(Double(warmupSteps), -1.5)) : decay
            return Float(Double(scale) / Double(max(1, modelWidth)).squareRoot() * factor)
        }
    }

    private enum CodingKeys: String, CodingKey { case maxRate, minRate, warmupSteps, decaySteps, kind, modelWidth, scale }

    /// Schedules encoded before `kind` existed decode as cosine.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        maxRate = try c.decode(Float.self, forKey: .maxRate)
        minRate = try c.decode(Float.self, forKey: .minRate)
        warmupSteps = try c.decode(Int.self, forKey: .warmupSteps)
        decaySteps = try c.decode(Int.self, forKey: .decaySteps)
        kind = try c.decodeIfPresent(Kind.self, forKey: .kind) ?? .cosine
        modelWidth = try c.decodeIfPresent(Int.self, forKey: .modelWidth) ?? 1
        scale = try c.decodeIfPresent(Float.self, forKey: .scale) ?? 1
    }
}
