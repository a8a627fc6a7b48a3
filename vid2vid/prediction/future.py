"""Future frames: predicted label maps turned into video by vid2vid, started from the real past frames.

The second half of the paper's decomposition (section 4): given ``K`` observed frames
``x_{t-K..t-1}`` with their label maps, the label model (:mod:`vid2vid.prediction.labels`) predicts the
maps ``s~_t .. s~_{t+N-1}`` and vid2vid synthesises the frames from them. vid2vid is conditioned on
the real past: its first ``L`` previous outputs are the last ``L`` *real* frames (not its own
renderings of the past labels), and its label windows reach back into the observed maps, so the
first predicted frame warps the last real frame along vid2vid's flow and the appearance of the
observed video carries into the future. From then on each generated frame is fed back, as in
ordinary inference (:class:`~vid2vid.models.sequence.SequenceGenerator` with ``prev`` = real frames).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from vid2vid.config import Config
from vid2vid.data.encoding import encode_labels
from vid2vid.models import Generator, background_mask
from vid2vid.models.sequence import SequenceGenerator
from vid2vid.prediction.data import Clip
from vid2vid.prediction.labels import LabelPredictor, rollout_labels

__all__ = ["FuturePrediction", "generator_inputs", "synthesize_future", "predict_future", "check_window"]


class FuturePrediction(NamedTuple):
    """What :func:`predict_future` predicts for ``N`` frames."""

    labels: Tensor  # int64 [N, H, W] predicted label ids
    inst: Tensor | None  # int64 [N, H, W] predicted instance ids (None when the label model has none)
    frames: Tensor  # float32 [N, 3, H, W] in [-1, 1], vid2vid's frames


def generator_inputs(cfg: Config, ids: Tensor, inst: Tensor | None) -> tuple[Tensor, Tensor | None]:
    """vid2vid's semantic inputs ``s_t`` ``[T, C_s, H, W]`` and background masks ``m_B`` ``[T, 1, H, W]``
    (None without the foreground prior) of label ids ``[T, H, W]``. Without instance maps a
    configuration that reads instance edges gets an all-zero edge channel, as in
    :func:`vid2vid.inference.read_input_frames`."""
    d = cfg.data
    s = encode_labels(ids.long(), d.label_nc, ids.long() if inst is None else inst.long(), d.use_instance)
    if d.use_instance and inst is None:
        s[:, -1] = 0
    m_B = background_mask(ids[:, None].long(), d.foreground_ids) if cfg.model.use_fg_prior else None
    return s, m_B


@torch.no_grad()
def synthesize_future(G: Generator, cfg: Config, past_ids: Tensor, past_inst: Tensor | None,
                      past_real: Tensor, future_ids: Tensor, future_inst: Tensor | None) -> Tensor:
    """vid2vid's frames ``[N, 3, H, W]`` for the future label maps ``future_ids [N, H, W]``, conditioned on
    the observed ``past_ids [K, H, W]`` and real frames ``past_real [K, 3, H, W]`` in ``[-1, 1]`` (module
    docstring); instance maps ``[.., H, W]`` where known."""
    if G.feat_nc:
        raise ValueError("future prediction with a generator that has a feature encoder (model.feat_nc > 0) "
                         "is not supported: it would need feature maps of the future frames")
    K, N = past_ids.shape[0], future_ids.shape[0]
    ids = torch.cat([past_ids.long(), future_ids.long()])
    inst = None if past_inst is None or future_inst is None else torch.cat([past_inst, future_inst]).long()
    s, m_B = generator_inputs(cfg, ids, inst)
    device = next(G.parameters()).device
    L = G.n_prev
    prev = past_real[max(0, K - L):][None].to(device) if L else None  # the last L real frames
    out = SequenceGenerator(G.eval())(s[None].to(device), None if m_B is None else m_B[None].to(device),
                                      prev, start=K, stop=K + N)
    return out.x[0].clamp(-1, 1).cpu()


def check_window(clip: Clip, start: int, n_past: int, n_future: int | None = None, where: str = "") -> None:
    """A ``ValueError`` naming the sequence unless it holds the observed frames ``start .. start+K-1``
    (and, when ``n_future`` is given, the real future ``start+K .. start+K+N-1`` too)."""
    where = where or clip.name
    T = len(clip)
    if start < 0 or n_past < 1:
        raise ValueError(f"{where}: need start >= 0 and at least one observed frame, got start {start}, "
                         f"K = {n_past}")
    if start + n_past > T:
        raise ValueError(f"{where}: {T} frames, too few for K = {n_past} observed frames from frame {start} "
                         f"(needs {start + n_past})")
    if n_future is not None and start + n_past + n_future > T:
        raise ValueError(f"{where}: {T} frames, too few for the real future: K = {n_past} observed and "
                         f"N = {n_future} future frames from frame {start} need {start + n_past + n_future}")


@torch.no_grad()
def predict_future(G: Generator, cfg: Config, label_model: LabelPredictor, clip: Clip, start: int,
                   n_past: int, n_future: int) -> FuturePrediction:
    """Observe frames ``start .. start+K-1`` of ``clip`` (label maps, instance maps, real frames at G's
    size), predict the next ``N`` label maps with ``label_model`` and synthesise them with ``G``."""
    check_window(clip, start, n_past, where=clip.name)
    if n_past < label_model.n_past:
        raise ValueError(f"{clip.name}: the label model reads the last {label_model.n_past} label maps; "
                         f"K = {n_past} observed frames are too few")
    if label_model.cfg.use_instance and clip.inst is None:
        raise ValueError(f"{clip.name}: the label model reads instance maps, and the sequence has none "
                         "(expected a sibling _inst folder)")
    sl = slice(start, start + n_past)
    past_inst = None if clip.inst is None else clip.inst[sl]
    roll = rollout_labels(label_model.eval(), clip.labels[sl][None].long(), n_future,
                          None if past_inst is None or not label_model.cfg.use_instance else past_inst[None],
                          where=clip.name)
    labels = roll.labels[0]
    inst = None if roll.inst is None else roll.inst[0]
    frames = synthesize_future(G, cfg, clip.labels[sl], past_inst if inst is not None else None,
                               clip.real(sl.start, sl.stop), labels, inst)
    return FuturePrediction(labels=labels, inst=inst, frames=frames)
