"""Future semantic label maps from the past ``K`` ones: the first half of the paper's future prediction.

The paper (section 4, Table 3) decomposes future video prediction into two tasks: predict the future
semantic maps from the observed ones with "a generator" trained for it, then turn them into frames
with vid2vid. It gives no detail of that label generator. Ours is vid2vid's own sequential model
moved from pixels to class probabilities, small enough for a CPU:

    s~_t = (1 - m~_t) * w~_{t-1}(s~_{t-1}) + m~_t * softmax(h~_t)            (cf. the paper's eq. 2)

- ``s~_t`` ``[B, C, H, W]``: the class probabilities of frame t over the ``C`` label ids the model
  knows (its *vocabulary*, the ids of its training data; the synthetic videos use 7 of Cityscapes'
  35), one-hot for the observed frames;
- ``w~_{t-1}`` the backward flow ``t -> t-1`` that moves the last map (bilinear warping of
  probabilities, so sub-pixel motion accumulates over a roll-out), ``m~_t`` in (0, 1) the occlusion
  mask, ``h~_t`` class logits for what appears (disocclusions, objects entering the view).

All three come from one small encoder-decoder (the generator's blocks,
:mod:`vid2vid.models.blocks`, without normalisation: instance norm would remove the frame-wide mean
that a camera pan is) over the ``K`` past maps stacked on channels, each with its instance-edge
map. The flow head starts at zero (the first predictions copy the last map). Loss: cross-entropy of
``s~_t`` (the mixture's probability of the true class) over a roll-out of ``R`` frames that feeds
each prediction back as input (back-propagation through the roll-out), so training sees its own
errors as inference does.

Instance maps are predicted by warping the last observed instance map along the flows composed
over the roll-out (nearest sampling, so ids stay ids); where the warped instance's class disagrees
with the predicted label (``id // 1000`` for instance ids ``label * 1000 + k``, the id itself for
the other classes; :data:`vid2vid.data.labels.INSTANCE_DIVISOR`), the pixel gets the new label's
id. vid2vid reads instances only through their edges.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vid2vid.data.encoding import instance_edges
from vid2vid.data.labels import INSTANCE_DIVISOR
from vid2vid.flow.warp import compose_flows, warp
from vid2vid.models.blocks import ConvNormReLU, ResBlock, init_weights

__all__ = ["LabelPredictorConfig", "LabelPredictor", "LabelRollout", "rollout_labels", "label_loss",
           "ids_to_index", "instance_class"]


@dataclass
class LabelPredictorConfig:
    """Settings of :class:`LabelPredictor`."""

    classes: list[int] = field(default_factory=list)  # label ids predicted, in channel order (the vocabulary)
    n_past: int = 4  # K: the past label maps the model sees
    use_instance: bool = True  # instance edges as an input channel, instance maps predicted
    ngf: int = 16  # width of the first layer; doubled at every downsampling
    n_pool: int = 1  # the network runs at 1 / 2^n_pool of the frame size (the composition at full size)
    n_downsample: int = 2  # stride-2 convolutions after the pooling (sides divisible by 2^(n_pool + this))
    n_blocks: int = 2  # residual blocks at the bottleneck
    flow_scale: float = 10.0  # the flow head's output is multiplied by this (pixels)

    def __post_init__(self) -> None:
        self.classes = [int(c) for c in self.classes]
        if len(set(self.classes)) != len(self.classes) or any(c < 0 or c > 255 for c in self.classes):
            raise ValueError(f"LabelPredictorConfig.classes: expected distinct label ids in 0..255, "
                             f"found {self.classes}")
        for name in ("n_past", "ngf"):
            if getattr(self, name) < 1:
                raise ValueError(f"LabelPredictorConfig.{name}: expected >= 1, found {getattr(self, name)}")
        if min(self.n_pool, self.n_downsample, self.n_blocks) < 0:
            raise ValueError("LabelPredictorConfig: n_pool, n_downsample and n_blocks must be >= 0, found "
                             f"{self.n_pool}, {self.n_downsample}, {self.n_blocks}")

    def to_dict(self) -> dict:
        return asdict(self)


def ids_to_index(ids: Tensor, classes: list[int], where: str = "label map") -> Tensor:
    """Label ids ``int [..]`` -> channel indices of the vocabulary ``classes``; an id outside it is a
    ``ValueError`` naming ``where`` and the ids the model knows."""
    table = torch.full((256,), -1, dtype=torch.long, device=ids.device)
    table[torch.tensor(classes, dtype=torch.long, device=ids.device)] = torch.arange(len(classes),
                                                                                    device=ids.device)
    ids = ids.long()
    if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) > 255):
        raise ValueError(f"{where}: label ids must lie in 0..255, found {int(ids.min())}..{int(ids.max())}")
    index = table[ids]
    if ids.numel() and bool((index < 0).any()):
        unknown = sorted(set(torch.unique(ids[index < 0]).tolist()))
        raise ValueError(f"{where}: label id(s) {unknown[:8]} are not among the {len(classes)} classes the "
                         f"label model was trained on ({classes}); train it on data with these classes")
    return index


def instance_class(inst: Tensor) -> Tensor:
    """The label id of every instance id: ``id // 1000`` for ``label * 1000 + k``, else the id itself."""
    return torch.where(inst >= INSTANCE_DIVISOR, inst // INSTANCE_DIVISOR, inst)


class LabelRollout(NamedTuple):
    """A roll-out of ``N`` predicted frames (time axis 1)."""

    probs: Tensor  # [B, N, C, H, W] class probabilities s~_t
    labels: Tensor  # [B, N, H, W] int64 label ids (the vocabulary's id of the most probable class)
    inst: Tensor | None  # [B, N, H, W] int64 instance ids; None without instances
    flows: Tensor  # [B, N, 2, H, W] w~_{t-1}, t -> t-1 in pixels
    masks: Tensor  # [B, N, 1, H, W] m~_t in (0, 1), 1 = hallucinate


class LabelPredictor(nn.Module):
    """The label model of the module docstring. ``forward(probs [B, K, C, H, W], edges [B, K, 1, H, W]
    or None)`` -> ``(s~_t [B, C, H, W], w~ [B, 2, H, W], m~ [B, 1, H, W])`` for the frame after them.

    The network runs at ``1 / 2^n_pool`` of the frame size (the inputs average-pooled: soft class
    fractions); its flow, mask and class logits are resized back bilinearly and the composition
    happens at full size, so the labels keep their detail while the cost drops by ``4^n_pool``."""

    def __init__(self, cfg: LabelPredictorConfig):
        super().__init__()
        if len(cfg.classes) < 2:
            raise ValueError(f"a label predictor needs at least 2 classes, found {cfg.classes}")
        self.cfg = cfg
        C, n = len(cfg.classes), cfg.ngf
        c_in = cfg.n_past * (C + int(cfg.use_instance))
        c = n * 2**cfg.n_downsample
        self.net = nn.Sequential(
            ConvNormReLU(c_in, n, 3, norm="none"),
            *[ConvNormReLU(n * 2**i, n * 2 ** (i + 1), 3, stride=2, norm="none")
              for i in range(cfg.n_downsample)],
            *[ResBlock(c, norm="none") for _ in range(cfg.n_blocks)],
            *[ConvNormReLU(c // 2**i, c // 2 ** (i + 1), norm="none", upsample="resize")
              for i in range(cfg.n_downsample)],
        )
        self.flow_head = nn.Conv2d(n, 2, 3, padding=1)  # w~ / flow_scale, in full-size pixels
        self.mask_head = nn.Conv2d(n, 1, 3, padding=1)  # logit of m~
        self.class_head = nn.Conv2d(n, C, 3, padding=1)  # logits h~
        init_weights(self)
        nn.init.zeros_(self.flow_head.weight)  # start by copying the last map in place
        nn.init.zeros_(self.flow_head.bias)

    @property
    def n_past(self) -> int:
        return self.cfg.n_past

    @property
    def classes(self) -> list[int]:
        return self.cfg.classes

    def forward(self, probs: Tensor, edges: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        B, K, C, H, W = probs.shape
        if K != self.n_past or C != len(self.classes):
            raise ValueError(f"probs must be [B, K={self.n_past}, C={len(self.classes)}, H, W], "
                             f"got {list(probs.shape)}")
        factor = 2 ** (self.cfg.n_downsample + self.cfg.n_pool)
        if H % factor or W % factor:
            raise ValueError(f"frame size {H} x {W} must be divisible by 2^(n_downsample + n_pool) = "
                             f"{factor}")
        x = probs
        if self.cfg.use_instance:
            if edges is None:
                raise ValueError("this label model reads instance edges: pass edges [B, K, 1, H, W]")
            x = torch.cat([probs, edges.to(probs)], dim=2)
        x = x.reshape(B, -1, H, W)
        if self.cfg.n_pool:
            x = F.avg_pool2d(x, 2**self.cfg.n_pool)
        f = self.net(x)  # [B, ngf, H / 2^n_pool, W / 2^n_pool]
        heads = torch.cat([self.flow_head(f) * self.cfg.flow_scale, self.mask_head(f), self.class_head(f)], 1)
        if self.cfg.n_pool:
            heads = F.interpolate(heads, size=(H, W), mode="bilinear", align_corners=False)
        w, m, h = heads[:, :2], heads[:, 2:3].sigmoid(), heads[:, 3:].softmax(dim=1)
        s = (1 - m) * warp(probs[:, -1], w) + m * h  # the paper's composition, on probabilities
        return s, w, m


def _predicted_instances(inst_last: Tensor, flow_total: Tensor, labels: Tensor) -> Tensor:
    """The last observed instance map ``[B, H, W]`` warped (nearest) along the composed flow
    ``[B, 2, H, W]`` (frame t -> the last observed frame); where its class differs from the predicted
    label ids ``labels [B, H, W]``, the label id itself."""
    warped = warp(inst_last[:, None].double(), flow_total.double(), mode="nearest")[:, 0].round().long()
    return torch.where(instance_class(warped) == labels, warped, labels)


def rollout_labels(model: LabelPredictor, past_ids: Tensor, n_future: int, past_inst: Tensor | None = None,
                   where: str = "context") -> LabelRollout:
    """Predict ``n_future`` label maps after the observed ``past_ids`` autoregressively.

    Args:
        model: the label predictor.
        past_ids: ``int [B, T, H, W]`` observed label ids, ``T >= K`` (the last ``K`` are read).
        n_future: ``N >= 1`` frames to predict.
        past_inst: ``int [B, T, H, W]`` observed instance ids (required when the model uses instances).
        where: names the input in errors (a sequence folder).

    Returns:
        :class:`LabelRollout`; gradients flow through ``probs``, ``flows`` and ``masks`` (training).
    """
    K, classes = model.n_past, model.classes
    if past_ids.dim() != 4 or past_ids.shape[1] < K:
        raise ValueError(f"{where}: the label model needs {K} past label maps [B, T >= {K}, H, W], "
                         f"got {list(past_ids.shape)}")
    if n_future < 1:
        raise ValueError(f"{where}: n_future must be >= 1, got {n_future}")
    use_inst = model.cfg.use_instance
    if use_inst and (past_inst is None or past_inst.shape != past_ids.shape):
        found = None if past_inst is None else list(past_inst.shape)
        raise ValueError(f"{where}: the label model reads instance maps [B, T, H, W] like the labels "
                         f"{list(past_ids.shape)}; got {found}")
    ids = past_ids[:, -K:].long()
    index = ids_to_index(ids, classes, where)
    probs = list(F.one_hot(index, len(classes)).movedim(-1, 2).float().unbind(1))  # K x [B, C, H, W]
    edges = list(instance_edges(past_inst[:, -K:]).unbind(1)) if use_inst else None
    inst_last = past_inst[:, -1].long() if use_inst else None
    lut = torch.tensor(classes, dtype=torch.long, device=ids.device)
    total = None
    out_p, out_l, out_i, out_w, out_m = [], [], [], [], []
    for _ in range(n_future):
        s, w, m = model(torch.stack(probs[-K:], 1), torch.stack(edges[-K:], 1) if use_inst else None)
        labels = lut[s.argmax(1)]
        out_p.append(s)
        out_l.append(labels)
        out_w.append(w)
        out_m.append(m)
        probs.append(s)
        if use_inst:
            wd = w.detach()
            total = wd if total is None else compose_flows(wd, total)
            inst = _predicted_instances(inst_last, total, labels)
            out_i.append(inst)
            edges.append(instance_edges(inst))
    return LabelRollout(probs=torch.stack(out_p, 1), labels=torch.stack(out_l, 1),
                        inst=torch.stack(out_i, 1) if use_inst else None, flows=torch.stack(out_w, 1),
                        masks=torch.stack(out_m, 1))


def label_loss(probs: Tensor, target_ids: Tensor, classes: list[int]) -> Tensor:
    """Cross-entropy of predicted probabilities ``[B, N, C, H, W]`` against the true ids
    ``[B, N, H, W]``: ``-log s~_t(true class)``, averaged over pixels and frames."""
    index = ids_to_index(target_ids, classes, "target label map")
    p = probs.gather(2, index[:, :, None]).squeeze(2)
    return -(p.clamp_min(1e-6)).log().mean()
