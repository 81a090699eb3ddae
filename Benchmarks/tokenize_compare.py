"""Side-by-side tokenizer benchmark: `gpt bench tokenize` against tiktoken (GPT-2
ranks, encode_ordinary on 1 thread, encode_ordinary_batch on all threads, decode)
and Hugging Face `tokenizers` (BPE training with the same vocabulary size), on
the same file in the same run, printing the ratios (ours / theirs, >1 = faster).

    python3 Benchmarks/tokenize_compare.py [--input FILE] [--threads N] [--repeats R] [--gpt PATH]

Needs `pip install tiktoken tokenizers`; a missing peer is reported and skipped.
tiktoken cannot download here, so its Encoding is built from ../shared/data/gpt2.tiktoken."""
import argparse
import json
import os
import statistics
import subprocess
import time

from tiktoken_gpt2 import SHARED_DATA, gpt2_encoding

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def median_seconds(repeats, body):
    body()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        body()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def pieces(text, count):
    """The text cut at line ends into about `count` parts, for the batch API."""
    size = max(1, len(text) // count)
    parts, start = [], 0
    while start < len(text):
        end = text.find("\n", start + size)
        end = len(text) if end < 0 else end + 1
        parts.append(text[start:end])
        start = end
    return parts


def run_ours(args):
    command = [args.gpt, "bench", "tokenize", "--input", args.input, "--threads", str(args.threads),
               "--repeats", str(args.repeats), "--train-vocab-size", str(args.vocab_size), "--json"]
    env = dict(os.environ, GPT2_TOKENIZER_FILE=os.path.join(SHARED_DATA, "gpt2.tiktoken"))
    output = subprocess.run(command, check=True, capture_output=True, text=True, env=env).stdout
    print(output.rstrip())
    return json.loads(output.strip().splitlines()[-1])


def run_tiktoken(args, text, megabytes):
    enc = gpt2_encoding()
    ids = []

    def encode_one():
        ids[:] = enc.encode_ordinary(text)

    parts = pieces(text, 64)
    result = {
        "encode_mb_per_s": megabytes / median_seconds(args.repeats, encode_one),
        "encode_mb_per_s_all_threads": megabytes / median_seconds(
            args.repeats, lambda: enc.encode_ordinary_batch(parts, num_threads=args.threads)),
        "decode_mb_per_s": megabytes / median_seconds(args.repeats, lambda: enc.decode_bytes(ids)),
        "tokens": len(ids),
    }
    return result


def run_hf_training(args):
    os.environ["RAYON_NUM_THREADS"] = str(args.threads)  # before tokenizers starts its thread pool
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    def train():
        tokenizer = Tokenizer(models.BPE())
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        trainer = trainers.BpeTrainer(vocab_size=args.vocab_size, special_tokens=["<|endoftext|>"],
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
        tokenizer.train([args.input], trainer)

    return median_seconds(max(1, args.repeats // 2), train)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", default=os.path.join(SHARED_DATA, "gutenberg-selections.txt"))
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--vocab-size", type=int, default=4096)
    parser.add_argument("--gpt", default=os.path.join(ROOT, ".build", "release", "gpt"))
    args = parser.parse_args()

    with open(args.input, encoding="utf-8") as f:
        text = f.read()
    megabytes = len(text.encode("utf-8")) / 1e6
    print(f"input {args.input}: {megabytes:.2f} MB, threads {args.threads}, repeats {args.repeats}")

    ours = run_ours(args)
    rows = []
    try:
        theirs = run_tiktoken(args, text, megabytes)
        if theirs["tokens"] != ours["tokens"]:
            print(f"WARNING: token counts differ: ours {ours['tokens']}, tiktoken {theirs['tokens']}")
        for key, label in [("encode_mb_per_s", "encode MB/s, 1 thread"),
                           ("encode_mb_per_s_all_threads", f"encode MB/s, {args.threads} threads (tiktoken batch)"),
                           ("decode_mb_per_s", "decode MB/s")]:
            rows.append((label, ours[key], "tiktoken", theirs[key], ours[key] / theirs[key]))
    except ImportError:
        print("tiktoken is not installed: skipped")
    try:
        hf = run_hf_training(args)
        rows.append((f"BPE training s, vocab {args.vocab_size}", ours["train_seconds"], "HF tokenizers", hf,
                     hf / ours["train_seconds"]))
    except ImportError:
        print("tokenizers is not installed: skipped")

    print()
    print(f"{'measure':<44} {'swift-gpt':>10} {'peer':>14} {'peer value':>11} {'ratio':>7}")
    for label, mine, peer, value, ratio in rows:
        print(f"{label:<44} {mine:>10.3f} {peer:>14} {value:>11.3f} {ratio:>6.2f}x")
    print("ratio > 1: swift-gpt is faster (for training time: peer seconds / our seconds)")


if __name__ == "__main__":
    main()
