"""Writes extra GPT-2 tokenizer vectors (same format as
../shared/data/gpt2-tokenizer-vectors.json) made by tiktoken, for the parity test:

    python3 Benchmarks/make_tokenizer_vectors.py /tmp/extra-vectors.json
    GPT_TOKENIZER_VECTORS=/tmp/extra-vectors.json swift test -c release --filter GPT2ParityTests

The texts stress what short natural text does not: long chunks (the heap merge
path), random mixtures of scripts, whitespace kinds, digits and punctuation."""
import json
import random
import sys

from tiktoken_gpt2 import gpt2_encoding

ALPHABET = (list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
            + list(" \t\n\r\x0b\x0c'\"!?.,;:-_()[]{}<>/\\|@#$%^&*+=~`")
            + ["\u00a0", "\u2003", "\u3000", "\u200b", "\u0301", "\u00e9", "\u00df", "\u4e2d", "\u6587",
               "\u0434", "\u03b1", "\u0661", "\u00b2", "\u2167", "\U0001F600", "\U0001F44D\U0001F3FD",
               "\ufffd", "\ufeff", "\x00", "\x1b", "\x1c", "\x85", "'s", "'ll", "'re", " 's", "<|endoftext|>"])


def main(out_path, count=400, seed=1234):
    rng = random.Random(seed)
    enc = gpt2_encoding()
    texts = []
    for _ in range(count):
        length = rng.choice([1, 2, 5, 20, 80, 300])
        texts.append("".join(rng.choice(ALPHABET) for _ in range(length)))
    # Long single chunks: runs of one class that BPE must merge piece by piece.
    for unit in ["a", "ab", "xyz", "-", "=-", "!?", "1", "12", "\u4e2d", "\U0001F600", "  ", "\n\n "]:
        for repeat in [17, 64, 333, 1000]:
            texts.append(unit * repeat)
    texts.append("".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(5000)))
    vectors = []
    for text in texts:
        vector = {"text": text, "ids": enc.encode_ordinary(text)}
        if "<|endoftext|>" in text:
            vector["ids_special"] = enc.encode(text, allowed_special={"<|endoftext|>"})
        vectors.append(vector)
    with open(out_path, "w") as f:
        json.dump(vectors, f, ensure_ascii=True)
    print(f"{out_path}: {len(vectors)} vectors")


if __name__ == "__main__":
    main(sys.argv[1])
