// Fetching a public file over HTTPS (the GPT-2 ranks, Tiny Shakespeare), for the
// commands that offer to download what a user has not got locally.
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

public enum Download {
    public struct Failed: Error, CustomStringConvertible {
        public let url: URL
        public let reason: String
        public var description: String { "could not download \(url): \(reason)" }
    }

    /// The body of a 200 response from `url`, waiting at most `timeout` seconds.
    public static func data(from url: URL, timeout: TimeInterval = 30) throws -> Data {
        // The completion handler runs on URLSession's queue; the semaphore orders its
        // write before our read, so the box needs no lock of its own.
        final class Box: @unchecked Sendable { var result: Result<Data, Error>? }
        let box = Box()
        let done = DispatchSemaphore(value: 0)
        var request = URLRequest(url: url)
        request.timeoutInterval = timeout
        URLSession.shared.dataTask(with: request) { data, response, error in
            let status = (response as? HTTPURLResponse)?.statusCode
            if let data, status == 200 {
                box.result = .success(data)
            } else {
                box.result = .failure(Failed(url: url, reason: error.map { "\($0.localizedDescription)" } ?? "HTTP status \(status ?? 0)"))
            }
            done.signal()
        }.resume()
        done.wait()
        guard let result = box.result else { throw Failed(url: url, reason: "no response") }
        return try result.get()
    }
}
