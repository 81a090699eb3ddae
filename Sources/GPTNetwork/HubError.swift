// Why a hub model could not be had, in words that say what to do.
import Foundation

public enum HubError: Error, CustomStringConvertible, Equatable {
    case invalidName(String, reason: String)
    /// HF_HUB_OFFLINE is set and the cache lacks `files`.
    case offline(model: String, missing: [String], cache: String)
    case notFound(model: String, file: String, url: String)
    case unauthorized(model: String, status: Int, url: String)
    case download(model: String, file: String, reason: String)
    case cache(String)

    public var description: String {
        switch self {
        case let .invalidName(spec, reason): return "\(spec) is not a hub model name: \(reason)"
        case let .offline(model, missing, cache):
            return "\(model): HF_HUB_OFFLINE is set and the cache \(cache) lacks \(missing.joined(separator: ", ")); "
                + "download them once online (or unset HF_HUB_OFFLINE)"
        case let .notFound(model, file, url): return "\(model): \(file) not found on the hub (404 for \(url))"
        case let .unauthorized(model, status, url):
            return "\(model): the hub refused \(url) (HTTP \(status)): the repository does not exist, or it is private or gated "
                + "(set HF_TOKEN to a token with access)"
        case let .download(model, file, reason): return "\(model): could not download \(file): \(reason)"
        case let .cache(reason): return "the Hugging Face cache: \(reason)"
        }
    }
}
