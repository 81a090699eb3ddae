# Loads a MarianMTModel directory (gpt convert --format hf of an encoder–decoder) with transformers
# and writes its logits for one padded batch, for MarianInteropTests.
# argv: MODEL_DIR BATCH.json OUT.json [--create CONFIG.json]
#   BATCH.json: {"input_ids", "attention_mask", "decoder_input_ids", "decoder_attention_mask"}: [B, S] / [B, T] lists.
#   OUT.json:   {"logits": [B·T·V floats], "shape": [B, T, V], "transformers": version}.
#   --create: first build a MarianMTModel from CONFIG.json (MarianConfig's keyword arguments), torch seed 0,
#   every parameter moved by U(-0.2, 0.2) (LayerNorm gains and biases too, so none is trivial; the fixed
#   sinusoidal table and the zero final_logits_bias buffer untouched), and save it with save_pretrained
#   into MODEL_DIR: a directory transformers itself wrote, for our reader.
# Exits non-zero (and the test fails) if the directory loads with a missing, unexpected or
# mismatched tensor: transformers would otherwise fill a missing one with random values.
import json
import sys

import torch
import transformers
from transformers import MarianConfig, MarianMTModel

if sys.argv[4:5] == ["--create"]:
    torch.manual_seed(0)
    created = MarianMTModel(MarianConfig(**json.load(open(sys.argv[5]))))
    with torch.no_grad():
        for name, parameter in created.named_parameters():  # tied tables once
            if "embed_positions" not in name:
                parameter.add_(torch.rand_like(parameter) * 0.4 - 0.2)
    created.save_pretrained(sys.argv[1])

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
