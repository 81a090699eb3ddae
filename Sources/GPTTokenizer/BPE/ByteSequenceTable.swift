// An open-addressing hash set of byte strings, numbered in insertion order. It is
// the rank table (token bytes -> rank) and the chunk cache's key store: lookups
// take a pointer and a length, so the hot path never builds an Array or String.
import Foundation

struct ByteSequenceTable {
    /// All keys back to back; key `k` is `storage[offsets[k] ..< offsets[k + 1]]`.
    private(set) var storage: [UInt8] = []
    private(set) var offsets: [Int] = [0]
    private var slots: [Int32]             // key index, or -1 when empty
    private var slotHashes: [UInt32]       // low hash bits of the slot's key, to skip most compares
    private var mask: Int

    var count: Int { offsets.count - 1 }

    init(minimumCapacity: Int = 16) {
        // Capped so a hint cannot overflow or preallocate gigabytes; the table grows on insert.
        var capacity = 16
        while capacity < min(minimumCapacity, 1 << 24) * 2 { capacity <<= 1 }
        slots = [Int32](repeating: -1, count: capacity)
        slotHashes = [UInt32](repeating: 0, count: capacity)
        mask = capacity - 1
    }

    /// The bytes of key `index`.
    func key(_ index: Int) -> ArraySlice<UInt8> { storage[offsets[index]..<offsets[index + 1]] }

    /// Index of the key equal to `bytes[0..<count]`, or -1.
    @inline(__always)
    func find(_ bytes: UnsafePointer<UInt8>, count: Int) -> Int {
        withView { $0.find(bytes, count: count) }
    }

    /// Runs `body` with a pointer view of the table, for lookups in a hot loop: each
    /// array is pinned once per call instead of once per lookup, which keeps reference
    /// counting (atomic, on arrays every encoding thread shares) out of the loop.
    @inline(__always)
    func withView<Result>(_ body: (View) throws -> Result) rethrows -> Result {
        try slots.withUnsafeBufferPointer { slots in
            try slotHashes.withUnsafeBufferPointer { hashes in
                try storage.withUnsafeBufferPointer { storage in
                    try offsets.withUnsafeBufferPointer { offsets in
                        try body(View(slots: slots, hashes: hashes, storage: storage, offsets: offsets, mask: mask))
                    }
                }
            }
        }
    }

    /// Read-only lookups through raw pointers; valid only inside `withView`.
    struct View {
        let slots: UnsafeBufferPointer<Int32>
        let hashes: UnsafeBufferPointer<UInt32>
        let storage: UnsafeBufferPointer<UInt8>
        let offsets: UnsafeBufferPointer<Int>
        let mask: Int

        @inline(__always)
        func find(_ bytes: UnsafePointer<UInt8>, count: Int) -> Int {
            let hash = ByteSequenceTable.hash(bytes, count: count)
            var slot = Int(truncatingIfNeeded: hash) & mask
            while true {
                let index = Int(slots[slot])
                if index < 0 { return -1 }
                if hashes[slot] == UInt32(truncatingIfNeeded: hash) {
                    let start = offsets[index]
                    if offsets[index + 1] - start == count, memcmp(storage.baseAddress! + start, bytes, count) == 0 {
                        return index
                    }
                }
                slot = (slot + 1) & mask
            }
        }
    }

    /// Adds `bytes` (non-empty: no token or chunk is empty) as key number `count`
    /// unless present; returns its index either way.
    @discardableResult
    mutating func insert(_ bytes: UnsafeBufferPointer<UInt8>) -> Int {
        precondition(!bytes.isEmpty, "empty keys are never stored")
        let existing = find(bytes.baseAddress!, count: bytes.count)
        if existing >= 0 { return existing }
        if (count + 1) * 2 > slots.count { grow() }
        let index = count
        storage.append(contentsOf: bytes)
        offsets.append(storage.count)
        place(index)
        return index
    }

    @discardableResult
    mutating func insert(_ bytes: [UInt8]) -> Int {
        bytes.withUnsafeBufferPointer { insert($0) }
    }

    /// Forgets every key, keeping the allocated capacity.
    mutating func removeAll() {
        storage.removeAll(keepingCapacity: true)
        offsets.removeAll(keepingCapacity: true)
        offsets.append(0)
        for i in slots.indices { slots[i] = -1 }
    }

    private mutating func place(_ index: Int) {
        let hash = storage.withUnsafeBufferPointer { storage in
            Self.hash(storage.baseAddress! + offsets[index], count: offsets[index + 1] - offsets[index])
        }
        var slot = Int(truncatingIfNeeded: hash) & mask
        while slots[slot] >= 0 { slot = (slot + 1) & mask }
        slots[slot] = Int32(index)
        slotHashes[slot] = UInt32(truncatingIfNeeded: hash)
    }

    private mutating func grow() {
        let capacity = slots.count * 2
        slots = [Int32](repeating: -1, count: capacity)
        slotHashes = [UInt32](repeating: 0, count: capacity)
        mask = capacity - 1
        for index in 0..<count { place(index) }
    }

    /// A fast non-cryptographic hash: 8-byte words folded with a multiply-xorshift.
    @inline(__always)
    static func hash(_ bytes: UnsafePointer<UInt8>, count: Int) -> UInt64 {
        var h: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(count)
        var i = 0
        let raw = UnsafeRawPointer(bytes)
        while i + 8 <= count {
            h = (h ^ raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* 0xBF58_476D_1CE4_E5B9
            h ^= h >> 29
            i += 8
        }
        if i < count {
            var tail: UInt64 = 0
            var shift: UInt64 = 0
            while i < count {
                tail |= UInt64(bytes[i]) << shift
                shift += 8
                i += 1
            }
            h = (h ^ tail) &* 0x94D0_49BB_1331_11EB
        }
        h ^= h >> 32
        h = h &* 0xD6E8_FEB8_6659_FD93
        return h ^ (h >> 32)
    }
}
