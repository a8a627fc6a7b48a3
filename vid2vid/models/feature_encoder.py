"""The instance-wise feature encoder E: multimodal synthesis (pix2pixHD's feature embedding, which the
vid2vid paper uses for its multimodal results, Section 4 "Multimodal results").

The same label video can be rendered many ways (a car red or white, a road wet or dry). G alone is
deterministic, so the paper adds a low-dimensional *feature map* to its input: an encoder-decoder E
maps the real frame ``x_t`` to ``feat_nc`` channels (3 for street scenes, 16 for faces), and the map
is **average-pooled inside every instance**, so each object is described by one vector::

    f_t = pool_instances(E(x_t))            # [B, feat_nc, H, W], constant inside each instance
    x~_t = F(x~_{t-L}^{t-1}, [s_{t-L}^t, f_{t-L}^t])   # concatenated to every frame's labels

E trains end to end with G: it gets its gradients through G's losses (it is part of G's module
and optimiser). After training, the pooled features of the training set are clustered per class
(K-means, :mod:`vid2vid.multimodal`); at inference a cluster centre per instance (or per class)
replaces ``E(x_t)``: different centres give different but plausible videos, and one centre kept for
an instance over all frames keeps its appearance stable in time.

What is an "instance" here (:func:`region_keys`), decided per dataset:

- label ids and instance maps (``data.use_instance``, Cityscapes, the synthetic data): every
  ``(class, instance id)`` pair. Stuff classes carry their class id as instance id in these layouts,
  so each stuff class is one region and each car or person its own;
- label ids without instance maps: every class of the frame is one region (pix2pixHD does the
  same when it has no instance map). Connected components would split an object that an occluder
  cuts in two, and split it differently from frame to frame;
- continuous inputs (edges, pose, ``data.label_nc = 0``): the whole frame is one region of class 0
  (with an instance map, every instance of class 0). The paper's face model pools per facial part,
  which needs part labels this project's face data does not store: ours is a per-frame style code.

A region key is one ``int64``, ``class * 2^32 + instance``: the class can be read back
(:func:`region_classes`) and pooling needs only equality of keys.

What is ours: E reuses the generator's blocks (:class:`~vid2vid.models.blocks.Encoder` /
:class:`~vid2vid.models.blocks.Decoder`, so ``model.upsample`` and ``model.norm`` apply to it too),
and the pooling is a scatter-add over region keys rather than a loop over instance ids.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from vid2vid.models.blocks import Decoder, Encoder, Head

__all__ = ["CLASS_SHIFT", "FeatureEncoder", "instance_average", "region_classes", "region_keys",
           "region_means"]

CLASS_SHIFT = 32  # a region key is class << 32 | instance id


def region_keys(label_ids: Tensor | None, inst: Tensor | None, like: Tensor | None = None) -> Tensor:
    """The region of every pixel, ``int64 [.., 1, H, W]``: ``class * 2^32 + instance id`` (see the
    module docstring for what a region is without instance maps or without labels).

    Args:
        label_ids: integer class ids ``[.., 1, H, W]`` or None (continuous inputs: class 0).
        inst: instance ids ``[.., 1, H, W]`` (any integer, ``< 2^32``) or None (a region per class).
        like: a tensor ``[.., C, H, W]`` giving the shape and device when both maps are None (the
            whole frame is one region).
    """
    if label_ids is None and inst is None:
        if like is None:
            raise ValueError("region_keys needs label ids, instance ids, or a tensor to take the shape from")
        return torch.zeros((*like.shape[:-3], 1, *like.shape[-2:]), dtype=torch.long, device=like.device)
    keys = torch.zeros((), dtype=torch.long, device=(label_ids if label_ids is not None else inst).device)
    if label_ids is not None:
        keys = label_ids.long() << CLASS_SHIFT
    if inst is not None:
        keys = keys + (inst.long() & 0xFFFFFFFF)
    return keys


def region_classes(keys: Tensor) -> Tensor:
    """The class id of region keys (:func:`region_keys`)."""
    return keys >> CLASS_SHIFT


def region_means(feat: Tensor, keys: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The mean feature of every region of every image.

    Args:
        feat: ``[B, C, H, W]`` features.
        keys: ``int64 [B, 1, H, W]`` region keys (:func:`region_keys`).

    Returns:
        ``(index, batch, key, mean)``: ``index [B, H * W]`` the row of ``mean`` each pixel belongs
        to; then one row per region present in an image: ``batch [N]`` its image, ``key [N]`` its
        key, ``mean [N, C]`` its mean feature (float32; differentiable with respect to ``feat``).
    """
    B, C, H, W = feat.shape
    if keys.shape != (B, 1, H, W):
        raise ValueError(f"region keys must be [B, 1, H, W] = {[B, 1, H, W]}, got {list(keys.shape)}")
    uniq, inverse = torch.unique(keys.reshape(B, H * W), return_inverse=True)  # inverse [B, H*W]
    U = uniq.numel()
    rows = inverse + torch.arange(B, device=keys.device)[:, None] * U  # (image, region) -> row
    flat = feat.float().permute(0, 2, 3, 1).reshape(B * H * W, C)
    sums = flat.new_zeros(B * U, C).index_add(0, rows.reshape(-1), flat)
    counts = flat.new_zeros(B * U).index_add(0, rows.reshape(-1), flat.new_ones(B * H * W))
    present = counts > 0
    means = sums / counts.clamp_min(1)[:, None]
    # renumber the rows that occur so that mean holds only regions present in their image
    renumber = torch.cumsum(present.long(), 0) - 1
    index = renumber[rows]
    at = present.nonzero()[:, 0]
    return index, at // U, uniq[at % U], means[at]


def instance_average(feat: Tensor, keys: Tensor) -> Tensor:
    """Average ``feat [B, C, H, W]`` inside every region of ``keys [B, 1, H, W]``: every pixel gets
    its region's mean, exactly the same value across the region. Gradients reach every pixel of
    ``feat`` (the mean's, divided by the region's size)."""
    B, C, H, W = feat.shape
    index, _, _, means = region_means(feat, keys)
    return means[index.reshape(-1)].reshape(B, H, W, C).permute(0, 3, 1, 2).to(feat.dtype)


class FeatureEncoder(nn.Module):
    """E: real frame ``[B, 3, H, W]`` in ``[-1, 1]`` -> features ``[B, feat_nc, H, W]`` in ``(-1, 1)``,
    average-pooled per region.

    pix2pixHD's encoder: a 7x7 stem of ``nef`` channels, ``n_down`` stride-2 convolutions doubling
    them, as many 2x upsamplings halving them, a 7x7 convolution to ``feat_nc`` channels and tanh
    (reference: nef 16, 4 downsamplings). No residual blocks: E only needs colour and texture
    statistics of each region, not a large receptive field. ``H`` and ``W`` must be divisible by
    ``2^n_down``.
    """

    def __init__(self, feat_nc: int, nef: int = 16, n_down: int = 4, norm: str = "instance",
                 upsample: str = "resize"):
        super().__init__()
        if feat_nc < 1 or nef < 1 or n_down < 0:
            raise ValueError(f"need feat_nc >= 1, nef >= 1, n_down >= 0; got {feat_nc}, {nef}, {n_down}")
        self.feat_nc, self.n_down = feat_nc, n_down
        self.encoder = Encoder(3, nef, n_down, 0, norm)
        self.decoder = Decoder(self.encoder.out_channels, 0, n_down, norm, upsample)
        self.head = Head(self.decoder.out_channels, feat_nc, "tanh")

    def encode(self, x: Tensor) -> Tensor:
        """The features before pooling, ``[B, feat_nc, H, W]``."""
        factor = 2**self.n_down
        if x.dim() != 4 or x.shape[1] != 3 or x.shape[-2] % factor or x.shape[-1] % factor:
            raise ValueError(f"E takes frames [B, 3, H, W] with H and W divisible by 2^{self.n_down} = "
                             f"{factor} (model.n_downsample_E); got {list(x.shape)}")
        return self.head(self.decoder(self.encoder(x)))

    def forward(self, x: Tensor, keys: Tensor) -> Tensor:
        """``instance_average(E(x), keys)``: ``[B, feat_nc, H, W]``, constant inside each region."""
        return instance_average(self.encode(x), keys)
