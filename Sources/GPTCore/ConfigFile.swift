// A checkpoint's config.json, read the one way every model's loader reads it: present, bounded in
// size, no key twice, then decoded by type with an error that names the file and what is wrong.
import Foundation
import GPTIO

enum ConfigFile {
    /// The file's bytes; refuses a missing file, one over 16 MB, and a top-level key given twice.
    static func read(_ url: URL) throws -> Data {
        guard FileManager.default.fileExists(atPath: url.path) else { throw CheckpointError.missingFile(url.path) }
        let data = try InputFile.read(url.path, what: "config.json", limit: 16 << 20)
        if let key = JSONKeys.firstDuplicateTopLevelKey(data) {
            throw CheckpointError.invalidConfig(path: url.path, reason: "the key '\(key)' appears more than once")
        }
        return data
    }

    /// `type` decoded from `data`; a config's own range errors pass through, anything else names the field.
    static func decode<Config: Decodable>(_ type: Config.Type, from data: Data, path: String) throws -> Config {
        do { return try JSONDecoder().decode(type, from: data) } catch let error as GPTConfigError {
            throw error
        } catch {
            let isObject = (try? JSONSerialization.jsonObject(with: data)) is [String: Any]
            throw CheckpointError.invalidConfig(path: path, reason: isObject ? GPTConfig.rawValue(of: error) : "not a JSON object")
        }
    }
}
