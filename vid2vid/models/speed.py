"""Rewrites of built networks that change how they compute, not what: the same parameters (the very
same ``Parameter`` objects), the same ``state_dict`` keys and values, the same outputs up to
floating-point rounding. Checkpoints stay interchangeable between rewritten and plain networks, and
an optimiser built before a rewrite keeps updating the right tensors.

- ``"group_norm"`` (:func:`group_norm_instances`): every ``InstanceNorm2d`` becomes a
  ``GroupNorm(C, C)``, which has a faster kernel on CPU and one that keeps ``channels_last``
  activations in that layout (``InstanceNorm2d`` runs as batch norm over a ``[1, B*C, H, W]`` view,
  so it makes its input contiguous first).
- ``"channels_last"`` (:func:`to_channels_last`): 4-D weights in the ``channels_last`` memory format.

Which ones pay depends on the machine, the precision and whether the networks train (measured:
with bf16 training on CPU, ``channels_last`` was slower than bf16 alone, while it sped up
inference), so each is an option: ``train.speed_rewrites`` for training
(:class:`~vid2vid.training.trainer.Trainer`), ``rewrites=`` of
:func:`vid2vid.inference.generate_outputs` for inference; ``python reproduce/benchmark.py --rewrites``
measures every combination.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from vid2vid.config.validate import SPEED_REWRITES, parse_speed_rewrites

__all__ = ["REWRITES", "SPEED_REWRITES", "apply_speed_rewrites", "group_norm_instances", "to_channels_last"]


def group_norm_instances(module: nn.Module) -> int:
    """Replace, in place, every ``nn.InstanceNorm2d`` under ``module`` by an ``nn.GroupNorm`` with one
    group per channel; returns how many were replaced (a module reachable by several paths counts once).

    Why it is the same function: instance norm normalises each ``(sample, channel)`` plane of a
    ``[B, C, H, W]`` input by its own mean and biased variance over ``H x W``, with ``eps`` inside the
    square root, then scales and shifts per channel. ``GroupNorm(G, C)`` normalises each
    ``(sample, group)`` by the mean and biased variance over the group's ``C / G`` channels and
    ``H x W``, same ``eps``, then the same per-channel scale and shift. With ``G = C`` a group is
    one channel: the same statistics over the same pixels. The new layer takes the old one's
    ``eps``, and its ``weight`` and ``bias`` *are* the old ``Parameter`` objects (or None for
    ``affine=False``), so the state dict, an optimiser's references and tied weights are unchanged.

    Differences that remain: the order of the floating-point sums (results agree to rounding, about
    1e-6 relative in fp32); inputs must be batched ``[B, C, H, W]`` (``InstanceNorm2d`` also takes
    an unbatched ``[C, H, W]``, which ``GroupNorm`` would read as ``B = C``; the networks here only
    pass batches); CUDA autocast runs ``group_norm`` in fp32 (it is on the AMP docs' list of CUDA
    float32 ops), where instance norm runs in the autocast dtype (CPU autocast runs both in bf16);
    and with :func:`to_channels_last` as well, see the caveat there.

    Raises:
        ValueError: an ``InstanceNorm2d`` tracks running statistics (in eval mode it would normalise
            by them, which ``GroupNorm`` cannot; its path is named), or ``module`` itself is one
            (it cannot be replaced in place). Nothing is replaced then.
    """
    if isinstance(module, nn.InstanceNorm2d):
        raise ValueError(f"group_norm_instances rewrites the layers under a module, but it was given an "
                         f"InstanceNorm2d itself ({module}); pass the network that holds it")
    found: list[tuple[nn.Module, str, nn.InstanceNorm2d]] = []
    for path, parent in module.named_modules(remove_duplicate=False):
        for name, child in parent._modules.items():  # each slot (named_children skips repeats)
            if isinstance(child, nn.InstanceNorm2d):
                if child.track_running_stats:
                    where = f"{path}.{name}" if path else name
                    raise ValueError(f"{where}: InstanceNorm2d with track_running_stats=True normalises by "
                                     f"its running statistics in eval mode, which GroupNorm cannot; only "
                                     f"InstanceNorm2d without running statistics can become GroupNorm")
                found.append((parent, name, child))
    replacements: dict[int, nn.GroupNorm] = {}
    for parent, name, norm in found:
        if id(norm) not in replacements:
            replacements[id(norm)] = _as_group_norm(norm)
        setattr(parent, name, replacements[id(norm)])
    return len(replacements)


def _as_group_norm(norm: nn.InstanceNorm2d) -> nn.GroupNorm:
    """A ``GroupNorm(C, C)`` holding ``norm``'s eps and its very ``weight`` and ``bias`` Parameters."""
    weight = norm.weight
    group = nn.GroupNorm(norm.num_features, norm.num_features, eps=norm.eps, affine=norm.affine,
                         device=None if weight is None else weight.device,
                         dtype=None if weight is None else weight.dtype)
    if norm.affine:
        group.weight, group.bias = norm.weight, norm.bias
    group.train(norm.training)
    return group


def to_channels_last(module: nn.Module) -> nn.Module:
    """Store every 4-D parameter and buffer of ``module`` (convolution weights) in the
    ``channels_last`` memory format (``[N, C, H, W]`` sizes, strides of ``[N, H, W, C]``), in place;
    returns ``module``. For training and inference alike.

    Why it is the same function: a memory format changes strides, not sizes or values; every
    operation gives the same result whatever the layout of its inputs, up to the order of
    floating-point sums inside the kernels. ``Parameter`` objects are kept (their ``.data`` is
    replaced, as ``Module.to`` does), so state dicts and optimisers are unaffected; checkpoints load
    into either layout.

    Inputs: a convolution whose weight is ``channels_last`` returns ``channels_last`` output whatever
    its input's layout, so the activations switch layout at the first convolution; converting the
    inputs as well (``x.contiguous(memory_format=torch.channels_last)``) saves that one conversion.
    The generator takes 5-D ``[B, T, C, H, W]`` windows, which have no ``channels_last`` format, so
    nothing is converted at its entry. Layers that need contiguous input (``InstanceNorm2d``: pair
    this with :func:`group_norm_instances`) convert back and forth, which can cost more than the
    layout saves.

    Caveat with both rewrites (CPU, torch 2.14): ``GroupNorm``'s ``channels_last`` kernel loses
    precision as a plane's mean grows against its spread, as a one-pass variance does: relative
    errors of its output and gradients were ~4e-5 at mean / std = 10 and ~7e-3 at 100, against
    ~2e-7 and ~2e-6 for the contiguous kernels (fp32). A constant plane, such as the image
    encoder's response to the all-zero previous frames of a sequence's first frame, normalises to
    noise of ~1e-3 instead of ~1e-6, which the next norms amplify (measured: up to 0.06 in the frames
    of the tiny preset's G, against 2e-5 for either rewrite alone). Check quality as well as speed
    before choosing ``group_norm,channels_last``.
    """
    for tensor in [*module.parameters(), *module.buffers()]:
        if tensor.dim() == 4:
            tensor.data = tensor.data.contiguous(memory_format=torch.channels_last)
    return module


# the names of vid2vid.config.validate.SPEED_REWRITES, in the same order (a test checks it)
REWRITES: dict[str, Callable[[nn.Module], object]] = {
    "group_norm": group_norm_instances, "channels_last": to_channels_last,
}


def apply_speed_rewrites(module: nn.Module, rewrites: str) -> tuple[str, ...]:
    """Apply the rewrites named by ``rewrites`` (comma-separated names of :data:`REWRITES`, e.g.
    ``"group_norm,channels_last"``; empty: none) to ``module`` in place, in the order of
    :data:`REWRITES`; returns their names. An unknown name raises
    :class:`~vid2vid.config.ConfigError` listing the known ones."""
    names = parse_speed_rewrites(rewrites, "rewrites")
    for name in names:
        REWRITES[name](module)
    return names
