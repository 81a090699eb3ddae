"""Our encoder-decoder Transformer (Sources/GPTCore/Seq2Seq) written with PyTorch's nn.Transformer:
the one definition behind the parity fixtures (Tests/scripts/make_seq2seq_reference.py) and the
PyTorch peers of the translation benchmarks (Benchmarks/seq2seq_train_torch.py, seq2seq_step_torch.py).

Embedding tables scaled by sqrt(d_model) plus the sinusoidal table of "Attention Is All You Need"
sec. 3.5 (pe[t, 2i] = sin(t / 10000^(2i/d)), pe[t, 2i+1] = cos(...)), dropout on the embeddings,
nn.Transformer (post-LN unless norm_first, ReLU, batch_first; encoder.norm and decoder.norm removed
when final_norm is false), and an output projection tied to the target table (logits = h @ E.T, no
bias). With share, one table `shared.weight` is source embedding, target embedding and output
projection; otherwise `src_embed.weight` and `tgt_embed.weight`. In our checkpoints the
nn.Transformer's parameters drop their "transformer." prefix (ours_name / torch_name).
"""
import math

import torch
import torch.nn as nn


def sinusoidal(n, d):
    """[n, d] float32, computed in float64 as our Embedding.sinusoidalTable does."""
    pe = torch.zeros(n, d, dtype=torch.float64)
    pos = torch.arange(n, dtype=torch.float64).unsqueeze(1)
    angle = pos / torch.pow(10000.0, torch.arange(0, d, 2, dtype=torch.float64) / d)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle[:, : d // 2])
    return pe.float()


class Seq2Seq(nn.Module):
    def __init__(self, vocab, d, heads, ff, enc, dec, positions, dropout=0.0, norm_first=False, final_norm=True,
                 share=True, layer_norm_eps=1e-5):
        super().__init__()
        self.d, self.share = d, share
        # Tables first, then the transformer: the order fixes what torch.manual_seed initialises.
        if share:
            self.shared = nn.Embedding(vocab, d)
        else:
            self.src_embed = nn.Embedding(vocab, d)
            self.tgt_embed = nn.Embedding(vocab, d)
        self.transformer = nn.Transformer(d_model=d, nhead=heads, num_encoder_layers=enc, num_decoder_layers=dec,
                                          dim_feedforward=ff, dropout=dropout, activation="relu", batch_first=True,
                                          norm_first=norm_first, layer_norm_eps=layer_norm_eps)
        if not final_norm:
            self.transformer.encoder.norm = None
            self.transformer.decoder.norm = None
        self.drop = nn.Dropout(dropout)
        self.register_buffer("pe", sinusoidal(positions, d), persistent=False)

    @classmethod
    def from_config(cls, cfg, dropout):
        """From our config.json (Seq2SeqConfig's keys)."""
        return cls(cfg["vocab_size"], cfg["d_model"], cfg["n_head"], cfg["dim_feedforward"], cfg["num_encoder_layers"],
                   cfg["num_decoder_layers"], cfg["max_position_embeddings"], dropout=dropout,
                   norm_first=cfg.get("norm_first", False), final_norm=cfg.get("final_norm", True),
                   share=cfg.get("share_embeddings", True), layer_norm_eps=cfg.get("layer_norm_eps", 1e-5))

    def tables(self):
        return (self.shared, self.shared) if self.share else (self.src_embed, self.tgt_embed)

    def forward(self, src, tgt, src_pad, tgt_pad):
        """src [B, S], tgt [B, T] ids; src_pad [B, S], tgt_pad [B, T] True at padding -> logits [B, T, V]."""
        es, et = self.tables()
        scale = math.sqrt(self.d)
        x = self.drop(es(src) * scale + self.pe[: src.shape[1]])
        y = self.drop(et(tgt) * scale + self.pe[: tgt.shape[1]])
        t = tgt.shape[1]
        causal = torch.triu(torch.ones(t, t, dtype=torch.bool), diagonal=1)
        h = self.transformer(x, y, tgt_mask=causal, src_key_padding_mask=src_pad,
                             tgt_key_padding_mask=tgt_pad, memory_key_padding_mask=src_pad)
        return h @ et.weight.T


def ours_name(torch_name):
    return torch_name[len("transformer."):] if torch_name.startswith("transformer.") else torch_name


def torch_name(ours):
    return ours if ours in ("shared.weight", "src_embed.weight", "tgt_embed.weight") else "transformer." + ours
