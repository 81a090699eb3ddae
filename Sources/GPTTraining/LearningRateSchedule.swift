// Linear warmup, then cosine decay to a floor (nanoGPT's get_lr): the schedule
// GPT-2-style pre-training uses.
import Foundation

public struct LearningRateSchedule: Codable, Equatable, Sendable {
    public var maxRate: Float
    public var minRate: Float
    public var warmupSteps: Int
    public var decaySteps: Int

    public init(maxRate: Float, minRate: Float, warmupSteps: Int, decaySteps: Int) {
        self.maxRate = maxRate; self.minRate = minRate; self.warmupSteps = warmupSteps; self.decaySteps = decaySteps
    }

    /// The rate for 0-based `step`: (step+1)/warmup·max during warmup, cosine from max
    /// to min until `decaySteps`, then min.
    public func rate(at step: Int) -> Float {
        if step < warmupSteps { return maxRate * Float(step + 1) / Float(warmupSteps) }
        if step >= decaySteps { return minRate }
        let progress = Double(step - warmupSteps) / Double(max(1, decaySteps - warmupSteps))
        let coefficient = 0.5 * (1 + cos(Double.pi * progress))
        return minRate + Float(coefficient) * (maxRate - minRate)
    }
}
