# Scores corpora with sacreBLEU's defaults for TranslationMetricsTests.
# Input (argv[1]): JSON {"corpora": [{"hypotheses": [...], "references": [...]}...], "lines": [...]}.
# Output (stdout): JSON {"corpora": [{"bleu", "counts", "totals", "precisions", "bp", "sys_len", "ref_len", "chrf", "text"}...],
#                       "tokenized": [13a tokenisation of each of "lines" after rstrip, as BLEU preprocesses]}.
import json
import sys

import sacrebleu
from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

request = json.load(open(sys.argv[1], encoding="utf-8"))
results = []
for corpus in request["corpora"]:
    hyps, refs = corpus["hypotheses"], corpus["references"]
    bleu = sacrebleu.corpus_bleu(hyps, [refs])
    chrf = sacrebleu.corpus_chrf(hyps, [refs])
    results.append({"bleu": bleu.score, "counts": list(bleu.counts), "totals": list(bleu.totals),
                    "precisions": list(bleu.precisions), "bp": bleu.bp, "sys_len": bleu.sys_len,
                    "ref_len": bleu.ref_len, "chrf": chrf.score, "text": str(bleu)})
tokenizer = Tokenizer13a()
json.dump({"corpora": results, "tokenized": [tokenizer(line.rstrip()) for line in request["lines"]],
           "version": sacrebleu.__version__}, sys.stdout)
