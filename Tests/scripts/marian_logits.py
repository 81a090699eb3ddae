# Loads a MarianMTModel directory (gpt convert --format hf of an encoder–decoder) with transformers
# and writes its logits for one padded batch, for MarianInteropTests.
# argv: MODEL_DIR BATCH.json OUT.json
#   BATCH.json: {"input_ids", "attention_mask", "decoder_input_ids", "decoder_attention_mask"}: [B, S] / [B, T] lists.
#   OUT.json:   {"logits": [B·T·V floats], "shape": [B, T, V], "transformers": version}.
# Exits non-zero (and the test fails) if the directory loads with a missing, unexpected or
# mismatched tensor: transformers would otherwise fill a missing one with random values.
import json
import sys

import torch
import transformers
from transformers import MarianMTModel

model, info = MarianMTModel.from_pretrained(sys.argv[1], output_loading_info=True)
model = model.float().eval()
problems = {key: list(info.get(key, [])) for key in ("missing_keys", "unexpected_keys", "mismatched_keys", "error_msgs")}
if any(problems.values()):
    sys.exit(f"MarianMTModel.from_pretrained({sys.argv[1]}) did not load every tensor: {problems}")
assert model.config.model_type == "marian", model.config.model_type

batch = {key: torch.tensor(value) for key, value in json.load(open(sys.argv[2])).items()}
with torch.no_grad():
    logits = model(**batch).logits
json.dump({"logits": logits.flatten().tolist(), "shape": list(logits.shape), "transformers": transformers.__version__},
          open(sys.argv[3], "w"))
