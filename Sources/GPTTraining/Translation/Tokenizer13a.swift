// The "13a" tokenisation of mteval-v13a.pl as sacreBLEU 2.x implements it
// (sacrebleu/tokenizers/tokenizer_13a.py and tokenizer_re.py), so that our BLEU is
// sacreBLEU's BLEU. The rules work on Unicode scalars, as Python's `str` and `re` do
// (never on grapheme clusters), and whitespace is Python's `str.isspace()` set.
import Foundation

public enum Tokenizer13a {
    /// The tokenised line: tokens joined by single spaces, no leading or trailing space.
    ///
    /// In order: remove `<skipped>`; join `-\n` line breaks; newlines to spaces; unescape
    /// `&quot; &amp; &lt; &gt;`; then the four regular expressions of tokenizer_re.py, each a
    /// left-to-right, non-overlapping substitution as `re.sub` makes it:
    /// 1. `[{-~[-\` -&(-+:-@/]` → ` \1 ` (ASCII punctuation except `' , - .`);
    /// 2. `([^0-9])([.,])` → `\1 \2 ` (split a period or comma unless a digit precedes it);
    /// 3. `([.,])([^0-9])` → ` \1 \2` (… unless a digit follows it);
    /// 4. `([0-9])(-)` → `\1 \2 ` (split a dash after a digit);
    /// and finally split on whitespace and join with one space.
    public static func tokenize(_ line: String) -> String {
        // Python's str.replace compares code points; Foundation's would compare characters ("\r\n" is one).
        var text = Array(line.unicodeScalars)
        text = replace(text, "<skipped>", "")
        text = replace(text, "-\n", "")
        text = replace(text, "\n", " ")
        if text.contains("&") {
            for (entity, character) in [("&quot;", "\""), ("&amp;", "&"), ("&lt;", "<"), ("&gt;", ">")] {
                text = replace(text, entity, character)
            }
        }
        var s: [Unicode.Scalar] = [" "] + text + [" "]
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(s.count * 2)
        for c in s {
            if isPunctuation13a(c) { out.append(" "); out.append(c); out.append(" ") } else { out.append(c) }
        }
        s = out
        s = substitutePairs(s, first: { !isDigit($0) }, second: isPeriodOrComma) { a, b in [a, " ", b, " "] }
        s = substitutePairs(s, first: isPeriodOrComma, second: { !isDigit($0) }) { a, b in [" ", a, " ", b] }
        s = substitutePairs(s, first: isDigit, second: { $0 == "-" }) { a, b in [a, " ", b, " "] }
        return joinedWords(s)
    }

    /// Python's `str.replace`: every non-overlapping occurrence of `pattern`, left to right.
    static func replace(_ s: [Unicode.Scalar], _ pattern: String, _ replacement: String) -> [Unicode.Scalar] {
        let p = Array(pattern.unicodeScalars), r = Array(replacement.unicodeScalars)
        guard !p.isEmpty, s.count >= p.count else { return s }
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(s.count)
        var i = 0
        while i < s.count {
            if i + p.count <= s.count, s[i] == p[0], s[i..<(i + p.count)].elementsEqual(p) {
                out.append(contentsOf: r)
                i += p.count
            } else {
                out.append(s[i])
                i += 1
            }
        }
        return out
    }

    /// `re.sub` of a two-character pattern: scan left to right; where s[i] and s[i+1] match,
    /// emit the replacement and continue after the pair (matches never overlap).
    static func substitutePairs(_ s: [Unicode.Scalar], first: (Unicode.Scalar) -> Bool, second: (Unicode.Scalar) -> Bool,
                                replacement: (Unicode.Scalar, Unicode.Scalar) -> [Unicode.Scalar]) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(s.count + s.count / 2)
        var i = 0
        while i < s.count {
            if i + 1 < s.count, first(s[i]), second(s[i + 1]) {
                out.append(contentsOf: replacement(s[i], s[i + 1]))
                i += 2
            } else {
                out.append(s[i])
                i += 1
            }
        }
        return out
    }

    /// `' '.join(line.split())` in Python: words separated by runs of `str.isspace()` characters.
    static func joinedWords(_ s: [Unicode.Scalar]) -> String {
        PythonWhitespace.split(s).map { String(String.UnicodeScalarView($0)) }.joined(separator: " ")
    }

    /// Rule 1's class: `{|}~`, `[\]^_\``, space to `&`, `(` to `+`, `:` to `@`, and `/`.
    @inline(__always)
    static func isPunctuation13a(_ c: Unicode.Scalar) -> Bool {
        switch c.value {
        case 0x7B...0x7E, 0x5B...0x60, 0x20...0x26, 0x28...0x2B, 0x3A...0x40, 0x2F: return true
        default: return false
        }
    }

    @inline(__always) static func isDigit(_ c: Unicode.Scalar) -> Bool { c.value >= 0x30 && c.value <= 0x39 }
    @inline(__always) static func isPeriodOrComma(_ c: Unicode.Scalar) -> Bool { c == "." || c == "," }
}

/// Python's `str.isspace()` and `str.split()` (no argument), which sacreBLEU uses everywhere.
public enum PythonWhitespace {
    /// The code points for which Python 3's `str.isspace()` is true.
    @inline(__always)
    public static func contains(_ c: Unicode.Scalar) -> Bool {
        switch c.value {
        case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000: return true
        default: return false
        }
    }

    /// The non-empty runs of non-whitespace scalars.
    public static func split<S: Collection>(_ s: S) -> [ArraySlice<Unicode.Scalar>] where S.Element == Unicode.Scalar {
        let scalars = Array(s)
        var words: [ArraySlice<Unicode.Scalar>] = []
        var start: Int?
        for (i, c) in scalars.enumerated() {
            if contains(c) {
                if let st = start { words.append(scalars[st..<i]); start = nil }
            } else if start == nil {
                start = i
            }
        }
        if let st = start { words.append(scalars[st..<scalars.count]) }
        return words
    }

    /// Python's `s.rstrip()`.
    public static func trimmingTrailing(_ s: String) -> String {
        var scalars = Array(s.unicodeScalars)
        while let last = scalars.last, contains(last) { scalars.removeLast() }
        return String(String.UnicodeScalarView(scalars))
    }
}
