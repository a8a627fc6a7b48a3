"""The two discriminators of vid2vid (paper section 3.2): the image discriminator ``D_I`` and the
conditional video discriminator ``D_V``, both multi-scale PatchGANs.

Building blocks, bottom to top:

* :class:`PatchDiscriminator`: one PatchGAN. 4x4 convolutions with 64-128-256-512 channels (the
  last of them stride 1), LeakyReLU(0.2), no normalisation on the first layer, then a 4x4
  convolution to one channel: a map of real/fake scores, one per overlapping patch.
* :class:`MultiscaleDiscriminator`: ``num_D`` PatchGANs with separate weights, the i-th looking at
  the input average-pooled ``i`` times (3x3, stride 2), so coarse scales judge global structure
  with the same receptive field in pixels of the pooled image.
* :class:`ImageDiscriminator` (``D_I``): judges a single frame ``x_t`` given its source ``s_t``.
* :class:`VideoDiscriminator` (``D_V``): judges ``K`` consecutive frames given the ground-truth
  flow between them, at several temporal scales (frame skipping), one multi-scale PatchGAN each.
* :func:`sample_clips`: cuts ``D_V``'s K-frame clips out of a sequence with stride ``K^s``
  and chains the ground-truth flow across the skipped frames.
* :class:`FaceDiscriminator`: the reference code's face discriminator for pose data (512 px and
  above): ``D_I``'s multi-scale PatchGAN, with ``max(1, num_D - 2)`` scales, on a square crop
  around the face (:func:`face_squares`, :func:`crop_boxes`).

Every discriminator returns, per spatial scale, the list of its intermediate features with the
patch prediction map last: the GAN loss reads the last entry, feature matching the others
(``vid2vid.losses``).

Padding: every 4x4 convolution pads by 2 pixels, as in the reference code. For an ``H x W`` input
a stride-2 layer gives ``H/2 + 1`` rows and a stride-1 layer ``H + 1``, so tiny inputs never
shrink to nothing; padding changes output sizes only, never the parameter count.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from vid2vid.flow import compose_flows
from vid2vid.models.blocks import init_weights, make_norm

__all__ = [
    "FLOW_SCALE",
    "FaceDiscriminator",
    "ImageDiscriminator",
    "MultiscaleDiscriminator",
    "PatchDiscriminator",
    "VideoDiscriminator",
    "clip_windows",
    "crop_boxes",
    "face_num_D",
    "face_squares",
    "sample_clips",
]

# D_V sees ground-truth flows divided by 20 (the reference code's constant): flows of a few tens of
# pixels then have roughly the magnitude of the frames in [-1, 1] they are concatenated with.
FLOW_SCALE = 1.0 / 20.0

def _norm_layer(norm: str, channels: int) -> nn.Module:
    """Normalisation after a convolution: instance norm without affine parameters (as pix2pixHD's
    discriminators), ``"batch"`` or ``"none"``."""
    return make_norm(norm, channels, affine_instance=False)


class PatchDiscriminator(nn.Module):
    """One PatchGAN (pix2pix / pix2pixHD): a fully convolutional real/fake classifier of patches.

    With ``n_layers = 3``: conv 64 (stride 2, no norm) -> 128 (stride 2) -> 256 (stride 2) ->
    512 (stride 1) -> 1 (stride 1), all 4x4 with LeakyReLU(0.2) between them. Channels double per
    layer and are capped at 512. Each final score sees a 70x70 patch of the input (for 3 layers).

    Args:
        in_channels: channels of the input (image, source and/or flow channels stacked).
        ndf: channels of the first layer.
        n_layers: number of stride-2 layers plus the stride-1 512-channel layer minus one,
            as in pix2pixHD's ``n_layers_D`` (3 gives the 64-128-256-512 stack).
        norm: ``"instance"``, ``"batch"`` or ``"none"``; never on the first layer.
    """

    def __init__(self, in_channels: int, ndf: int = 64, n_layers: int = 3, norm: str = "instance"):
        super().__init__()
        if n_layers < 1:
            raise ValueError(f"n_layers must be >= 1, got {n_layers}")
        _norm_layer(norm, 1)  # validate early, with the clear message
        kernel, pad = 4, 2
        stages: list[nn.Module] = [
            nn.Sequential(nn.Conv2d(in_channels, ndf, kernel, stride=2, padding=pad), nn.LeakyReLU(0.2))
        ]
        channels = ndf
        for i in range(1, n_layers + 1):
            out = min(channels * 2, 512)
            stride = 2 if i < n_layers else 1  # the last feature layer keeps the resolution
            stages.append(
                nn.Sequential(
                    nn.Conv2d(channels, out, kernel, stride=stride, padding=pad),
                    _norm_layer(norm, out),
                    nn.LeakyReLU(0.2),
                )
            )
            channels = out
        # The prediction layer: one score per patch, unbounded (the GAN loss decides the form).
        stages.append(nn.Conv2d(channels, 1, kernel, stride=1, padding=pad))
        self.stages = nn.ModuleList(stages)
        # pix2pixHD: convolutions N(0, 0.02); batch-norm scales N(1, 0.02) (instance norms here have none).
        init_weights(self, norm_scale_std=0.02)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """``x [B, C_in, H, W]`` -> ``n_layers + 2`` tensors: ``n_layers + 1`` feature maps
        ``[B, C_k, H_k, W_k]``, then the patch prediction map ``[B, 1, H', W']`` (raw scores)."""
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features


class MultiscaleDiscriminator(nn.Module):
    """``num_D`` PatchGANs on an input pyramid (pix2pixHD): scale ``i`` sees the input average-pooled
    ``i`` times with a 3x3 window, stride 2, padding 1 (pads excluded from the average).

    Args:
        in_channels, ndf, n_layers, norm: as :class:`PatchDiscriminator`.
        num_D: number of spatial scales (the reference: 2 at 512 px, 3 at 1024, 4 at 2048).
    """

    def __init__(
        self, in_channels: int, ndf: int = 64, n_layers: int = 3, num_D: int = 2, norm: str = "instance"
    ):
        super().__init__()
        if num_D < 1:
            raise ValueError(f"num_D must be >= 1, got {num_D}")
        self.in_channels = in_channels
        self.n_layers = n_layers
        self.num_D = num_D
        self.discriminators = nn.ModuleList(
            PatchDiscriminator(in_channels, ndf, n_layers, norm) for _ in range(num_D)
        )

    def forward(self, x: torch.Tensor, groups: int = 1) -> list[list[torch.Tensor]]:
        """``x [B, C_in, H, W]`` -> one feature list per scale, finest scale first; each list ends
        with that scale's patch prediction map (see :meth:`PatchDiscriminator.forward`).

        ``groups``: the batch holds that many equal parts (e.g. real and fake stacked). With batch
        norm each part is run on its own, so that real and fake never share batch statistics (which
        would let the discriminator tell them apart by the statistics alone); instance norm and no
        norm treat every sample alone anyway and run the whole batch at once.
        """
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"discriminator expects input [B, {self.in_channels}, H, W], got {tuple(x.shape)}"
            )
        if groups > 1 and any(isinstance(m, nn.BatchNorm2d) for m in self.modules()):
            if x.shape[0] % groups:
                raise ValueError(f"a batch of {x.shape[0]} cannot be split into {groups} equal parts")
            parts = [self.forward(part) for part in x.chunk(groups, dim=0)]
            return [[torch.cat(feats, dim=0) for feats in zip(*scales, strict=True)]
                    for scales in zip(*parts, strict=True)]
        outputs = []
        for i, d in enumerate(self.discriminators):
            if i > 0:
                x = F.avg_pool2d(x, kernel_size=3, stride=2, padding=1, count_include_pad=False)
            outputs.append(d(x))
        return outputs


class ImageDiscriminator(nn.Module):
    """``D_I`` (paper eq. 3-4): is ``x_t`` a real frame for the source map ``s_t``?

    Conditioning is by channel concatenation ``[s_t, x_t]``: the discriminator sees the pair, so
    a realistic frame that does not fit its label map is still fake. The training loop shows it
    both the composed frame ``x~_t`` and the raw hallucination as fakes (reference code).

    Args:
        label_channels: channels of ``s_t`` (Cityscapes: 35 one-hot label ids + 1 instance edge
            map = 36).
        image_channels: channels of ``x_t`` (3, RGB).
        ndf, n_layers, num_D, norm: as :class:`MultiscaleDiscriminator`.

    At the Cityscapes setting (36 + 3 channels, ndf 64, 3 layers, 2 scales) this has 5.60 M
    parameters (instance norm; the reference's measured count is 5.61 M with batch norm).
    """

    def __init__(
        self,
        label_channels: int,
        image_channels: int = 3,
        ndf: int = 64,
        n_layers: int = 3,
        num_D: int = 2,
        norm: str = "instance",
    ):
        super().__init__()
        self.label_channels = label_channels
        self.image_channels = image_channels
        self.net = MultiscaleDiscriminator(label_channels + image_channels, ndf, n_layers, num_D, norm)

    def forward(self, image: torch.Tensor, label: torch.Tensor, groups: int = 1) -> list[list[torch.Tensor]]:
        """Score a frame given its source map.

        Args:
            image: ``[B, 3, H, W]`` frame in ``[-1, 1]`` (real ``x_t`` or generated ``x~_t``).
            label: ``[B, C_s, H, W]`` source map ``s_t`` (one-hot labels, edges, ...).
            groups: equal parts of the batch kept apart by batch norm (:class:`MultiscaleDiscriminator`).

        Returns:
            per spatial scale (finest first) the feature list, prediction map last.
        """
        if image.dim() != 4 or label.dim() != 4 or image.shape[0] != label.shape[0] \
                or image.shape[2:] != label.shape[2:]:
            raise ValueError(
                f"D_I expects image [B, {self.image_channels}, H, W] and label "
                f"[B, {self.label_channels}, H, W] of the same B, H, W; got image "
                f"{tuple(image.shape)} and label {tuple(label.shape)}"
            )
        if image.shape[1] != self.image_channels or label.shape[1] != self.label_channels:
            raise ValueError(
                f"D_I was built for {self.image_channels} image and {self.label_channels} label "
                f"channels; got image {tuple(image.shape)} and label {tuple(label.shape)}"
            )
        return self.net(torch.cat([label, image], dim=1), groups)


class VideoDiscriminator(nn.Module):
    """``D_V`` (paper eq. 5): are ``K`` consecutive frames a real video, given the motion between them?

    Input: the ``K`` frames ``x_{t-K+1} .. x_t`` and the ``K - 1`` ground-truth backward flows
    between neighbours (``w`` of frames ``1 .. K-1`` of the clip), stacked along channels:
    ``K * 3 + (K - 1) * 2`` channels (13 for K = 3). Conditioning on the *real* flow asks the
    generator for motion consistent with the real video, not only plausible frames.

    One :class:`MultiscaleDiscriminator` per temporal scale ``s`` (separate weights, in
    ``self.scales``): scale ``s`` sees clips whose frames are ``K^s`` frames apart (see
    :func:`sample_clips`), judging long-range consistency without longer inputs.

    At the reference setting (K = 3, ndf 64, 3 layers, 2 spatial scales) each temporal scale has
    5.55 M parameters.

    Args:
        n_frames: ``K``, frames per clip (reference ``n_frames_D`` = 3).
        image_channels: channels per frame.
        ndf, n_layers, num_D, norm: as :class:`MultiscaleDiscriminator`.
        n_temporal_scales: number of temporal scales (reference: 2 or 3).
    """

    def __init__(
        self,
        n_frames: int = 3,
        image_channels: int = 3,
        ndf: int = 64,
        n_layers: int = 3,
        num_D: int = 2,
        n_temporal_scales: int = 2,
        norm: str = "instance",
    ):
        super().__init__()
        if n_frames < 2:
            raise ValueError(f"D_V needs n_frames >= 2 (frames and the flow between them), got {n_frames}")
        if n_temporal_scales < 1:
            raise ValueError(f"n_temporal_scales must be >= 1, got {n_temporal_scales}")
        self.n_frames = n_frames
        self.image_channels = image_channels
        self.in_channels = n_frames * image_channels + (n_frames - 1) * 2
        self.scales = nn.ModuleList(
            MultiscaleDiscriminator(self.in_channels, ndf, n_layers, num_D, norm)
            for _ in range(n_temporal_scales)
        )

    def forward(
        self, frames: torch.Tensor, flows: torch.Tensor, temporal_scale: int, groups: int = 1
    ) -> list[list[torch.Tensor]]:
        """Score clips at one temporal scale.

        Args:
            frames: ``[B, K, 3, H, W]`` clip in ``[-1, 1]``, oldest frame first.
            flows: ``[B, K-1, 2, H, W]`` ground-truth backward flows in pixels; ``flows[:, k-1]``
                goes from clip frame ``k`` to clip frame ``k-1`` (``k = 1 .. K-1``). Divided by 20
                here (:data:`FLOW_SCALE`).
            temporal_scale: ``s`` in ``0 .. n_temporal_scales - 1``; picks the discriminator.
            groups: equal parts of the batch kept apart by batch norm (:class:`MultiscaleDiscriminator`).

        Returns:
            per spatial scale (finest first) the feature list, prediction map last.
        """
        k, c = self.n_frames, self.image_channels
        if not 0 <= temporal_scale < len(self.scales):
            raise ValueError(
                f"temporal_scale must be in 0..{len(self.scales) - 1}, got {temporal_scale}"
            )
        if frames.dim() != 5 or frames.shape[1:3] != (k, c):
            raise ValueError(f"D_V expects frames [B, {k}, {c}, H, W], got {tuple(frames.shape)}")
        b, _, _, h, w = frames.shape
        if tuple(flows.shape) != (b, k - 1, 2, h, w):
            raise ValueError(
                f"D_V expects flows [B, {k - 1}, 2, H, W] = {(b, k - 1, 2, h, w)} to match frames "
                f"{tuple(frames.shape)}, got {tuple(flows.shape)}"
            )
        x = torch.cat(
            [
                frames.reshape(b, k * c, h, w),  # [B, K*3, H, W]
                flows.to(frames.dtype).reshape(b, (k - 1) * 2, h, w) * FLOW_SCALE,  # [B, (K-1)*2, H, W]
            ],
            dim=1,
        )
        return self.scales[temporal_scale](x, groups)


def clip_windows(num_frames: int, n_frames: int = 3, temporal_scale: int = 0) -> list[list[int]]:
    """Frame indices of every ``K``-frame clip with stride ``K^s`` that fits in ``num_frames``.

    The stride is ``n_frames ** temporal_scale`` as in the reference (``3^s`` for K = 3). Windows
    start at every frame (overlapping), earliest first; the list is empty when the sequence is
    shorter than the span ``(K - 1) * K^s + 1``.

    Example: ``clip_windows(9, 3, 1) == [[0, 3, 6], [1, 4, 7], [2, 5, 8]]``.
    """
    if n_frames < 2 or temporal_scale < 0:
        raise ValueError(f"need n_frames >= 2 and temporal_scale >= 0, got {n_frames}, {temporal_scale}")
    stride = n_frames**temporal_scale
    span = (n_frames - 1) * stride
    return [[start + k * stride for k in range(n_frames)] for start in range(num_frames - span)]


def _chained_flows(flows: torch.Tensor, stride: int) -> torch.Tensor:
    """Backward flows over ``stride`` frames: ``out[:, t]`` goes from frame t to frame t - stride.

    ``flows [B, T, 2, H, W]`` (``flows[:, t]``: t -> t-1). Entries ``t < stride`` are zero (unused).
    Chains ``t -> t-1 -> ... -> t-stride`` with :func:`vid2vid.flow.compose_flows`, all frames at once.
    """
    b, t, _, h, w = flows.shape
    out = torch.zeros_like(flows)
    if t <= stride:
        return out
    n = t - stride  # frames stride .. T-1 have a frame stride before them
    acc = flows[:, stride:].reshape(b * n, 2, h, w)  # t -> t-1
    for j in range(1, stride):
        # acc: t -> t-j; chain with the flow of frame t-j (t-j -> t-j-1).
        prev = flows[:, stride - j : t - j].reshape(b * n, 2, h, w)
        acc = compose_flows(acc, prev)
    out[:, stride:] = acc.reshape(b, n, 2, h, w)
    return out


def sample_clips(
    frames: torch.Tensor,
    flows: torch.Tensor,
    n_frames: int = 3,
    temporal_scale: int = 0,
    windows: Sequence[Sequence[int]] | None = None,
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Cut ``D_V``'s clips at temporal scale ``s`` out of a sequence, with their ground-truth flows.

    Frames of a clip are ``K^s`` apart. The flow between two sampled frames ``t`` and
    ``t - K^s`` is the ground-truth flow chained over the skipped frames
    (:func:`vid2vid.flow.compose_flows`), so no flow estimator runs during training (the
    reference code re-estimates it with FlowNet2 instead).

    Args:
        frames: ``[B, T, 3, H, W]`` in ``[-1, 1]`` (real or generated).
        flows: ``[B, T, 2, H, W]`` ground-truth backward flows in pixels, ``flows[:, t]`` from
            frame t to t-1; ``flows[:, 0]`` is unused.
        n_frames: ``K``.
        temporal_scale: ``s``.
        windows: frame-index lists to cut, each of ``K`` indices ``K^s`` apart, as returned by
            :func:`clip_windows`; default: all of them (deterministic). To sample one at random,
            pass ``[random.choice(clip_windows(T, K, s))]``; pass the same list for the real and
            the generated sequence so that their clips line up with the same flows.

    Returns:
        ``None`` when the sequence is too short for this scale (no window fits), else
        ``clips [B * N, K, 3, H, W]`` and ``clip_flows [B * N, K-1, 2, H, W]`` for ``N`` windows,
        batch-major (index ``b * N + n``); ``clip_flows[:, k-1]`` goes from clip frame ``k`` to
        clip frame ``k - 1``.
    """
    if frames.dim() != 5 or flows.dim() != 5 or flows.shape[2] != 2 or frames.shape[:2] != flows.shape[:2] \
            or frames.shape[3:] != flows.shape[3:]:
        raise ValueError(
            f"sample_clips expects frames [B, T, C, H, W] and flows [B, T, 2, H, W] with the same "
            f"B, T, H, W; got frames {tuple(frames.shape)} and flows {tuple(flows.shape)}"
        )
    b, t = frames.shape[:2]
    stride = n_frames**temporal_scale
    if windows is None:
        windows = clip_windows(t, n_frames, temporal_scale)
    if len(windows) == 0:
        return None
    index = torch.as_tensor([list(win) for win in windows], dtype=torch.long)  # [N, K]
    if index.dim() != 2 or index.shape[1] != n_frames or index.min() < 0 or index.max() >= t \
            or not bool((index.diff(dim=1) == stride).all()):
        raise ValueError(
            f"windows must be lists of {n_frames} frame indices in 0..{t - 1}, {stride} apart "
            f"(temporal scale {temporal_scale}); got {[list(win) for win in windows]}"
        )
    chained = _chained_flows(flows, stride)  # [B, T, 2, H, W], t -> t - stride
    index = index.to(frames.device)
    clips = frames[:, index]  # [B, N, K, C, H, W]
    clip_flows = chained[:, index[:, 1:]]  # [B, N, K-1, 2, H, W]
    return clips.flatten(0, 1), clip_flows.flatten(0, 1)


# ---------------------------------------------------------------------------------------------
# The face discriminator (reference code, pose data at 512 px and above)
# ---------------------------------------------------------------------------------------------

def face_num_D(num_D: int) -> int:
    """Spatial scales of the face discriminator: ``max(1, num_D - 2)``, as the reference (1 at
    pose-512 with ``num_D`` 3, 2 at pose-1024 with ``num_D`` 4): a face crop is a quarter of the
    frame height, so it needs fewer pyramid levels than the whole frame."""
    return max(1, num_D - 2)


def face_squares(face_box: torch.Tensor, frame_size: Sequence[int], side: int) -> torch.Tensor:
    """The crops the face discriminator judges: ``side x side`` pixels centred on each face box and
    shifted, where needed, to lie inside the frame (the reference's fixed-size crop: its size
    follows the frame, not the face, so a face far from the camera is judged with its surroundings).

    Args:
        face_box: ``[N, 4]`` ``(x0, y0, x1, y1)``, the extent of a frame's face keypoints in pixel
            coordinates (pixel centres at integers, x to the right, y down), as
            ``VideoFolderDataset`` gives it in ``face_box``.
        frame_size: ``(H, W)`` of the frames.
        side: the crop's side in pixels, ``1 <= side <= min(H, W)``.

    Returns:
        ``[N, 4]`` float ``(x0, y0, x1, y1)``: the crop's pixel *edges*, whole numbers with
        ``x1 - x0 = y1 - y0 = side``; it covers the pixels ``x0 .. x1 - 1`` and ``y0 .. y1 - 1``
        (the box form :func:`crop_boxes` reads).
    """
    h, w = (int(v) for v in frame_size)
    if not 1 <= side <= min(h, w):
        raise ValueError(f"the face crop side must lie in [1, {min(h, w)}] for {h} x {w} frames, got {side}")
    if face_box.dim() != 2 or face_box.shape[1] != 4:
        raise ValueError(f"face_box must be [N, 4] (x0, y0, x1, y1), got {tuple(face_box.shape)}")
    centre = (face_box[:, :2] + face_box[:, 2:]).float() / 2  # [N, 2] (x, y)
    # the pixel holding the centre, less half the side, is the crop's first pixel
    start = torch.floor(centre + 0.5) - side // 2
    last = torch.tensor([w - side, h - side], dtype=start.dtype, device=start.device)
    start = torch.minimum(start.clamp(min=0), last)
    return torch.cat([start, start + side], dim=1)


def crop_boxes(x: torch.Tensor, boxes: torch.Tensor, size: int) -> torch.Tensor:
    """Crop box ``n`` out of map ``n`` and resample it to ``size x size``, differentiably.

    ``torchvision.ops.roi_align`` (pixel-aligned: a box's coordinates are pixel edges): the
    gradient reaches only the pixels a crop reads. When a box is ``size`` whole pixels wide and
    high (what :func:`face_squares` gives), each output pixel reads exactly one input pixel, so the
    crop is an exact copy, as the reference's slicing; a larger box is averaged down.

    Args:
        x: ``[N, C, H, W]`` maps (frames, source maps stacked on channels).
        boxes: ``[N, 4]`` ``(x0, y0, x1, y1)`` pixel edges, one box per map.
        size: side of the output crops in pixels.

    Returns:
        ``[N, C, size, size]``; parts of a box outside the map read zeros.
    """
    from torchvision.ops import roi_align

    if x.dim() != 4 or boxes.dim() != 2 or boxes.shape != (x.shape[0], 4):
        raise ValueError(f"crop_boxes expects x [N, C, H, W] and boxes [N, 4] of the same N, got "
                         f"x {tuple(x.shape)} and boxes {tuple(boxes.shape)}")
    index = torch.arange(x.shape[0], dtype=x.dtype, device=x.device)[:, None]
    rois = torch.cat([index, boxes.to(device=x.device, dtype=x.dtype)], dim=1)  # [N, 5]
    # sampling_ratio 0: ceil(box / size) samples per output pixel and axis, 1 for an exact crop
    return roi_align(x, rois, output_size=size, spatial_scale=1.0, sampling_ratio=0, aligned=True)


class FaceDiscriminator(nn.Module):
    """The reference code's face discriminator for pose-to-body (``--add_face_disc``, on in its pose
    recipes at 512 px and above): is the face of ``x_t`` real, given the source map around it?

    Faces are small in a full-body frame, and the whole-frame ``D_I`` spends little of its capacity
    on them; this one sees a ``side x side`` crop around the face (:func:`face_squares`) of the frame
    and of its source map ``s_t``, both cropped alike (:func:`crop_boxes`), and judges the pair with
    ``D_I``'s conditional multi-scale PatchGAN (:class:`ImageDiscriminator`) at
    ``num_D = max(1, num_D - 2)`` scales (:func:`face_num_D`). The training loop shows it the
    composed frames ``x~_t`` as fakes (not the raw hallucination, as the reference) and only frames
    that have a visible face (``vid2vid.training.objective``).

    Args:
        label_channels, image_channels, ndf, n_layers, num_D, norm: as :class:`ImageDiscriminator`
            (``num_D`` here is the face discriminator's own).
        side: the crops' side in pixels (the reference: a quarter of the training frame height,
            ``model.face_crop``).
    """

    def __init__(
        self,
        label_channels: int,
        image_channels: int = 3,
        ndf: int = 64,
        n_layers: int = 3,
        num_D: int = 1,
        norm: str = "instance",
        side: int = 128,
    ):
        super().__init__()
        if side < 1:
            raise ValueError(f"the face crop side must be >= 1 pixel, got {side}")
        self.side = side
        self.label_channels = label_channels
        self.D = ImageDiscriminator(label_channels, image_channels, ndf, n_layers, num_D, norm)

    @classmethod
    def from_config(cls, cfg) -> FaceDiscriminator:
        """The face discriminator of a configuration: ``D_I``'s settings at ``face_num_D(num_D)``
        scales; crops of ``model.face_crop`` times the training frame height."""
        m = cfg.model
        h, w = cfg.data.frame_size
        side = round(m.face_crop * h)
        if not 1 <= side <= min(h, w):
            raise ValueError(f"model.face_crop={m.face_crop} gives face crops of {side} pixels for "
                             f"{h} x {w} training frames; it must give 1 to {min(h, w)} pixels")
        return cls(label_channels=cfg.data.label_channels, image_channels=3, ndf=m.ndf,
                   n_layers=m.n_layers_D, num_D=face_num_D(m.num_D), norm=m.norm_D, side=side)

    def forward(
        self, image: torch.Tensor, label: torch.Tensor, face_box: torch.Tensor, groups: int = 1
    ) -> list[list[torch.Tensor]]:
        """Score the face crops of frames given their source maps.

        Args:
            image: ``[N, 3, H, W]`` frames in ``[-1, 1]`` (real ``x_t`` or generated ``x~_t``).
            label: ``[N, C_s, H, W]`` their source maps ``s_t``.
            face_box: ``[N, 4]`` the extent of each frame's face keypoints (see :func:`face_squares`).
            groups: equal parts of the batch kept apart by batch norm (:class:`MultiscaleDiscriminator`).

        Returns:
            per spatial scale (finest first) the feature list of the crops, prediction map last.
        """
        if image.dim() != 4 or label.dim() != 4 or image.shape[0] != label.shape[0] \
                or image.shape[2:] != label.shape[2:] or tuple(face_box.shape) != (image.shape[0], 4):
            raise ValueError(
                f"the face discriminator expects image [N, 3, H, W], label [N, C_s, H, W] and "
                f"face_box [N, 4] of the same N, H, W; got image {tuple(image.shape)}, label "
                f"{tuple(label.shape)}, face_box {tuple(face_box.shape)}"
            )
        squares = face_squares(face_box, image.shape[2:], self.side)
        crops = crop_boxes(torch.cat([label, image], dim=1), squares, self.side)  # [N, C_s + 3, side, side]
        c = label.shape[1]
        return self.D(crops[:, c:], crops[:, :c], groups)
