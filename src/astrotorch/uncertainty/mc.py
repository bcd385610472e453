"""Fast, vectorised Monte Carlo (MC dropout) inference.

astroNN predicts with Bayesian networks by running the network ``mc_num`` times in a Python loop.
Here the ``n_samples`` passes are folded into the batch axis instead: every input row is repeated
``n_samples`` times, the network runs once over ``batch × n_samples`` rows, and the outputs are
reshaped to ``(n_samples, batch, ...)`` so mean and variance are tensor reductions. MC layers
(:mod:`astrotorch.nn.layers`) draw an independent mask per row, so each repeated row is an
independent MC sample.

Two refinements:

* If the network defines ``mc_split() -> (deterministic_prefix, stochastic_rest)``, the prefix runs
  once per input and only its output is repeated; for ApogeeBCNN this skips ``n_samples - 1`` passes
  of the first convolution over the 7514-pixel spectrum. A plain ``nn.Sequential`` is split
  automatically before its first stochastic child. A ``stochastic_rest`` with a method
  ``repeat_forward(h, n)`` is given the unrepeated prefix output and the number of samples, and
  returns what ``stochastic_rest`` would return for ``h`` repeated ``n`` times sample-major (so it
  can repeat and apply its first dropout mask in one pass).
* ``max_rows`` bounds the rows in one forward pass (memory; by default chosen from the input size
  and device); the work is then chunked over inputs and, if needed, over samples, without
  changing the statistics.

Output conventions follow docs/CONTRACT.md: a tensor (deterministic head), or a tuple
``(mean, log_variance)`` for heteroscedastic regression / ``(logits, logit_log_variance)`` for
Bayesian classification.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

from astrotorch.errors import ConfigError, EmptyDatasetError, InputValidationError, ShapeMismatchError
from astrotorch.nn import fused

Task = Literal["regression", "classification"]


@dataclass
class MCResult:
    """Summary of ``n_samples`` Monte Carlo forward passes (tensors on the input's device).

    Regression
        ``mean``: mean over samples of the predicted mean, ``(N, D)``;
        ``model_var``: variance over samples of the predicted mean (epistemic);
        ``predictive_var``: mean over samples of ``exp(log_variance)`` (aleatoric), zeros for a
        network without a variance head.
    Classification
        ``mean`` and ``probs``: mean over samples of ``softmax(logits + noise)``, ``(N, C)``, with
        ``noise ~ N(0, exp(logit_log_variance))`` when the network has a variance head;
        ``model_var``: variance over samples of those per-sample probabilities (epistemic);
        ``predictive_var``: mean over samples of ``p (1 - p)`` (the label's Bernoulli variance), so
        that ``total_var = probs (1 - probs)`` by the law of total variance;
        ``entropy``: entropy of ``probs`` (total, nats); ``mutual_information``: ``entropy`` minus the
        mean per-sample entropy (the epistemic part, BALD).

    ``samples`` holds the per-sample outputs ``(n_samples, N, ...)`` (predicted means, or
    probabilities) only when requested with ``return_samples=True``.
    """

    mean: Tensor
    model_var: Tensor
    predictive_var: Tensor
    n_samples: int
    task: str = "regression"
    probs: Tensor | None = None
    entropy: Tensor | None = None
    mutual_information: Tensor | None = None
    samples: Tensor | None = None

    @property
    def total_var(self) -> Tensor:
        """``model_var + predictive_var``."""
        return self.model_var + self.predictive_var

    @property
    def total_std(self) -> Tensor:
        """Square root of :attr:`total_var`."""
        return self.total_var.sqrt()

    @property
    def model_std(self) -> Tensor:
        """Square root of :attr:`model_var`."""
        return self.model_var.sqrt()

    @property
    def predictive_std(self) -> Tensor:
        """Square root of :attr:`predictive_var`."""
        return self.predictive_var.sqrt()


# ---------------------------------------------------------------------------- module helpers
def is_stochastic(module: nn.Module) -> bool:
    """Whether a module draws random numbers at inference (its ``stochastic`` attribute is true)."""
    return bool(getattr(module, "stochastic", False))


def find_first_stochastic(module: nn.Module) -> tuple[str, nn.Module] | None:
    """``(qualified name, module)`` of the first stochastic submodule in registration order, or ``None``.

    Registration order is definition order in ``__init__``, which for sequential architectures is
    execution order; for others treat the answer as a hint, and define ``mc_split`` explicitly.
    """
    for name, sub in module.named_modules():
        if sub is not module and is_stochastic(sub):
            return name, sub
    return None


def has_stochastic_layers(module: nn.Module) -> bool:
    """Whether any submodule (or the module itself) is stochastic at inference."""
    return any(is_stochastic(m) for m in module.modules())


def split_at_first_stochastic(seq: nn.Sequential) -> tuple[nn.Sequential, nn.Sequential]:
    """Split a ``nn.Sequential`` before its first child that contains a stochastic layer.

    Architectures built from a Sequential can implement ``mc_split`` as
    ``return split_at_first_stochastic(self.body)``. The two halves share the original modules
    (no copy), so weights stay tied.
    """
    if not isinstance(seq, nn.Sequential):
        raise InputValidationError(
            f"split_at_first_stochastic needs an nn.Sequential, got {type(seq).__name__}"
        )
    children = list(seq.children())
    cut = next((i for i, child in enumerate(children) if has_stochastic_layers(child)), len(children))
    return nn.Sequential(*children[:cut]), nn.Sequential(*children[cut:])


# ---------------------------------------------------------------------------- tree helpers
def _map(obj: Any, fn: Callable[[Tensor], Tensor]) -> Any:
    """Apply ``fn`` to every tensor in a tensor / dict / tuple / list structure."""
    if isinstance(obj, Tensor):
        return fn(obj)
    if isinstance(obj, Mapping):
        return {k: _map(v, fn) for k, v in obj.items()}
    if isinstance(obj, (tuple, list)):
        return type(obj)(_map(v, fn) for v in obj)
    return obj


def _tensors(obj: Any) -> Iterator[Tensor]:
    if isinstance(obj, Tensor):
        yield obj
    elif isinstance(obj, Mapping):
        for v in obj.values():
            yield from _tensors(v)
    elif isinstance(obj, (tuple, list)):
        for v in obj:
            yield from _tensors(v)


def _repeat_samples(obj: Any, n: int) -> Any:
    """(B, ...) -> (n * B, ...) laid out sample-major, so ``.view(n, B, ...)`` recovers the samples."""
    return _map(obj, lambda t: t.unsqueeze(0).expand(n, *t.shape).reshape(n * t.shape[0], *t.shape[1:]))


def _rows(obj: Any, start: int, stop: int) -> Any:
    return _map(obj, lambda t: t[start:stop])


def _to_tensor(x: Any, dtype: torch.dtype, device: torch.device, what: str) -> Any:
    """Convert numpy arrays (also inside dicts) to tensors; tensors stay where they are."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, np.ndarray):
        if not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_):
            raise InputValidationError(f"{what} must be numeric, got dtype {x.dtype}")
        return torch.as_tensor(x, dtype=dtype if np.issubdtype(x.dtype, np.floating) else None, device=device)
    if isinstance(x, Mapping):
        return {k: _to_tensor(v, dtype, device, f"{what}[{k!r}]") for k, v in x.items()}
    raise InputValidationError(
        f"{what} must be a tensor, a numpy array or a dict of them, got {type(x).__name__}"
    )


def _batch_size(x: Any) -> int:
    tensors = list(_tensors(x))
    if not tensors:
        raise InputValidationError("x holds no tensor")
    sizes = set()
    for t in tensors:
        if t.ndim == 0:
            raise InputValidationError("every input needs a leading batch axis, got a 0-d tensor")
        sizes.add(int(t.shape[0]))
    if len(sizes) != 1:
        raise ShapeMismatchError(f"all inputs must share the batch size, got sizes {sorted(sizes)}")
    return sizes.pop()


def _network_device_dtype(network: nn.Module, fallback: torch.device) -> tuple[torch.device, torch.dtype]:
    """Device and floating dtype of the network's first parameter (or floating buffer)."""
    for p in network.parameters():
        if p.is_floating_point():
            return p.device, p.dtype
    for b in network.buffers():
        if b.is_floating_point():
            return b.device, b.dtype
    return fallback, torch.get_default_dtype()


def _check_x_err(x: Any, x_err: Any) -> None:
    if isinstance(x, Tensor):
        if not isinstance(x_err, Tensor):
            raise InputValidationError("x_err must be a tensor like x")
        if x_err.shape != x.shape:
            raise ShapeMismatchError(f"x_err has shape {tuple(x_err.shape)} but x has shape {tuple(x.shape)}")
    elif isinstance(x, Mapping):
        if not isinstance(x_err, Mapping):
            raise InputValidationError("x is a dict, so x_err must be a dict with (some of) the same keys")
        unknown = set(x_err) - set(x)
        if unknown:
            raise ShapeMismatchError(f"x_err has keys {sorted(unknown)} that x does not have")
        for k, e in x_err.items():
            if not isinstance(e, Tensor) or e.shape != x[k].shape:
                raise ShapeMismatchError(f"x_err[{k!r}] must be a tensor of shape {tuple(x[k].shape)}")
    if any(bool((t < 0).any()) for t in _tensors(x_err)):
        raise InputValidationError("x_err must be non-negative (it is a standard deviation)")


def _add_input_noise(x: Any, x_err: Any) -> Any:
    """x + N(0, x_err²); missing errors (NaN) count as zero error."""
    if isinstance(x, Tensor):
        err = torch.nan_to_num(x_err, nan=0.0)
        return x + torch.randn_like(x) * err
    return {k: (_add_input_noise(v, x_err[k]) if k in x_err else v) for k, v in x.items()}


def _split_output(out: Any) -> tuple[Tensor, Tensor | None]:
    if isinstance(out, Tensor):
        return out, None
    if isinstance(out, (tuple, list)) and len(out) == 2 and all(isinstance(o, Tensor) for o in out):
        if out[0].shape != out[1].shape:
            raise ShapeMismatchError(
                f"network returned (mean, log_variance) of different shapes {tuple(out[0].shape)} "
                f"and {tuple(out[1].shape)}"
            )
        return out[0], out[1]
    raise InputValidationError(
        "network output must be a tensor or a (mean, log_variance) tuple of tensors (docs/CONTRACT.md), "
        f"got {type(out).__name__}"
    )


# ---------------------------------------------------------------------------- chunking
#: elements of the repeated (batch x n_samples) input per forward pass with ``max_rows="auto"``.
#: On CPU, with the eager kernels of astrotorch.nn.fused and the blocked APOGEE trunk, passes of ~8 M
#: elements (32 MiB of float32 input; 557 ApogeeBCNN rows) were the fastest measured on this
#: machine's CPU (128 spectra x 100 samples, 1 thread: 1.24 CPU-s against 1.33 at 4 M and 1.61 at
#: 1 M; 16 M gave 1.22 for twice the memory). Small inputs (tabular, a few features) go in one pass,
#: which is where removing the Python loop pays. On accelerators, per-launch overhead dominates and
#: larger passes win, bounded here at 128 MiB of float32 input to leave room for the activations.
AUTO_ELEMENTS_CPU = 1 << 23
AUTO_ELEMENTS_ACCELERATOR = 1 << 25


def _resolve_max_rows(max_rows: int | str | None, per_row: int, device: torch.device, total: int) -> int:
    if max_rows is None:
        return max(1, total)
    if max_rows == "auto":
        budget = AUTO_ELEMENTS_CPU if device.type == "cpu" else AUTO_ELEMENTS_ACCELERATOR
        return max(1, budget // max(1, per_row))
    return int(max_rows)


# ---------------------------------------------------------------------------- main entry
def mc_predict(
    network: nn.Module,
    x: Any,
    n_samples: int = 100,
    task: Task | str = "regression",
    x_err: Any = None,
    max_rows: int | Literal["auto"] | None = "auto",
    return_samples: bool = False,
) -> MCResult:
    """Monte Carlo prediction in one vectorised forward pass over ``batch × n_samples`` rows.

    Parameters
    ----------
    network:
        A ``torch.nn.Module``; put in ``eval()`` for the call (MC layers stay stochastic there by
        design; plain ``nn.Dropout`` does not) and restored to its previous mode afterwards.
    x:
        Input tensor ``(N, ...)`` or dict of tensors sharing ``N`` (numpy arrays are converted).
    n_samples:
        Number of MC samples per input.
    task:
        ``"regression"`` or ``"classification"`` (outputs are logits).
    x_err:
        Optional input standard deviation, same structure and shape as ``x`` (a dict may hold a
        subset of the keys). Each MC sample then sees ``x + N(0, x_err²)``, which propagates input
        errors; the network's ``mc_split`` shortcut is not used in that case because the noise
        enters before the deterministic prefix.
    max_rows:
        Upper bound on the rows of one forward pass. ``"auto"`` (default) bounds the number of
        elements of the repeated tensor per pass (``AUTO_ELEMENTS_CPU`` on CPU,
        ``AUTO_ELEMENTS_ACCELERATOR`` on GPUs); ``None`` means a single pass whatever its size.
    return_samples:
        Keep the per-sample outputs in :attr:`MCResult.samples`.

    Returns
    -------
    MCResult on the device of ``x``.
    """
    if not isinstance(network, nn.Module):
        raise InputValidationError(f"network must be a torch.nn.Module, got {type(network).__name__}")
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) or n_samples < 1:
        raise ConfigError(f"n_samples must be a positive integer, got {n_samples!r}")
    n_samples = int(n_samples)
    if task not in ("regression", "classification"):
        raise ConfigError(f"task must be 'regression' or 'classification', got {task!r}")
    if not (
        max_rows is None
        or max_rows == "auto"
        or (isinstance(max_rows, (int, np.integer)) and not isinstance(max_rows, bool) and max_rows >= 1)
    ):
        raise ConfigError(f"max_rows must be a positive integer, 'auto' or None, got {max_rows!r}")

    first = next(_tensors(x), None) if isinstance(x, (Tensor, Mapping)) else None
    out_device = first.device if first is not None else torch.device("cpu")
    net_device, net_dtype = _network_device_dtype(network, out_device)
    if net_device.type == "cpu":
        fused.tune_allocator()  # MC passes re-allocate their activations chunk after chunk

    def _place(t: Tensor) -> Tensor:
        # run where the network lives, in its floating dtype; integer inputs (indices) keep theirs
        return t.to(device=net_device, dtype=net_dtype if t.is_floating_point() else t.dtype)

    x = _map(_to_tensor(x, net_dtype, net_device, "x"), _place)
    batch = _batch_size(x)
    if batch == 0:
        raise EmptyDatasetError("x holds no sample (batch size 0)")
    if x_err is not None:
        x_err = _map(_to_tensor(x_err, net_dtype, net_device, "x_err"), _place)
        _check_x_err(x, x_err)

    prefix: nn.Module | None = None
    rest: nn.Module = network
    if x_err is None and callable(getattr(network, "mc_split", None)):
        prefix, rest = network.mc_split()
    elif x_err is None and isinstance(network, nn.Sequential):
        # a Sequential runs its children in order, so the split before the first stochastic child
        # is exact; an empty prefix (stochastic first layer) is just skipped
        head, tail = split_at_first_stochastic(network)
        if len(head) > 0:
            prefix, rest = head, tail

    # a stochastic part that repeats its input itself (one pass for repetition and first mask); looked
    # up on the class, so that a wrapper (e.g. torch.compile's OptimizedModule) keeps its own forward
    repeat_forward = None
    if x_err is None and callable(getattr(type(rest), "repeat_forward", None)):
        repeat_forward = rest.repeat_forward
    was_training = network.training
    network.eval()
    means: list[Tensor] = []  # per input chunk: (n_samples, b, ...)
    logvars: list[Tensor] = []
    try:
        # packed_weights: layers that repack their weights per call for a faster kernel do it once here
        with torch.inference_mode(), fused.packed_weights():
            # the deterministic prefix runs once per input (batch rows, not batch x n_samples)
            h = prefix(x) if prefix is not None else x
            if prefix is not None and _batch_size(h) != batch:
                raise ShapeMismatchError("the mc_split prefix must preserve the batch axis")
            per_row = sum(int(t[:1].numel()) for t in _tensors(h))
            limit = _resolve_max_rows(max_rows, per_row, net_device, batch * n_samples)
            # chunk sizes: whole inputs per chunk first (each repeated n_samples times), and split
            # the samples themselves only if even one input times n_samples exceeds the limit
            b_chunk = max(1, min(batch, limit // n_samples))
            s_chunk = max(1, min(n_samples, limit // b_chunk))
            for b0 in range(0, batch, b_chunk):
                hb = _rows(h, b0, b0 + b_chunk)
                nb = _batch_size(hb)
                eb = _rows(x_err, b0, b0 + b_chunk) if x_err is not None else None
                chunk_means: list[Tensor] = []
                chunk_logvars: list[Tensor] = []
                for s0 in range(0, n_samples, s_chunk):
                    ns = min(s_chunk, n_samples - s0)
                    if repeat_forward is not None:
                        out = repeat_forward(hb, ns)
                    else:
                        inp = _repeat_samples(hb, ns)
                        if eb is not None:
                            inp = _add_input_noise(inp, _repeat_samples(eb, ns))
                        out = rest(inp)
                    mean_out, logvar_out = _split_output(out)
                    if mean_out.shape[0] != ns * nb:
                        raise ShapeMismatchError(
                            f"network output has {mean_out.shape[0]} rows for {ns * nb} input rows; "
                            "the batch axis must be preserved"
                        )
                    chunk_means.append(mean_out.reshape(ns, nb, *mean_out.shape[1:]))
                    if logvar_out is not None:
                        chunk_logvars.append(logvar_out.reshape(ns, nb, *logvar_out.shape[1:]))
                means.append(torch.cat(chunk_means, dim=0))
                if chunk_logvars:
                    logvars.append(torch.cat(chunk_logvars, dim=0))
            samples = torch.cat(means, dim=1)  # (S, N, ...)
            log_var = torch.cat(logvars, dim=1) if logvars else None
            if task == "regression":
                result = _summarise_regression(samples, log_var, return_samples)
            else:
                result = _summarise_classification(samples, log_var, return_samples)
    finally:
        network.train(was_training)
    return _map_result(result, lambda t: t.to(out_device))


def _summarise_regression(samples: Tensor, log_var: Tensor | None, keep: bool) -> MCResult:
    samples = samples.float() if samples.dtype in (torch.float16, torch.bfloat16) else samples
    mean = samples.mean(dim=0)
    # population variance over samples (astroNN uses np.std over the MC draws)
    model_var = samples.var(dim=0, unbiased=False)
    if log_var is not None:
        predictive_var = log_var.to(samples.dtype).exp().mean(dim=0)
    else:
        predictive_var = torch.zeros_like(mean)
    return MCResult(
        mean=mean,
        model_var=model_var,
        predictive_var=predictive_var,
        n_samples=samples.shape[0],
        task="regression",
        samples=samples if keep else None,
    )


def _entropy(p: Tensor, dim: int = -1) -> Tensor:
    # 0 log 0 = 0
    return -(p * torch.where(p > 0, p.log(), torch.zeros_like(p))).sum(dim=dim)


def _summarise_classification(logits: Tensor, log_var: Tensor | None, keep: bool) -> MCResult:
    logits = logits.float() if logits.dtype in (torch.float16, torch.bfloat16) else logits
    if log_var is not None:
        # one draw of the logit noise per MC sample (astroNN's Bayesian classifier)
        logits = logits + torch.randn_like(logits) * (0.5 * log_var.to(logits.dtype)).exp()
    p = torch.softmax(logits, dim=-1)  # (S, N, C)
    probs = p.mean(dim=0)
    model_var = p.var(dim=0, unbiased=False)
    predictive_var = (p * (1.0 - p)).mean(dim=0)
    entropy = _entropy(probs)
    mutual_information = (entropy - _entropy(p).mean(dim=0)).clamp_min(0.0)
    return MCResult(
        mean=probs,
        model_var=model_var,
        predictive_var=predictive_var,
        n_samples=p.shape[0],
        task="classification",
        probs=probs,
        entropy=entropy,
        mutual_information=mutual_information,
        samples=p if keep else None,
    )


def _map_result(result: MCResult, fn: Callable[[Tensor], Tensor]) -> MCResult:
    for field in ("mean", "model_var", "predictive_var", "probs", "entropy", "mutual_information", "samples"):
        value = getattr(result, field)
        if value is not None:
            setattr(result, field, fn(value))
    return result


def mc_loop_predict(network: nn.Module, x: Tensor, n_samples: int = 100) -> tuple[Tensor, Tensor]:
    """Reference implementation: ``n_samples`` separate passes in a Python loop (astroNN's way).

    Returns ``(mean, variance)`` over the passes of the (first) output. Kept for tests and for the
    speed benchmark against :func:`mc_predict`; use :func:`mc_predict` in practice.
    """
    if n_samples < 1:
        raise ConfigError(f"n_samples must be a positive integer, got {n_samples!r}")
    was_training = network.training
    network.eval()
    try:
        with torch.inference_mode():
            outs = torch.stack([_split_output(network(x))[0] for _ in range(n_samples)])
    finally:
        network.train(was_training)
    return outs.mean(0), outs.var(0, unbiased=False)


__all__ = [
    "MCResult",
    "mc_predict",
    "mc_loop_predict",
    "find_first_stochastic",
    "has_stochastic_layers",
    "is_stochastic",
    "split_at_first_stochastic",
]
