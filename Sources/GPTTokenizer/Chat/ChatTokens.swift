// Adding a chat template's special tokens (`<|im_start|>`, `<|im_end|>`) to a byte-level
// BPE: they take the next free ids after every existing one, in the template's order, as
// Hugging Face's `add_special_tokens` does, so GPT-2's 50,257 ids become 50,259.
// Tokens the tokenizer already has keep their ids. A character tokenizer cannot hold them.
public enum ChatTokens {
    /// `tokenizer` with every one of `template`'s special tokens (itself when it has them all).
    public static func adding(_ template: any ChatTemplate, to tokenizer: any Tokenizer) throws -> any Tokenizer {
        guard !template.specialTokens.isEmpty else { return tokenizer }
        guard let bpe = tokenizer as? BytePairTokenizer else {
            throw ChatTemplateError.missingSpecialToken(token: template.specialTokens[0], template: template.name,
                                                        tokenizer: tokenizer.name)
        }
        return try bpe.adding(specialTokens: template.specialTokens)
    }
}

extension BytePairTokenizer {
    /// This tokenizer with `names` as special tokens; new ones get ids from `vocabularySize` up.
    public func adding(specialTokens names: [String]) throws -> BytePairTokenizer {
        var specials = specialTokens
        var next = vocabularySize
        for name in names where specials[name] == nil {
            specials[name] = next
            next += 1
        }
        if specials.count == specialTokens.count { return self }
        let tokens = (0..<ordinaryTokenCount).map { Array(ranks.key($0)) }
        return try BytePairTokenizer(name: name, tokens: tokens, specialTokens: specials, source: name)
    }
}
