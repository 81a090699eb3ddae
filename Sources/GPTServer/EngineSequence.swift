// One sample of a running request, in one cache slot: the tokens still to feed (a prompt
// being prefilled, or the last sampled token), everything it has fed, and its own
// sampling state (sampler, generator, penalties' counts), stop scanner, UTF-8 decoder and
// logprobs. The engine thread alone touches it.
import Foundation
import GPTGeneration
import GPTKernels
import GPTTokenizer

final class EngineSequence {
    let request: EngineRequest
    /// Sample index within the request (choice `index` of its answer).
    let index: Int
    let slot: Int
    /// Tokens not yet run through the model; logits come when the last of them has run.
    var pending: ArraySlice<Int32>
    /// What the slot's cache holds so far, and what it will hold: the prompt and every sampled token.
    var fed: [Int32]
    var sampler: Sampler
    var rng: SplitMix64
    /// Distinct tokens of the sequence (the repetition penalty reads them), and membership by id.
    var present: [Int32]
    var isPresent: [Bool]
    /// How often each token was generated (the presence and frequency penalties read it).
    var generated: [Int32: Int] = [:]
    var scanner: StopTextScanner
    var decoder = StreamingTextDecoder()
    var logs = TokenLogs()
    /// Tokens generated (end-of-text not counted).
    var count = 0

    init(request: EngineRequest, index: Int, slot: Int, vocabSize: Int) {
        self.request = request
        self.index = index
        self.slot = slot
        let job = request.job, options = request.options
        pending = job.prompt[...]
        fed = job.prompt
        sampler = Sampler(options: options.sampling)
        // As Generator seeds sample `index` of a request.
        rng = SplitMix64(seed: options.seed &+ UInt64(index) &* 0x9E37_79B9_7F4A_7C15)
        let penalize = options.sampling.repetitionPenalty != 1
        present = penalize ? Array(Set(job.prompt)) : []
        isPresent = [Bool](repeating: false, count: penalize ? vocabSize : 0)
        for t in present where t >= 0 && Int(t) < vocabSize { isPresent[Int(t)] = true }
        scanner = StopTextScanner(stops: job.parameters.stop + job.extraStops)
    }

    /// Draws the next token from `logits` ([V]) and records it.
    func draw(_ logits: UnsafeBufferPointer<Float>) -> Int32 {
        let next = sampler.next(logits, present: present, generated: generated, rng: &rng)
        fed.append(next)
        if !isPresent.isEmpty && !isPresent[Int(next)] { isPresent[Int(next)] = true; present.append(next) }
        if request.options.sampling.countsOccurrences { generated[next, default: 0] += 1 }
        return next
    }
}

/// A request the engine is running: its job, the generation options derived from its
/// parameters, and what its metrics need.
final class EngineRequest {
    let job: EngineJob
    let options: GenerationOptions
    /// Samples still generating.
    var open: Int
    var firstToken: Date?
    var tokens = 0
    /// When the client was last sent something (a keep-alive is due `pingInterval` after it).
    var lastEvent = Date()

    init(job: EngineJob, options: GenerationOptions) {
        self.job = job
        self.options = options
        open = job.parameters.n
    }
}
