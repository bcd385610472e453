"""Networks for irregular multi-band light curves (plain ``nn.Module``s, no training logic).

Input is the dict produced by :func:`astrotorch.lightcurves.batching.pad_encoded`:
``time`` (B, L) days since the first observation, ``band`` (B, L) int, ``obs`` (B, L, F) normalised
flux, error (and optional phase features), ``mask`` (B, L) True on real observations, ``length`` (B,),
``static`` (B, S) per-object inputs (standardised by the model: brightness, counts, the period
search's period/power/Fourier shape ...), which go through their own MLP branch before joining the
pooled sequence representation. Optional ``recon_mask`` (B, L) True on observations hidden for masked
reconstruction (self-supervised pretraining).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence


def _gelu(x: torch.Tensor) -> torch.Tensor:
    """GELU passed as a plain function on purpose: nn.TransformerEncoderLayer only takes its fused
    inference "fast path" for the built-in relu/gelu, and that path (with or without nested tensors)
    measured 2–4× *slower* than the regular path on CPU for padded light-curve batches (bench note in
    docs/results/lightcurves.md). The regular path still runs scaled_dot_product_attention."""
    return nn.functional.gelu(x)


class ContinuousTimeEncoding(nn.Module):
    """Sinusoidal encoding of real observation times (days): sin/cos(2π t / P_k) for ``d_model/2``
    periods P_k spaced geometrically between ``min_period`` and ``max_period`` days — the
    transformer's positional encoding evaluated at the actual (irregular) times instead of indices."""

    def __init__(self, d_model: int, min_period: float = 0.1, max_period: float = 3000.0) -> None:
        super().__init__()
        if d_model % 2:
            raise ValueError(f"d_model must be even for sin/cos pairs, got {d_model}")
        periods = torch.logspace(math.log10(min_period), math.log10(max_period), d_model // 2)
        self.register_buffer("omega", 2.0 * math.pi / periods, persistent=False)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        arg = t.unsqueeze(-1) * self.omega
        return torch.cat([torch.sin(arg), torch.cos(arg)], dim=-1)


def masked_mean(h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over valid positions: h (B, L, D), mask (B, L) True = valid."""
    m = mask.unsqueeze(-1).to(h.dtype)
    return (h * m).sum(1) / m.sum(1).clamp_min(1.0)


class AttentionPooling(nn.Module):
    """Softmax-weighted sum over valid positions with learned scores (padding gets weight 0)."""

    def __init__(self, d_model: int) -> None:
        super().__init__()
        self.score = nn.Linear(d_model, 1)

    def forward(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        s = self.score(h).squeeze(-1).masked_fill(~mask, float("-inf"))
        w = torch.softmax(s, dim=1).unsqueeze(-1)
        return (w * h).sum(1)


def _head(d_in: int, d_hidden: int, d_out: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_in, d_hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(d_hidden, d_out))


def static_branch(n_static: int, d: int, dropout: float) -> nn.Sequential:
    """Two-layer MLP over the per-object inputs: the period/Fourier-shape features are tabular and
    interact (period × R21 separates RRab from RRc), which one linear map cannot express."""
    return nn.Sequential(nn.Linear(n_static, d), nn.GELU(), nn.Dropout(dropout), nn.Linear(d, d), nn.GELU())


class LightCurveTransformerNet(nn.Module):
    """Transformer encoder over observations (tokens) of an irregular multi-band light curve.

    token = Linear(obs features) + band embedding + continuous-time encoding(t); padded positions are
    excluded with ``src_key_padding_mask``; the pooled representation (masked mean or attention
    pooling) is concatenated with an embedding of the per-object static inputs and fed to the head
    (class logits (B, C) or regression values (B, D)). ``reconstruct`` predicts the normalised flux of
    hidden observations at their real times and bands (self-supervised pretraining).
    """

    def __init__(self, n_bands: int, n_obs_features: int, n_static: int, output_dim: int, d_model: int = 64,
                 n_heads: int = 4, n_layers: int = 2, dim_feedforward: int = 128, dropout: float = 0.1,
                 pooling: str = "attention", min_period: float = 0.1, max_period: float = 3000.0) -> None:
        super().__init__()
        if pooling not in ("attention", "mean"):
            raise ValueError(f"pooling must be 'attention' or 'mean', got {pooling!r}")
        self.obs_proj = nn.Linear(n_obs_features, d_model)
        self.band_emb = nn.Embedding(n_bands, d_model)
        self.time_enc = ContinuousTimeEncoding(d_model, min_period, max_period)
        self.time_proj = nn.Linear(d_model, d_model)
        self.mask_token = nn.Parameter(torch.zeros(d_model))
        layer = nn.TransformerEncoderLayer(d_model, n_heads, dim_feedforward, dropout, batch_first=True,
                                           activation=_gelu, norm_first=False)
        self.encoder = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        for lyr in self.encoder.layers:
            # no dropout on the (L×L) attention weights: it forces PyTorch's unfused "math" attention
            # (and a Bernoulli draw per weight), ~1.5× slower per step on CPU; the feed-forward and
            # residual dropouts still regularise
            lyr.self_attn.dropout = 0.0
        self.pool = AttentionPooling(d_model) if pooling == "attention" else None
        self.static_mlp = static_branch(n_static, d_model, dropout) if n_static else None
        self.head = _head(d_model * (2 if n_static else 1), d_model, output_dim, dropout)
        self.recon_head = _head(d_model, d_model, 1, 0.0)

    def encode(self, x: dict[str, torch.Tensor]) -> torch.Tensor:
        """Per-observation representations (B, L, d_model)."""
        tok = self.obs_proj(x["obs"])
        recon_mask = x.get("recon_mask")
        if recon_mask is not None:  # hidden observations keep time and band, lose value and error
            tok = torch.where(recon_mask.unsqueeze(-1), self.mask_token.to(tok.dtype), tok)
        tok = tok + self.band_emb(x["band"]) + self.time_proj(self.time_enc(x["time"]))
        return self.encoder(tok, src_key_padding_mask=~x["mask"])

    def pooled(self, x: dict[str, torch.Tensor]) -> torch.Tensor:
        """Pooled light-curve embedding concatenated with the static embedding (B, d_model·k)."""
        h = self.encode(x)
        mask = x["mask"]
        z = self.pool(h, mask) if self.pool is not None else masked_mean(h, mask)
        if self.static_mlp is not None:
            z = torch.cat([z, self.static_mlp(x["static"])], dim=-1)
        return z

    def forward(self, x: dict[str, torch.Tensor]) -> torch.Tensor | dict[str, torch.Tensor]:
        if x.get("recon_mask") is not None:
            return {"recon": self.reconstruct(x)}
        return self.head(self.pooled(x))

    def reconstruct(self, x: dict[str, torch.Tensor]) -> torch.Tensor:
        """Predicted normalised flux at every position (B, L); meaningful where ``recon_mask``."""
        h = self.encode(x)
        return self.recon_head(h).squeeze(-1)

    def encoder_parameters(self) -> list[nn.Parameter]:
        """Parameters shared with pretraining (everything but the task head and static branch)."""
        skip = {id(p) for m in (self.head,) for p in m.parameters()}
        if self.static_mlp is not None:
            skip |= {id(p) for p in self.static_mlp.parameters()}
        return [p for p in self.parameters() if id(p) not in skip]


class LightCurveGRUNet(nn.Module):
    """RAPID-like recurrent baseline (Muthukrishna et al. 2019): a GRU over observations in time order.

    Each step sees the observation features, a one-hot band, log(1 + Δt) to the previous observation
    and t/100 (days); padded steps are skipped with ``pack_padded_sequence``; the last hidden state
    plus the static embedding go to the head.
    """

    def __init__(self, n_bands: int, n_obs_features: int, n_static: int, output_dim: int, hidden: int = 64,
                 n_layers: int = 2, dropout: float = 0.1) -> None:
        super().__init__()
        self.n_bands = n_bands
        self.inp = nn.Linear(n_obs_features + n_bands + 2, hidden)
        self.gru = nn.GRU(hidden, hidden, n_layers, batch_first=True, dropout=dropout if n_layers > 1 else 0.0)
        self.static_mlp = static_branch(n_static, hidden, dropout) if n_static else None
        self.head = _head(hidden * (2 if n_static else 1), hidden, output_dim, dropout)

    def forward(self, x: dict[str, torch.Tensor]) -> torch.Tensor:
        t = x["time"]
        dt = torch.diff(t, dim=1, prepend=t[:, :1]).clamp_min(0.0)
        onehot = nn.functional.one_hot(x["band"], self.n_bands).to(t.dtype)
        feats = torch.cat([x["obs"], onehot, torch.log1p(dt).unsqueeze(-1), (t / 100.0).unsqueeze(-1)], dim=-1)
        h = torch.relu(self.inp(feats))
        packed = pack_padded_sequence(h, x["length"].cpu().clamp_min(1), batch_first=True, enforce_sorted=False)
        _, h_n = self.gru(packed)
        z = h_n[-1]
        if self.static_mlp is not None:
            z = torch.cat([z, self.static_mlp(x["static"])], dim=-1)
        return self.head(z)
