// Streaming a large file over HTTP(S) straight to disk, with progress, the HTTP status of
// a failure, and the headers of every response on the way (a redirect's included: the
// Hugging Face hub names the commit on its first response, then redirects large files to
// a CDN). Bytes go to `destination` as they arrive, so a 500 MB checkpoint is never held
// in memory; the caller renames the finished file into place.
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

public enum FileDownload {
    /// A download that did not complete: `status` is the HTTP status when the server answered.
    public struct Failed: Error, CustomStringConvertible {
        public let url: URL
        public let status: Int?
        public let reason: String
        public var description: String { "could not download \(url): \(reason)" }
    }

    /// What arrived: the headers of every response (first the one for `url`), lower-cased names.
    public struct Result: Sendable {
        public let headers: [[String: String]]
        public let bytes: Int64

        /// The first value of `name` among the responses.
        public func header(_ name: String) -> String? { headers.lazy.compactMap { $0[name.lowercased()] }.first }
    }

    /// Writes the body of a 200 response from `url` to `destination` (created or truncated).
    /// `progress(received, expected)` is called as bytes arrive. Fails on any other status, a
    /// network error, or a body shorter or longer than its Content-Length.
    public static func fetch(_ url: URL, to destination: URL, headers: [String: String] = [:], timeout: TimeInterval = 60,
                             progress: ((Int64, Int64?) -> Void)? = nil) throws -> Result {
        guard FileManager.default.createFile(atPath: destination.path, contents: nil),
              let file = try? FileHandle(forWritingTo: destination) else {
            throw Failed(url: url, status: nil, reason: "cannot create \(destination.path)")
        }
        defer { try? file.close() }
        let receiver = Receiver(url: url, file: file, progress: progress)
        let queue = OperationQueue()
        queue.maxConcurrentOperationCount = 1
        let session = URLSession(configuration: .ephemeral, delegate: receiver, delegateQueue: queue)
        defer { session.finishTasksAndInvalidate() }
        var request = URLRequest(url: url)
        request.timeoutInterval = timeout
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        session.dataTask(with: request).resume()
        receiver.done.wait()
        return try receiver.outcome()
    }

    /// The session's delegate. Its callbacks run one at a time on the session's serial queue;
    /// the semaphore orders their writes before the caller's reads.
    final class Receiver: NSObject, URLSessionDataDelegate, @unchecked Sendable {
        let url: URL
        let file: FileHandle
        let progress: ((Int64, Int64?) -> Void)?
        let done = DispatchSemaphore(value: 0)
        var headers: [[String: String]] = []
        var expected: Int64?
        var received: Int64 = 0
        var failure: Failed?

        init(url: URL, file: FileHandle, progress: ((Int64, Int64?) -> Void)?) {
            self.url = url; self.file = file; self.progress = progress
        }

        static func fields(_ response: HTTPURLResponse) -> [String: String] {
            var out: [String: String] = [:]
            for (key, value) in response.allHeaderFields {
                if let key = key as? String, let value = value as? String { out[key.lowercased()] = value }
            }
            return out
        }

        func urlSession(_ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
                        newRequest request: URLRequest, completionHandler: @escaping (URLRequest?) -> Void) {
            headers.append(Self.fields(response))
            completionHandler(request)
        }

        func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                        completionHandler: @escaping (URLSession.ResponseDisposition) -> Void) {
            guard let http = response as? HTTPURLResponse else {
                failure = Failed(url: url, status: nil, reason: "not an HTTP response")
                return completionHandler(.cancel)
            }
            headers.append(Self.fields(http))
            guard http.statusCode == 200 else {
                failure = Failed(url: url, status: http.statusCode, reason: "HTTP status \(http.statusCode)")
                return completionHandler(.cancel)
            }
            expected = response.expectedContentLength >= 0 ? response.expectedContentLength : nil
            completionHandler(.allow)
        }

        func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
            guard failure == nil else { return }
            do { try file.write(contentsOf: data) } catch {
                failure = Failed(url: url, status: nil, reason: "cannot write the download: \(error.localizedDescription)")
                dataTask.cancel()
                return
            }
            received += Int64(data.count)
            progress?(received, expected)
        }

        func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: Error?) {
            if failure == nil, let error {
                failure = Failed(url: url, status: nil, reason: error.localizedDescription)
            }
            done.signal()
        }

        func outcome() throws -> Result {
            if let failure { throw failure }
            if let expected, expected != received {
                throw Failed(url: url, status: nil, reason: "the body ended after \(received) of \(expected) bytes")
            }
            return Result(headers: headers, bytes: received)
        }
    }
}
