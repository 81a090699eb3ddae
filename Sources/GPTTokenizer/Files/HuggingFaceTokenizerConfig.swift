// The tokenizer half of a Hugging Face directory: vocab.json + merges.txt (GPT2Tokenizer's
// files, written by VocabMergesFiles) and tokenizer_config.json, which names the class,
// lists every special token under `added_tokens_decoder` (special: true, so the fast and
// slow tokenizers both split them out of text whole) and holds the chat template as
// `chat_template` Jinja, which `tokenizer.apply_chat_template` renders.
import Foundation

public enum HuggingFaceTokenizerConfig {
    public static let fileName = "tokenizer_config.json"

    /// Writes vocab.json, merges.txt and tokenizer_config.json for `tokenizer` into `directory`.
    public static func write(_ tokenizer: BytePairTokenizer, template: any ChatTemplate, contextLength: Int, to directory: URL) throws {
        try VocabMergesFiles.write(tokenizer, vocabulary: directory.appendingPathComponent("vocab.json"),
                                   merges: directory.appendingPathComponent("merges.txt"))
        var added: [String: Any] = [:]
        for (text, id) in tokenizer.specialTokens {
            added["\(id)"] = ["content": text, "special": true, "lstrip": false, "rstrip": false,
                              "normalized": false, "single_word": false] as [String: Any]
        }
        var config: [String: Any] = ["tokenizer_class": "GPT2Tokenizer", "added_tokens_decoder": added,
                                     "model_max_length": contextLength, "add_prefix_space": false,
                                     "clean_up_tokenization_spaces": false, "chat_template": template.jinja]
        if let end = tokenizer.endOfTextID.flatMap({ id in tokenizer.specialTokens.first { $0.value == id }?.key }) {
            config["bos_token"] = end; config["eos_token"] = end; config["unk_token"] = end
        }
        if template is ChatMLTemplate { config["eos_token"] = ChatMLTemplate.end }
        let data = try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys])
        try TextFile.write(String(decoding: data, as: UTF8.self), to: directory.appendingPathComponent(fileName))
    }
}
