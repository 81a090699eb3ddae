// Streams a corpus as `TextSegment`s of about `blockSize` bytes, never holding more
// than a block or two in memory. Long documents are cut only at points where the
// GPT-2 split pattern would cut anyway (`GPT2TextSplitter`), so encoding the pieces
// separately gives the same ids as encoding the whole. The text after the first
// `trainContentBytes` bytes is marked as validation: as nanoGPT's prepare.py, the
// split point may fall inside a document, and the two sides are encoded separately.
import Foundation
import GPTIO
import GPTTokenizer

/// Sequential reader of text files and JSON Lines documents.
public final class CorpusReader {
    public let inputs: [CorpusInput]
    public let blockSize: Int
    /// Raw file bytes read so far (for progress).
    public private(set) var fileBytesRead = 0

    public init(inputs: [CorpusInput], blockSize: Int = 1 << 20) {
        self.inputs = inputs
        self.blockSize = max(1 << 12, blockSize)
    }

    /// Total size of the input files in bytes.
    public func totalFileBytes() -> Int {
        inputs.reduce(0) { total, input in
            let attributes = try? FileManager.default.attributesOfItem(atPath: input.url.path)
            return total + ((attributes?[.size] as? Int) ?? 0)
        }
    }

    /// Bytes of document text: the file sizes for text files, the `text` fields for JSON Lines
    /// (which needs a pass over those files).
    public func contentByteCount() throws -> Int {
        guard inputs.contains(where: { if case .textFile = $0 { return false } else { return true } }) else {
            return totalFileBytes()
        }
        var total = 0
        _ = try read(trainContentBytes: nil) { total += $0.bytes.count }
        return total
    }

    /// Calls `body` with every segment in corpus order and returns the SHA-256 (hex)
    /// of the raw input files, concatenated in order.
    @discardableResult
    public func read(trainContentBytes: Int?, _ body: (TextSegment) throws -> Void) throws -> String {
        var digest = SHA256()
        var emitter = SegmentEmitter(trainContentBytes: trainContentBytes)
        fileBytesRead = 0
        for input in inputs {
            switch input {
            case .textFile(let url):
                var pending: [UInt8] = []
                var startsDocument = true
                try readBlocks(url, digest: &digest) { block in
                    pending.append(contentsOf: block)
                    while pending.count >= 2 * blockSize, let cut = safeCut(pending) {
                        try emitter.emit(pending[..<cut], startsDocument: startsDocument, source: url.path, to: body)
                        startsDocument = false
                        pending.removeFirst(cut)
                    }
                }
                try emitter.emit(pending[...], startsDocument: startsDocument, source: url.path, to: body)
            case .jsonLines(let url), .pairs(let url):
                var fields = ["text"]
                if case .pairs = input { fields = ["source", "target"] }
                var pending: [UInt8] = []
                var lineNumber = 0
                try readBlocks(url, digest: &digest) { block in
                    pending.append(contentsOf: block)
                    var lineStart = 0
                    while let newline = pending[lineStart...].firstIndex(of: UInt8(ascii: "\n")) {
                        lineNumber += 1
                        try emitDocuments(jsonLine: pending[lineStart..<newline], fields: fields, path: url.path, line: lineNumber,
                                          emitter: &emitter, body: body)
                        lineStart = newline + 1
                    }
                    pending.removeFirst(lineStart)
                }
                try emitDocuments(jsonLine: pending[...], fields: fields, path: url.path, line: lineNumber + 1, emitter: &emitter,
                                  body: body)
            }
        }
        return digest.finalizeHex()
    }

    /// The string `fields` of one JSON line, each a document in turn.
    private func emitDocuments(jsonLine: ArraySlice<UInt8>, fields: [String], path: String, line: Int,
                               emitter: inout SegmentEmitter, body: (TextSegment) throws -> Void) throws {
        guard jsonLine.contains(where: { $0 != 0x20 && $0 != 0x09 && $0 != 0x0D }) else { return }
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: Data(jsonLine))
        } catch {
            throw DataError.malformedJSONLine(path: path, line: line, reason: "not valid JSON")
        }
        let texts = fields.compactMap { (object as? [String: Any])?[$0] as? String }
        guard texts.count == fields.count else {
            let names = fields.map { "\"\($0)\"" }.joined(separator: " and ")
            throw DataError.malformedJSONLine(path: path, line: line,
                                              reason: "expected an object with \(fields.count > 1 ? "string fields" : "a string field") \(names)")
        }
        for text in texts { try emitDocument(text, path: path, emitter: &emitter, body: body) }
    }

    private func emitDocument(_ text: String, path: String, emitter: inout SegmentEmitter, body: (TextSegment) throws -> Void) throws {
        var document = Array(text.utf8)[...]
        var startsDocument = true
        while document.count >= 2 * blockSize, let cut = safeCut(Array(document)) {
            try emitter.emit(document.prefix(cut), startsDocument: startsDocument, source: path, to: body)
            startsDocument = false
            document = document.dropFirst(cut)
        }
        try emitter.emit(document, startsDocument: startsDocument, source: path, to: body)
    }

    /// A cut near `blockSize`, or the last one in the buffer if none is that early.
    private func safeCut(_ bytes: [UInt8]) -> Int? {
        bytes.withUnsafeBufferPointer { buffer in
            GPT2TextSplitter.safeCut(in: buffer, atOrBefore: blockSize, after: 0)
                ?? GPT2TextSplitter.safeCut(in: buffer, atOrBefore: buffer.count - 1, after: blockSize)
        }
    }

    private func readBlocks(_ url: URL, digest: inout SHA256, _ body: (Data) throws -> Void) throws {
        let handle: FileHandle
        do {
            handle = try FileHandle(forReadingFrom: url)
        } catch {
            throw DataError.unreadableInput(path: url.path, reason: "cannot open (\(FileAccessError.words(error)))")
        }
        defer { try? handle.close() }
        while true {
            let block: Data
            do {
                guard let data = try handle.read(upToCount: blockSize), !data.isEmpty else { return }
                block = data
            } catch {
                throw DataError.unreadableInput(path: url.path, reason: "read failed (\(FileAccessError.words(error)))")
            }
            block.withUnsafeBytes { digest.update($0) }
            fileBytesRead += block.count
            try body(block)
        }
    }
}

/// Hands segments to the consumer, cutting the one that straddles the train/validation point.
private struct SegmentEmitter {
    let trainContentBytes: Int?
    var contentBytes = 0

    mutating func emit(_ bytes: ArraySlice<UInt8>, startsDocument: Bool, source: String,
                       to body: (TextSegment) throws -> Void) throws {
        guard !bytes.isEmpty else { return }
        defer { contentBytes += bytes.count }
        guard let limit = trainContentBytes else {
            return try body(TextSegment(bytes: Array(bytes), startsDocument: startsDocument, isValidation: false, source: source))
        }
        if contentBytes >= limit || contentBytes + bytes.count <= limit {
            return try body(TextSegment(bytes: Array(bytes), startsDocument: startsDocument,
                                        isValidation: contentBytes >= limit, source: source))
        }
        // Split inside this segment, moved back to a character boundary.
        var cut = bytes.startIndex + (limit - contentBytes)
        while cut > bytes.startIndex, bytes[cut] & 0xC0 == 0x80 { cut -= 1 }
        if cut > bytes.startIndex {
            try body(TextSegment(bytes: Array(bytes[..<cut]), startsDocument: startsDocument, isValidation: false, source: source))
        }
        try body(TextSegment(bytes: Array(bytes[cut...]), startsDocument: startsDocument && cut == bytes.startIndex,
                             isValidation: true, source: source))
    }
}
