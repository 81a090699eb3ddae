// SHA256 moved to GPTIO (checking files), Download to GPTNetwork (kept apart so the
// model side, which imports GPTIO, links no HTTP client) and ConcurrentSlots to
// GPTConcurrency. GPTData and the CLI reached them through `import GPTTokenizer`, so
// that import still provides exactly these three names.
@_exported import struct GPTIO.SHA256
@_exported import enum GPTNetwork.Download
@_exported import class GPTConcurrency.ConcurrentSlots
