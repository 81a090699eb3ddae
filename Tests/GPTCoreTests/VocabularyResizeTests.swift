// Growing the vocabulary for new special tokens: every old parameter is copied bit for
// bit, and each new embedding row is the mean of the old rows (computed here in Double,
// independently), as transformers' resize_token_embeddings(mean_resizing=True) starts them.
import XCTest
import GPTCore
import GPTKernels

final class VocabularyResizeTests: XCTestCase {
    func testResizeKeepsOldRowsBitIdenticalAndStartsNewRowsAtTheMean() throws {
        let config = GPTConfig(vocabSize: 37, contextLength: 8, embeddingSize: 16, layerCount: 1, headCount: 2)
        let model = try GPT(config: config, seed: 5, pool: ThreadPool(threads: 1))
        let grown = try model.resizingVocabulary(to: 39)
        XCTAssertEqual(grown.config.vocabSize, 39)
        let c = config.embeddingSize
        for tensor in model.layout.tensors {
            let old = Array(UnsafeBufferPointer(start: model.parameters + tensor.offset, count: tensor.count))
            let new = try XCTUnwrap(grown.layout[tensor.name])
            let copied = Array(UnsafeBufferPointer(start: grown.parameters + new.offset, count: tensor.count))
            XCTAssertEqual(old.map(\.bitPattern), copied.map(\.bitPattern), tensor.name)
        }
        let wte = model.parameters + model.layout.wte, grownWte = grown.parameters + grown.layout.wte
        for j in 0..<c {
            var sum = 0.0
            for row in 0..<37 { sum += Double(wte[row * c + j]) }
            for row in 37..<39 { XCTAssertEqual(Double(grownWte[row * c + j]), sum / 37, accuracy: 1e-7) }
        }
        XCTAssertThrowsError(try model.resizingVocabulary(to: 36), "a vocabulary only grows")
        XCTAssertEqual(try model.resizingVocabulary(to: 37).parameterCount, model.parameterCount)
    }
}
