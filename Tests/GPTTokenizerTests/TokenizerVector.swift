// The shape of a tokenizer reference vector file (made by tiktoken).

/// A test vector: text, its ordinary ids and, when it contains special tokens, its ids with them allowed.
struct TokenizerVector: Decodable {
    let text: String
    let ids: [Int]
    let ids_special: [Int]?
}
