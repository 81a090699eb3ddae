// The inverse-square-root schedule of the 2017 Transformer against values of its formula
// computed in Python (lr = d_model^-0.5 · min(n^-0.5, n · warmup^-1.5), n = step + 1), and the
// config fields that select it, with the cosine default left as it was.
import Foundation
import XCTest
import GPTCore
import GPTTraining

final class LearningRateScheduleTests: XCTestCase {
    func testInverseSquareRootMatchesThePaperFormulaForDModel512Warmup4000() {
        let s = LearningRateSchedule.inverseSquareRoot(modelWidth: 512, warmupSteps: 4000)
        // (0-based step, value) from Python floats of the formula.
        let expected: [(Int, Double)] = [
            (0, 1.746928107421711e-07), (1, 3.493856214843422e-07), (1999, 0.0003493856214843422),
            (3998, 0.0006985965501579421), (3999, 0.0006987712429686843), (4000, 0.000698683912937353),
            (15999, 0.00034938562148434214), (99999, 0.00013975424859373687),
        ]
        for (step, value) in expected {
            XCTAssertEqual(s.rate(at: step), Float(value), "step \(step)")  // exact after rounding to Float
        }
        XCTAssertEqual(s.maxRate, Float(0.0006987712429686843), "the peak, at the last warmup step")
        XCTAssertGreaterThan(s.rate(at: 3999), s.rate(at: 3998))
        XCTAssertGreaterThan(s.rate(at: 3999), s.rate(at: 4000))
    }

    func testInverseSquareRootScaleMultipliesAndZeroWarmupDecaysFromTheFirstStep() {
        let scaled = LearningRateSchedule.inverseSquareRoot(modelWidth: 256, warmupSteps: 1, scale: 2)
        XCTAssertEqual(scaled.rate(at: 9), Float(0.03952847075210474))  // 2 · 256^-0.5 · min(10^-0.5, 10)
        let noWarmup = LearningRateSchedule.inverseSquareRoot(modelWidth: 256, warmupSteps: 0)
        XCTAssertEqual(noWarmup.rate(at: 0), 0.0625)  // 256^-0.5 · 1^-0.5
    }

    func testConfigSelectsInverseSquareRootWithNEmbdAndKeepsCosineByDefault() throws {
        var c = try TrainingConfig.preset("demo")
        let cosine = c.schedule
        XCTAssertEqual(cosine, LearningRateSchedule(maxRate: c.learningRate, minRate: c.minLearningRate, warmupSteps: c.warmupSteps,
                                                    decaySteps: c.steps), "the default schedule is the cosine one it always was")
        XCTAssertEqual(c.resolved["lr_schedule"] as? String, "cosine")
        try c.set("lr_schedule", "inverse_sqrt")
        try c.set("lr_scale", "2")
        try c.set("warmup_steps", "4000")
        try c.set("n_embd", "512")
        XCTAssertEqual(c.schedule, .inverseSquareRoot(modelWidth: 512, warmupSteps: 4000, scale: 2))
        XCTAssertEqual(c.options.schedule.rate(at: 3999), Float(2 * 0.0006987712429686843))
        XCTAssertEqual(c.resolved["lr_schedule"] as? String, "inverse_sqrt")
        XCTAssertThrowsError(try c.set("lr_schedule", "linear")) { XCTAssert("\($0)".contains("cosine or inverse_sqrt"), "\($0)") }
        XCTAssertThrowsError(try c.set("lr_scale", "0")) { XCTAssert("\($0)".contains("lr_scale = 0"), "\($0)") }
    }

    func testSchedulesEncodedBeforeTheKindFieldDecodeAsCosine() throws {
        let old = Data(#"{"maxRate": 0.001, "minRate": 0.0001, "warmupSteps": 100, "decaySteps": 2000}"#.utf8)
        let s = try JSONDecoder().decode(LearningRateSchedule.self, from: old)
        XCTAssertEqual(s, LearningRateSchedule(maxRate: 0.001, minRate: 0.0001, warmupSteps: 100, decaySteps: 2000))
        let roundTrip = try JSONDecoder().decode(LearningRateSchedule.self,
                                                 from: JSONEncoder().encode(LearningRateSchedule.inverseSquareRoot(modelWidth: 64, warmupSteps: 7)))
        XCTAssertEqual(roundTrip, .inverseSquareRoot(modelWidth: 64, warmupSteps: 7))
    }
}
