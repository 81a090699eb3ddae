// FNV-1a, 64-bit: the fingerprint a checkpoint keeps of its training data, so that a resume
// on other data is refused. Not cryptographic; it only has to notice a different file.
struct FNV1a {
    private(set) var value: UInt64 = 0xCBF2_9CE4_8422_2325

    mutating func mix(_ x: UInt64) { value = (value ^ x) &* 0x0000_0100_0000_01B3 }
}
