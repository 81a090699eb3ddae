// The engine thread's loop: admit waiting requests into free cache slots, run one step
// (a token of every generating sequence, plus a chunk of prefill), sample each sequence
// whose logits came, and end sequences the step they finish or their client leaves.
import Foundation
import GPTCore
import GPTGeneration
import GPTKernels
import GPTTokenizer

final class Scheduler {
    /// Prompt tokens per step when no sequence is decoding (nothing waits on the step).
    static let idlePrefill = 256

    let engine: Engine
    let model: LoadedModel
    let session: InferenceSession
    private var slots: [EngineSequence?]
    /// Running requests in admission order.
    private var requests: [EngineRequest] = []
    private let context: Int

    init(engine: Engine, model: LoadedModel, session: InferenceSession) {
        self.engine = engine
        self.model = model
        self.session = session
        slots = [EngineSequence?](repeating: nil, count: session.batch)
        context = model.model.config.contextLength
    }

    func run() {
        while true {
            let free = slots.count { $0 == nil }
            guard let admitted = engine.admit(freeSlots: free, busy: free < slots.count) else {
                // Shutting down: every running sample ends now with a final chunk.
                for request in requests { end(request, cut: true) }
                return
            }
            for job in admitted { start(job) }
            publish()
            keepAlive()
            if slots.contains(where: { $0 != nil }) { step() }
            // A client gone, a deadline passed or a shutdown frees the slots within this step.
            let stopping = engine.isStopping, now = Date()
            for request in requests where request.job.isCancelled || stopping || now > request.job.deadline {
                end(request, cut: true)
            }
        }
    }

    /// Gives `job` a slot per sample, or ends it at once (cancelled, expired, or a prompt that cannot run).
    private func start(_ job: EngineJob) {
        if job.isCancelled { job.continuation.finish(); return }
        if Date() > job.deadline {
            job.continuation.yield(.failed(.unavailable("the request waited longer than --request-timeout", code: "timeout")))
            job.continuation.finish()
            return
        }
        guard !job.prompt.isEmpty, job.prompt.count <= context else {
            job.continuation.yield(.failed(.invalid("the prompt has \(job.prompt.count) tokens; 1...\(context) fit", param: "prompt")))
            job.continuation.finish()
            return
        }
        let p = job.parameters
        var options = GenerationOptions()
        options.sampling = p.sampling
        // Without a seed each request draws its own; with one, the answer is reproducible.
        options.seed = p.seed ?? UInt64.random(in: 0...UInt64.max)
        options.maxNewTokens = p.maxTokens ?? max(1, context - job.prompt.count)
        if let end = model.tokenizer.endOfTextID { options.stopTokens = [Int32(end)] }
        if let top = job.promptLogprobs {
            // echo with logprobs: the prompt's own tokens are scored by one full pass first.
            do {
                let first = (try? model.tokenizer.decodeBytes([Int(job.prompt[0])])) ?? []
                job.continuation.yield(.prompt(first: first, try model.promptLogprobs(job.prompt, top: top)))
            } catch {
                // The prompt was checked before queueing: what is left is the memory for a full-sequence pass.
                job.continuation.yield(.failed(.unavailable("scoring the prompt failed: \(error)", code: "scoring_failed")))
                job.continuation.finish()
                return
            }
        }
        if options.maxNewTokens == 0 {
            // echo with max_tokens 0 (lm-eval-harness's scoring call): the prompt is the whole answer.
            job.continuation.yield(.started)
            for s in 0..<p.n { job.continuation.yield(.finished(index: s, reason: "length", completionTokens: 0)) }
            job.continuation.finish()
            return
        }
        let request = EngineRequest(job: job, options: options)
        requests.append(request)
        job.continuation.yield(.started)
        engine.metrics.promptTokens.increment(by: Int64(job.prompt.count))
        for s in 0..<p.n {
            let slot = slots.firstIndex { $0 == nil }!  // admit() took only what fits
            session.reset(slot: slot)
            slots[slot] = EngineSequence(request: request, index: s, slot: slot, vocabSize: model.model.config.vocabSize)
        }
    }

    /// One forward pass: the pending token of every decoding sequence, then prompt chunks in
    /// admission order within the budget; then a draw for every sequence whose logits came.
    private func step() {
        var entries: [(slot: Int, tokens: [Int32])] = []
        var owners: [EngineSequence] = []
        for case let seq? in slots where seq.pending.count == 1 {
            entries.append((seq.slot, [seq.pending.first!]))
            owners.append(seq)
        }
        var budget = entries.isEmpty ? Self.idlePrefill : engine.prefillChunk
        for request in requests {
            for case let seq? in slots where seq.request === request && seq.pending.count > 1 && budget > 0 {
                let chunk = Array(seq.pending.prefix(budget))
                budget -= chunk.count
                entries.append((seq.slot, chunk))
                owners.append(seq)
            }
        }
        let logits: UnsafeBufferPointer<Float>
        let started = DispatchTime.now().uptimeNanoseconds
        do {
            logits = try session.step(entries)
            engine.metrics.stepSeconds.record(Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9)
        } catch {
            // Prompts and slots were checked before this; a broken invariant, reported, not fatal.
            for request in requests {
                request.job.continuation.yield(.failed(APIError(status: 500, message: "generation failed: \(error)", type: "server_error")))
                end(request, cut: true, events: false)
            }
            return
        }
        let v = model.model.config.vocabSize
        for (e, seq) in owners.enumerated() {
            seq.pending = seq.pending.dropFirst(entries[e].tokens.count)
            guard seq.pending.isEmpty else { continue }
            advance(seq, UnsafeBufferPointer(rebasing: logits[(e * v)..<((e + 1) * v)]))
        }
    }

    /// Draws `seq`'s next token and sends what it completes; ends the sequence on end-of-text, a stop
    /// string or max_tokens, else queues the token (sliding the window when the context is full).
    private func advance(_ seq: EngineSequence, _ row: UnsafeBufferPointer<Float>) {
        let request = seq.request, p = request.job.parameters, tokenizer = model.tokenizer
        let raw = p.logprobs == nil ? [] : Array(row)
        let next = seq.draw(row)
        if request.options.stopTokens.contains(next) { finish(seq, cut: false); return }
        seq.count += 1
        request.tokens += 1
        if request.firstToken == nil {
            let now = Date()
            request.firstToken = now
            engine.metrics.timeToFirstToken.record(now.timeIntervalSince(request.job.arrival))
        }
        let decode: (Int32) -> [UInt8] = { (try? tokenizer.decodeBytes([Int($0)])) ?? [] }
        let bytes = decode(next)
        if let top = p.logprobs {
            seq.logs.add(TokenLogprob(token: next, logits: raw, top: top, decode: decode), byteCount: bytes.count)
        }
        let (ready, stopped) = seq.scanner.append(seq.decoder.push(bytes))
        if !ready.isEmpty {
            request.job.continuation.yield(.text(index: seq.index, ready, seq.logs.release(ready)))
            request.lastEvent = Date()
        }
        if stopped || seq.count >= request.options.maxNewTokens { finish(seq, cut: false); return }
        if session.lengths[seq.slot] == context {
            // Slide: rebuild the cache from the last n_positions − 1 tokens (as Generator does).
            session.reset(slot: seq.slot)
            seq.pending = seq.fed.suffix(max(1, context - 1))[...]
        } else {
            seq.pending = [next]
        }
    }

    /// Ends every open sample of `request`.
    private func end(_ request: EngineRequest, cut: Bool, events: Bool = true) {
        for case let seq? in slots where seq.request === request { finish(seq, cut: cut, events: events) }
    }

    /// Frees `seq`'s slot and sends its last text and its finish reason; the request's stream ends
    /// with its last sample. `cut`: ended by us (client gone, deadline, shutdown), not by the model
    /// or max_tokens.
    private func finish(_ seq: EngineSequence, cut: Bool, events: Bool = true) {
        let request = seq.request, continuation = request.job.continuation
        slots[seq.slot] = nil
        request.open -= 1
        if events {
            if !seq.scanner.stopped {
                let (ready, _) = seq.scanner.append(seq.decoder.finish())
                let rest = ready + seq.scanner.flush()
                if !rest.isEmpty { continuation.yield(.text(index: seq.index, rest, seq.logs.release(rest))) }
            }
            // Tokens that began inside the kept text but end past it (a stop string cut them).
            let remaining = seq.logs.remainder()
            if !remaining.isEmpty { continuation.yield(.text(index: seq.index, "", remaining)) }
            // Fewer tokens than asked for and not cut by us: the model wrote end-of-text.
            let reason = seq.scanner.stopped || (!cut && seq.count < request.options.maxNewTokens) ? "stop" : "length"
            continuation.yield(.finished(index: seq.index, reason: reason, completionTokens: seq.count))
        }
        guard request.open == 0 else { return }
        requests.removeAll { $0 === request }
        engine.metrics.completionTokens.increment(by: Int64(request.tokens))
        if let first = request.firstToken, request.tokens > 1 {
            engine.metrics.timePerOutputToken.record(Date().timeIntervalSince(first) / Double(request.tokens - 1))
        }
        // Not running any more before the client can see its answer end (/metrics must agree with it).
        publish()
        continuation.finish()
    }

    /// Sends a keep-alive to every request that is waiting or prefilling and has heard nothing for
    /// `pingInterval` (a stream shows it as an SSE comment).
    private func keepAlive() {
        let now = Date(), interval = engine.pingInterval
        for request in requests where request.firstToken == nil && now.timeIntervalSince(request.lastEvent) >= interval {
            request.job.continuation.yield(.keepAlive)
            request.lastEvent = now
        }
        for job in engine.queued() where now.timeIntervalSince(job.lastKeepAlive) >= interval {
            job.continuation.yield(.keepAlive)
            job.lastKeepAlive = now
        }
    }

    private func publish() {
        engine.setRunning(jobs: requests.count, sequences: slots.count { $0 != nil })
    }
}
