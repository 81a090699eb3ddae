// SHA256 and Download moved to GPTIO (file and network I/O) and ConcurrentSlots to
// GPTConcurrency; GPTData and the CLI reached them through `import GPTTokenizer`,
// so that import still provides exactly these three names.
@_exported import struct GPTIO.SHA256
@_exported import enum GPTIO.Download
@_exported import class GPTConcurrency.ConcurrentSlots
