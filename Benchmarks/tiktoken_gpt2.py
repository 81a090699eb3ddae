"""The GPT-2 encoding for tiktoken, built offline from ../shared/data/gpt2.tiktoken
(tiktoken cannot download here): the original GPT-2 split pattern and
<|endoftext|> = 50256, exactly as the shared test vectors were made."""
import base64
import os

import tiktoken

GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
SHARED_DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data")


def gpt2_encoding(path=os.path.join(SHARED_DATA, "gpt2.tiktoken")):
    ranks = {}
    with open(path, "rb") as f:
        for line in f:
            if line.strip():
                token, rank = line.split()
                ranks[base64.b64decode(token)] = int(rank)
    return tiktoken.Encoding(name="gpt2-local", pat_str=GPT2_PATTERN, mergeable_ranks=ranks,
                             special_tokens={"<|endoftext|>": len(ranks)})
