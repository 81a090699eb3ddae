"""Checks that our GPT-2 split pattern classifies every Unicode scalar as tiktoken
does (letters, numbers, whitespace, other: Swift's Unicode tables against the Rust
regex crate's). Each scalar c above ASCII is encoded in the contexts x c x,
1 c 1, c before an ideographic space, and c before two spaces; the ids of
`gpt tokenizer encode` must equal tiktoken's.

    python3 Benchmarks/check_all_code_points.py [--gpt .build/release/gpt]

If they differ, bisection names one scalar that encodes differently.

Takes about 15 seconds (14 M characters, 26 M tokens)."""
import argparse
import os
import subprocess
import tempfile

from tiktoken_gpt2 import SHARED_DATA, gpt2_encoding

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def contexts(c):
    ch = chr(c)
    return "x" + ch + "x 1" + ch + "1 " + ch + "\u3000" + ch + "  "


def our_ids(gpt, text):
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".txt") as f:
        f.write(text)
        f.flush()
        env = dict(os.environ, GPT2_TOKENIZER_FILE=os.path.join(SHARED_DATA, "gpt2.tiktoken"))
        output = subprocess.run([gpt, "tokenizer", "encode", "--tokenizer", "gpt2", "--input", f.name],
                                check=True, capture_output=True, text=True, env=env).stdout
    return [int(x) for x in output.split()]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gpt", default=os.path.join(ROOT, ".build", "release", "gpt"))
    args = parser.parse_args()
    enc = gpt2_encoding()

    def differs(scalars):
        text = "".join(contexts(c) for c in scalars)
        return our_ids(args.gpt, text) != enc.encode_ordinary(text)

    scalars = [c for c in range(0x80, 0x110000) if not 0xD800 <= c <= 0xDFFF]
    if not differs(scalars):
        print(f"identical: {len(scalars)} scalars in 4 contexts each")
        return
    while len(scalars) > 1:  # bisect to one scalar whose contexts encode differently
        half = scalars[:len(scalars) // 2]
        scalars = half if differs(half) else scalars[len(scalars) // 2:]
    raise SystemExit(f"first difference found at U+{scalars[0]:04X}")


if __name__ == "__main__":
    main()
