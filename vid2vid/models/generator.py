"""The sequential generator F of vid2vid (the paper's Section 3 and the reference code).

Markov assumption with ``L = n_prev`` (2 in the paper)::

    x~_t = F(x~_{t-L}^{t-1}, s_{t-L}^t)

One residual network predicts the flow ``w~`` (W), the occlusion mask ``m~`` (M) and the background
hallucination ``h~_B`` (H_B); they share the encoders and differ in their last layers:

    label encoder (s_{t-L..t} stacked)    --+           +-> image decoder -> image head -> h~_B (tanh)
                                            +-> sum z --+-> flow decoder  -> flow head  -> w~ (x 20, pixels)
    image encoder (x~_{t-L..t-1} stacked) --+                             -> mask head  -> m~ (sigmoid)
    foreground branch H_F (labels only, its own encoder-decoder, ngf / 2 wide) -> fg head -> h~_F (tanh)

and the frame is composed by :func:`vid2vid.models.compose.compose` (paper or reference variant).

Coarse to fine (``n_scales`` > 1): scale 0 is the network above, run on inputs downsampled by
``2^(n_scales-1)``; each finer scale ``s`` is a local enhancer of width ``ngf / 2^s``: one stride-2
convolution per branch on its own-resolution input, the coarser decoder's features added, a few
residual blocks, one transposed convolution and its own heads (flow scaled by ``20 * 2^s``). Only the
finest scale's heads produce the output. The previous frames given to a coarse scale are the finest
outputs downsampled (the reference keeps a separate history per scale; downsampling keeps a single
history and one interface). ``add_scale()`` / ``from_coarser()`` grow a trained model by one
scale and ``freeze_coarse()`` freezes the coarser scales while the new one catches up.

The first frame: ``prev=None`` means "no previous output". The generator then sees zero previous
frames and composes without a warped term (``m`` forced to 1), so ``x_1`` comes from the labels alone
and inference needs neither a second (single-image) model nor a real frame. The same happens,
per missing frame, when fewer than ``L`` previous frames are given (zeros fill the oldest slots).

The background mask ``m_B`` (1 = background) is an input: ``forward(labels, prev, m_B)``. When it is
omitted and the generator has ``foreground_ids``, it is computed from the one-hot labels of frame t
(:func:`vid2vid.models.compose.background_mask_from_onehot`); :func:`background_mask` computes it
from label ids.

Multimodal synthesis (``feat_nc`` > 0, pix2pixHD's feature embedding): the generator owns the
instance-wise feature encoder ``E`` (:mod:`vid2vid.models.feature_encoder`) and every frame's labels
``s_t`` are concatenated with a feature map ``f_t`` of ``feat_nc`` channels, constant inside each
instance: ``forward(labels, prev, m_B, features)``. During training ``f_t`` is ``E`` of the real frame,
pooled per instance (:meth:`Generator.encode_features`), so E trains through G's losses; at
inference it is a cluster centre per instance (:mod:`vid2vid.multimodal`). E lives inside G so
that every checkpoint of G carries it; a generator with ``feat_nc = 0`` (the default, and every
checkpoint written before the option existed) has no ``E`` and the same weights as before.

Ablations (the paper's Table 2): ``use_flow=False`` removes W and M (no flow decoder, no flow
or mask heads; ``x~ = h~``, the previous frames still enter through the image encoder);
``use_fg_prior=False`` removes H_F (a single hallucination, every pixel treated as background).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vid2vid.flow.warp import warp
from vid2vid.models.blocks import ConvNormReLU, Decoder, Encoder, Head, init_weights
from vid2vid.models.compose import COMPOSITIONS, background_mask_from_onehot, compose, hallucination
from vid2vid.models.feature_encoder import FeatureEncoder

if TYPE_CHECKING:
    from vid2vid.config import Config

__all__ = ["Generator", "GeneratorOutput", "CoarseGenerator", "LocalEnhancer"]


FLOW_BRANCHES = ("shared", "separate", "labels")  # model.flow_branch
WARP_MODES = ("bilinear", "bicubic")  # model.warp_mode


@dataclass
class GeneratorOutput:
    """What G produces for frame t. Images are ``[B, 3, H, W]`` in ``[-1, 1]``, masks ``[B, 1, H, W]``."""

    x: Tensor  # the composed frame x~_t
    h: Tensor  # the hallucination (1 - m_B) * h_F + m_B * h_B
    h_B: Tensor  # background hallucination (the whole hallucination without the fg prior)
    h_F: Tensor | None  # foreground hallucination; None without the fg prior
    m_B: Tensor  # background mask used (all ones without the fg prior)
    w: Tensor | None  # [B, 2, H, W] flow t -> t-1 in pixels; None without flow
    m: Tensor | None  # occlusion mask in (0, 1), 1 = hallucinate; None without flow
    warped: Tensor | None  # warp(x~_{t-1}, w); None for the first frame and without flow


class Features(NamedTuple):
    """Decoder outputs of one scale, passed to the next finer scale (and to the heads)."""

    image: Tensor
    flow: Tensor | None
    fg: Tensor | None

    def detach(self) -> Features:
        return Features(*(None if t is None else t.detach() for t in self))


def _init_generator(module: nn.Module) -> None:
    """:func:`vid2vid.models.blocks.init_weights` (norm scales exactly 1), then zero flow heads.

    The flow heads start at exactly zero (weights and bias), so the first warps copy the previous
    frame in place. With N(0, 0.02) weights and the x20 output scale the untrained flow is about
    11 pixels of noise, and the first few hundred steps are spent unlearning it.
    """
    init_weights(module)
    for mod in module.modules():
        if isinstance(mod, _Scale) and mod.flow_head is not None:
            nn.init.zeros_(mod.flow_head.conv.weight)
            nn.init.zeros_(mod.flow_head.conv.bias)
        if isinstance(mod, CoarseGenerator) and mod.flow_context is not None:
            nn.init.zeros_(mod.flow_context.weight)
            nn.init.zeros_(mod.flow_context.bias)


class _Scale(nn.Module):
    """Heads shared by the coarse network and the local enhancers (the last layers of W, M, H_B, H_F)."""

    image_head: Head
    flow_head: Head | None
    mask_head: Head | None
    fg_head: Head | None

    def _make_heads(self, width: int, fg_width: int, use_flow: bool, use_fg: bool, flow_scale: float):
        self.image_head = Head(width, 3, "tanh")
        self.flow_head = Head(width, 2, "none", scale=flow_scale) if use_flow else None
        self.mask_head = Head(width, 1, "sigmoid") if use_flow else None
        self.fg_head = Head(fg_width, 3, "tanh") if use_fg else None

    flow_label_encoder: nn.Module | None  # set by each scale (a class default would hide the module)
    flow_image_encoder: nn.Module | None

    def _flow_encoding(self, labels: Tensor, prev: Tensor) -> Tensor:
        """The flow branch's own encoding (``model.flow_branch`` "separate": labels and previous
        frames; "labels": the labels alone)."""
        z = self.flow_label_encoder(labels)
        return z if self.flow_image_encoder is None else z + self.flow_image_encoder(prev)

    def head_modules(self) -> list[nn.Module]:
        return [h for h in (self.image_head, self.flow_head, self.mask_head, self.fg_head) if h is not None]

    def heads(self, f: Features) -> tuple[Tensor, Tensor | None, Tensor | None, Tensor | None]:
        """``(h_B, w, m, h_F)`` from this scale's decoder features."""
        h_B = self.image_head(f.image)
        w = self.flow_head(f.flow) if self.flow_head is not None else None
        m = self.mask_head(f.flow) if self.mask_head is not None else None
        h_F = self.fg_head(f.fg) if self.fg_head is not None else None
        return h_B, w, m, h_F


class CoarseGenerator(_Scale):
    """Scale 0: the full encoder-decoder network (the reference code's architecture).

    Inputs: stacked labels ``[B, (L+1) * C_s, h, w]`` and stacked previous frames ``[B, L * 3, h, w]``.
    """

    def __init__(self, label_in: int, prev_in: int, ngf: int, n_down: int, n_blocks_enc: int,
                 n_blocks_dec: int, use_flow: bool, use_fg: bool, fg_ngf: int, fg_n_blocks: int,
                 norm: str, flow_scale: float, upsample: str = "resize", flow_context: bool = False,
                 flow_branch: str = "shared"):
        super().__init__()
        self.label_encoder = Encoder(label_in, ngf, n_down, n_blocks_enc, norm)
        # no previous frames (n_prev = 0): the per-frame pix2pixHD baseline
        self.image_encoder = Encoder(prev_in, ngf, n_down, n_blocks_enc, norm) if prev_in else None
        c = self.label_encoder.out_channels
        self.image_decoder = Decoder(c, n_blocks_dec, n_down, norm, upsample)
        self.flow_decoder = Decoder(c, n_blocks_dec, n_down, norm, upsample) if use_flow else None
        if use_fg:  # H_F: labels only, all its residual blocks between its down- and upsampling
            self.fg_encoder = Encoder(label_in, fg_ngf, n_down, 0, norm)
            self.fg_decoder = Decoder(self.fg_encoder.out_channels, fg_n_blocks, n_down, norm, upsample)
        else:
            self.fg_encoder = self.fg_decoder = None
        self._make_heads(ngf, fg_ngf, use_flow, use_fg, flow_scale)
        # model.flow_context: the bottleneck's mean over the frame, mapped to one offset per channel
        # of the flow features (starts at zero). Instance norm removes each channel's mean over the
        # frame, the form a uniform camera pan would take; this carries it past the norms. Built
        # without drawing (skip_init) so that every other layer's initial weights stay the same.
        self.flow_context = nn.utils.skip_init(nn.Conv2d, c, ngf, 1) if (use_flow and flow_context) else None
        # model.flow_branch "separate": W and M read their own encoders (built last, on a forked
        # random state, so that every other layer draws the same initial weights as with "shared")
        self.flow_label_encoder = self.flow_image_encoder = None
        if use_flow and flow_branch != "shared":  # "labels": no image encoder, W and M read s_{t-L..t} only
            with torch.random.fork_rng(devices=[]):
                self.flow_label_encoder = Encoder(label_in, ngf, n_down, n_blocks_enc, norm)
                if flow_branch == "separate":
                    self.flow_image_encoder = Encoder(prev_in, ngf, n_down, n_blocks_enc, norm)

    def features(self, labels: Tensor, prev: Tensor, coarser: Features | None = None) -> Features:
        z = self.label_encoder(labels)  # [B, ngf * 2^n_down, h / 2^n_down, w / 2^n_down]
        if self.image_encoder is not None:
            z = z + self.image_encoder(prev)
        z_flow = z if self.flow_label_encoder is None else self._flow_encoding(labels, prev)
        flow = self.flow_decoder(z_flow) if self.flow_decoder is not None else None
        if self.flow_context is not None:
            flow = flow + self.flow_context(z_flow.mean((2, 3), keepdim=True))
        fg = self.fg_decoder(self.fg_encoder(labels)) if self.fg_encoder is not None else None
        return Features(self.image_decoder(z), flow, fg)


class LocalEnhancer(_Scale):
    """A finer scale ``s`` >= 1 (pix2pixHD local-enhancer pattern), width ``ngf / 2^s``.

    Each branch halves its own-resolution input once, adds the coarser scale's decoder features
    (same size and width), runs ``n_blocks`` residual blocks and one transposed convolution.
    The flow decoder starts from the same sum as the image decoder plus the coarser flow features.
    """

    def __init__(self, scale: int, label_in: int, prev_in: int, ngf: int, n_blocks: int, use_flow: bool,
                 use_fg: bool, fg_ngf: int, norm: str, flow_scale: float, upsample: str = "resize",
                 flow_branch: str = "shared"):
        super().__init__()
        n = ngf // 2**scale
        self.label_encoder = nn.Sequential(ConvNormReLU(label_in, n, 7, norm=norm),
                                           ConvNormReLU(n, 2 * n, 3, stride=2, norm=norm))
        self.image_encoder = None
        if prev_in:
            self.image_encoder = nn.Sequential(ConvNormReLU(prev_in, n, 7, norm=norm),
                                               ConvNormReLU(n, 2 * n, 3, stride=2, norm=norm))
        self.image_decoder = Decoder(2 * n, n_blocks, 1, norm, upsample)
        self.flow_decoder = Decoder(2 * n, n_blocks, 1, norm, upsample) if use_flow else None
        nf = fg_ngf // 2**scale
        if use_fg:
            self.fg_encoder = nn.Sequential(ConvNormReLU(label_in, nf, 7, norm=norm),
                                            ConvNormReLU(nf, 2 * nf, 3, stride=2, norm=norm))
            self.fg_decoder = Decoder(2 * nf, n_blocks, 1, norm, upsample)
        else:
            self.fg_encoder = self.fg_decoder = None
        self._make_heads(n, nf, use_flow, use_fg, flow_scale * 2**scale)
        self.flow_label_encoder = self.flow_image_encoder = None
        if use_flow and flow_branch != "shared":  # as in CoarseGenerator
            with torch.random.fork_rng(devices=[]):
                self.flow_label_encoder = nn.Sequential(ConvNormReLU(label_in, n, 7, norm=norm),
                                                        ConvNormReLU(n, 2 * n, 3, stride=2, norm=norm))
                if flow_branch == "separate":
                    self.flow_image_encoder = nn.Sequential(ConvNormReLU(prev_in, n, 7, norm=norm),
                                                            ConvNormReLU(n, 2 * n, 3, stride=2, norm=norm))

    def features(self, labels: Tensor, prev: Tensor, coarser: Features | None = None) -> Features:
        if coarser is None:
            raise ValueError("a local enhancer needs the coarser scale's features")
        z = self.label_encoder(labels)  # [B, 2n, h / 2, w / 2]
        if self.image_encoder is not None:
            z = z + self.image_encoder(prev)
        image = self.image_decoder(z + coarser.image)
        z_flow = z if self.flow_label_encoder is None else self._flow_encoding(labels, prev)
        flow = self.flow_decoder(z_flow + coarser.flow) if self.flow_decoder is not None else None
        fg = self.fg_decoder(self.fg_encoder(labels) + coarser.fg) if self.fg_encoder is not None else None
        return Features(image, flow, fg)


def _downsample(x: Tensor, times: int) -> Tensor:
    """Average-pool by ``2^times`` (the input pyramid of the coarse-to-fine generator)."""
    return F.avg_pool2d(x, 2**times) if times > 0 else x


def deadzone(w: Tensor, threshold: float) -> Tensor:
    """``w [B, 2, H, W]`` (pixels) with every vector shorter than ``threshold`` set to zero.

    Bilinear resampling at a fractional shift ``d`` mixes each pixel with its neighbour in the
    proportion ``1 - d : d``; repeated frame after frame along a rollout, even ``d = 0.1`` adds up to
    a blur of about 1.6 pixels after 29 frames. A flow regressed by a network is rarely exactly zero
    where nothing moves, so a still scene smears; below half a pixel (motion that rounds to no
    pixel at all) copying the previous frame is the better guess. Gradients pass where ``w`` is kept."""
    if threshold <= 0:
        return w
    return w * (torch.linalg.vector_norm(w, dim=1, keepdim=True) >= threshold).to(w.dtype)


def label_agreement(prev_labels: Tensor, labels: Tensor, w: Tensor) -> Tensor:
    """``[B, 1, H, W]`` in ``[0, 1]``: how far frame t-1's one-hot labels ``[B, K, H, W]``, warped
    to frame t along ``w`` (bilinearly, as soft class memberships), agree with frame t's
    ``[B, K, H, W]``: ``sum_k warp(prev_labels, w)_k * labels_k``. 1 where the warp fetches a pixel of
    the same class, 0 where it fetches another class's (a road pixel that the moving car covered in
    frame t-1: copying it would leave a trail of the car behind it) and where it reads outside frame
    t-1 (content entering the frame: the warp would repeat the edge pixels into horizontal streaks)."""
    if prev_labels.shape != labels.shape or labels.dim() != 4:
        raise ValueError(f"prev_labels and labels must both be [B, K, H, W]; got {list(prev_labels.shape)} "
                         f"and {list(labels.shape)}")
    return (warp(prev_labels, w, padding_mode="zeros") * labels).sum(1, keepdim=True).clamp(0, 1)


class Generator(nn.Module):
    """The vid2vid generator F (see the module docstring).

    Args:
        label_channels: C_s, channels of one frame's semantic input (e.g. 35 + 1 for Cityscapes).
        n_prev: L, the number of previous frames (the Markov order).
        ngf, n_downsample, n_blocks_enc, n_blocks_dec: width, downsamplings and residual blocks of
            the coarsest scale (reference: 128, 3, 5, 4).
        use_fg_prior, fg_ngf, fg_n_blocks: the foreground branch H_F (reference: on, 64, 9).
        n_scales, n_blocks_local: spatial scales (local enhancers) and their residual blocks.
        norm: "instance" (affine), "batch" or "none".
        use_flow: the flow warping (W and M); False is the "no flow warping" ablation.
        composition: "paper" or "official" (:func:`vid2vid.models.compose.compose`).
        upsample: the decoders' 2x upsampling, ``"resize"`` (nearest resize + 3x3 convolution, no
            built-in checkerboard) or ``"transposed"`` (the reference's transposed convolution);
            the same parameter count either way (:class:`vid2vid.models.blocks.ConvNormReLU`).
        flow_scale: the flow head's factor at scale 0 (20: the flow is predicted in pixels / 20).
        foreground_ids: one-hot channels of the foreground classes, used to compute ``m_B`` from the
            labels of frame t when ``forward`` is not given one.
        flow_context, flow_detach, flow_branch, mask_detach: options of the flow branch that are
            not in the reference (``model.*`` in :class:`vid2vid.config.ModelConfig`).
        warp_mode: how the previous frame is resampled along ``w``: ``"bilinear"`` (the reference)
            or ``"bicubic"`` (less blur per fractional shift; the warped frame is clamped to [-1, 1]).
        flow_deadzone: pixels; the previous frame is warped along ``w`` only where ``|w|`` is at
            least this, elsewhere copied as it is (0 = warp everywhere, the reference; see
            :func:`deadzone`). ``forward`` still returns the raw ``w`` for the flow losses.
        label_occlusion: the number of one-hot label channels (the first ones of each frame's labels)
            to check the warp with, 0 = off (the reference): frame t-1's labels are warped along ``w``
            like the frame, and where they disagree with frame t's the output hallucinates whatever
            ``m`` says (see :func:`label_agreement`; ``model.label_occlusion``).
        feat_nc, nef, n_downsample_E: the instance-wise feature encoder E (multimodal synthesis):
            channels of the feature map added to every frame's labels (0 = no E), E's width and
            downsamplings (reference: 3 street / 16 face, 16, 4).
    """

    def __init__(
        self,
        label_channels: int,
        n_prev: int = 2,
        ngf: int = 128,
        n_downsample: int = 3,
        n_blocks_enc: int = 5,
        n_blocks_dec: int = 4,
        use_fg_prior: bool = True,
        fg_ngf: int = 64,
        fg_n_blocks: int = 9,
        n_scales: int = 1,
        n_blocks_local: int = 3,
        norm: str = "instance",
        use_flow: bool = True,
        composition: str = "paper",
        flow_scale: float = 20.0,
        foreground_ids: Sequence[int] = (),
        upsample: str = "resize",
        flow_context: bool = False,
        flow_detach: bool = False,
        flow_branch: str = "shared",
        mask_detach: bool = False,
        warp_mode: str = "bilinear",
        flow_deadzone: float = 0.0,
        label_occlusion: int = 0,
        feat_nc: int = 0,
        nef: int = 16,
        n_downsample_E: int = 4,
    ):
        super().__init__()
        if composition not in COMPOSITIONS:
            raise ValueError(f"composition must be one of {COMPOSITIONS}, got {composition!r}")
        if n_prev < 0 or n_scales < 1:
            raise ValueError(f"need n_prev >= 0 and n_scales >= 1, got n_prev={n_prev}, n_scales={n_scales}")
        if flow_branch not in FLOW_BRANCHES:
            raise ValueError(f"flow_branch must be one of {FLOW_BRANCHES}, got {flow_branch!r}")
        if warp_mode not in WARP_MODES:
            raise ValueError(f"warp_mode must be one of {WARP_MODES}, got {warp_mode!r}")
        if not flow_deadzone >= 0:
            raise ValueError(f"flow_deadzone must be >= 0 pixels (0 = off), got {flow_deadzone}")
        if feat_nc < 0:
            raise ValueError(f"feat_nc must be >= 0 (0 = no feature encoder), got {feat_nc}")
        if not 0 <= label_occlusion <= label_channels:
            raise ValueError(f"label_occlusion must be 0 (off) or a count of one-hot channels <= "
                             f"label_channels = {label_channels}, got {label_occlusion}")
        if n_prev == 0 and use_flow:
            raise ValueError("a per-frame generator (n_prev = 0) has no previous frame to warp: "
                             "set use_flow=False")
        self.label_channels, self.n_prev, self.ngf = label_channels, n_prev, ngf
        self.n_downsample, self.n_blocks_local, self.norm = n_downsample, n_blocks_local, norm
        self.use_fg_prior, self.fg_ngf, self.use_flow = use_fg_prior, fg_ngf, use_flow
        self.composition, self.flow_scale, self.upsample = composition, flow_scale, upsample
        self.foreground_ids = tuple(int(i) for i in foreground_ids)
        self.feat_nc = feat_nc
        self.coarse_frozen = False
        # model.flow_detach: the composite warps along w.detach(), so the GAN, feature-matching and
        # VGG terms cannot bend the flow towards whatever warp looks realistic; the flow and warp
        # losses (which read self's output w) still train it
        self.flow_detach = flow_detach
        # model.mask_detach: the composite reads m.detach(), so only the mask loss trains M; with
        # flow_detach and flow_branch "separate" the whole W/M branch is then a supervised flow and
        # occlusion estimator that the GAN, feature-matching and VGG terms cannot reach
        self.mask_detach, self.flow_branch = mask_detach, flow_branch
        self.warp_mode = warp_mode  # model.warp_mode: grid_sample's interpolation of the previous frame
        self.label_occlusion = label_occlusion  # model.label_occlusion: one-hot channels checked along w
        self.flow_deadzone = float(flow_deadzone)  # model.flow_deadzone: shorter motions are not warped
        self.scales = nn.ModuleList([CoarseGenerator(
            self._label_in, self._prev_in, ngf, n_downsample, n_blocks_enc, n_blocks_dec, use_flow,
            use_fg_prior, fg_ngf, fg_n_blocks, norm, flow_scale, upsample, flow_context, flow_branch,
        )])
        for _ in range(1, n_scales):
            self.add_scale()
        # E after the scales: every layer of the scales draws the same initial weights as without E
        self.E = FeatureEncoder(feat_nc, nef, n_downsample_E, norm, upsample) if feat_nc else None
        _init_generator(self)
        self._set_requires_grad()

    # ------------------------------------------------------------------ construction
    @property
    def _label_in(self) -> int:
        return (self.n_prev + 1) * (self.label_channels + self.feat_nc)

    @property
    def _prev_in(self) -> int:
        return self.n_prev * 3

    @property
    def n_scales(self) -> int:
        return len(self.scales)

    @classmethod
    def from_config(cls, cfg: Config) -> Generator:
        m = cfg.model
        return cls(
            label_channels=cfg.data.label_channels, n_prev=m.n_prev, ngf=m.ngf, n_downsample=m.n_downsample,
            n_blocks_enc=m.n_blocks_enc, n_blocks_dec=m.n_blocks_dec, use_fg_prior=m.use_fg_prior,
            fg_ngf=m.fg_ngf, fg_n_blocks=m.fg_n_blocks, n_scales=m.n_scales, n_blocks_local=m.n_blocks_local,
            norm=m.norm, use_flow=m.use_flow, composition=m.composition, flow_scale=m.flow_scale,
            foreground_ids=cfg.data.foreground_ids if m.use_fg_prior else (), upsample=m.upsample,
            flow_context=m.flow_context, flow_detach=m.flow_detach, flow_branch=m.flow_branch,
            mask_detach=m.mask_detach, warp_mode=m.warp_mode, flow_deadzone=m.flow_deadzone,
            label_occlusion=cfg.data.label_nc if m.label_occlusion else 0, feat_nc=m.feat_nc, nef=m.nef,
            n_downsample_E=m.n_downsample_E,
        )

    def add_scale(self) -> Generator:
        """Append a finer scale (a freshly initialised local enhancer); returns self.

        The new scale works at twice the resolution of the previous finest one, so the frame size
        doubles. Create a new optimiser afterwards (the parameters changed).
        """
        s = len(self.scales)
        if self.ngf % 2**s or (self.use_fg_prior and self.fg_ngf % 2**s):
            raise ValueError(f"cannot add scale {s}: ngf={self.ngf} and fg_ngf={self.fg_ngf} must be "
                             f"divisible by 2^{s}")
        enhancer = LocalEnhancer(s, self._label_in, self._prev_in, self.ngf, self.n_blocks_local,
                                 self.use_flow, self.use_fg_prior, self.fg_ngf, self.norm, self.flow_scale,
                                 self.upsample, self.flow_branch)
        _init_generator(enhancer)
        ref = next(self.parameters(), None)
        if ref is not None:
            enhancer.to(ref.device)
        self.scales.append(enhancer)
        self._set_requires_grad()
        return self

    def _set_requires_grad(self) -> None:
        """Train the finest scale; the coarser ones unless frozen. The heads of coarser scales are
        never used (only the finest scale's heads make the output), so they never need gradients;
        marking them so keeps distributed data parallel from waiting for their gradients."""
        for i, scale in enumerate(self.scales):
            finest = i == len(self.scales) - 1
            scale.requires_grad_(finest or not self.coarse_frozen)
            if not finest:
                for head in scale.head_modules():
                    head.requires_grad_(False)

    def load_coarser(self, state_dict: Mapping[str, Any]) -> Generator:
        """Load the weights of a trained model with exactly one scale fewer (the progressive recipe:
        train 512, add a scale for 1024, ...). The finest scale keeps its fresh weights."""
        result = self.load_state_dict(state_dict, strict=False)
        finest = f"scales.{self.n_scales - 1}."
        not_fine = [k for k in result.missing_keys if not k.startswith(finest)]
        if result.unexpected_keys or not_fine or not result.missing_keys:
            raise ValueError(
                f"expected the weights of a {self.n_scales - 1}-scale generator of the same configuration; "
                f"missing {not_fine[:5]}, unexpected {result.unexpected_keys[:5]}"
            )
        return self

    @classmethod
    def from_coarser(cls, state_dict: Mapping[str, Any], cfg: Config) -> Generator:
        """A generator for ``cfg`` (n_scales scales) whose coarser scales load ``state_dict``."""
        return cls.from_config(cfg).load_coarser(state_dict)

    def freeze_coarse(self, frozen: bool = True) -> None:
        """Freeze (or release) every scale but the finest: no gradients, no batch-norm statistic
        updates, and the coarse features enter the finest scale detached (the reference's
        ``niter_fix_global`` epochs after a scale is added)."""
        self.coarse_frozen = frozen and self.n_scales > 1
        self._set_requires_grad()
        for scale in self.scales[:-1]:
            scale.train(self.training and not self.coarse_frozen)

    def train(self, mode: bool = True) -> Generator:
        super().train(mode)
        if self.coarse_frozen:
            for scale in self.scales[:-1]:
                scale.eval()
        return self

    def parameter_counts(self) -> dict[str, Any]:
        """Parameters per part (the reference code's breakdown): ``fg_branch`` (with
        its head), ``label_encoder``, ``image_encoder``, ``image_res``, ``flow_res``, ``image_up``,
        ``flow_up``, ``heads`` (image, flow, mask) of scale 0 (and ``flow_encoders`` with
        ``flow_branch`` "separate", ``feature_encoder`` with ``feat_nc`` > 0); ``local_enhancers``,
        one total per finer scale; ``total``."""
        def n(*mods: nn.Module | None) -> int:
            return sum(p.numel() for mod in mods if mod is not None for p in mod.parameters())

        c: CoarseGenerator = self.scales[0]  # type: ignore[assignment]
        return {
            "fg_branch": n(c.fg_encoder, c.fg_decoder, c.fg_head),
            "label_encoder": n(c.label_encoder),
            "image_encoder": n(c.image_encoder),
            "image_res": n(c.image_decoder.res),
            "flow_res": n(c.flow_decoder.res) if c.flow_decoder is not None else 0,
            "image_up": n(c.image_decoder.up),
            "flow_up": n(c.flow_decoder.up) if c.flow_decoder is not None else 0,
            "heads": n(c.image_head, c.flow_head, c.mask_head),
            **({"flow_encoders": n(c.flow_label_encoder, c.flow_image_encoder)}
               if c.flow_label_encoder is not None else {}),
            **({"feature_encoder": n(self.E)} if self.E is not None else {}),
            "local_enhancers": [n(s) for s in self.scales[1:]],
            "total": n(self),
        }

    # ------------------------------------------------------------------ forward
    def encode_features(self, x: Tensor, keys: Tensor) -> Tensor:
        """The feature maps of real frames, pooled per instance: ``E(x)`` averaged inside every region.

        Args:
            x: real frames ``[.., 3, H, W]`` in ``[-1, 1]`` (any leading dimensions, e.g. ``[B, T]``).
            keys: their region keys ``int64 [.., 1, H, W]``
                (:func:`vid2vid.models.feature_encoder.region_keys`).

        Returns:
            ``[.., feat_nc, H, W]`` in ``(-1, 1)``, constant inside each region.
        """
        if self.E is None:
            raise ValueError("this generator has no feature encoder (model.feat_nc = 0)")
        lead = x.shape[:-3]
        f = self.E(x.reshape(-1, *x.shape[-3:]), keys.reshape(-1, *keys.shape[-3:]))
        return f.reshape(*lead, *f.shape[-3:])

    def forward(
        self, labels: Tensor, prev: Tensor | None = None, m_B: Tensor | None = None,
        features: Tensor | None = None,
    ) -> GeneratorOutput:
        """Generate frame t.

        Args:
            labels: ``[B, L+1, C_s, H, W]``, the semantic inputs of frames t-L..t (oldest first).
            prev: ``[B, L', 3, H, W]`` in ``[-1, 1]``, the previous outputs x~_{t-L'}..x~_{t-1} (oldest
                first, ``L' <= L``; missing older frames are zeros), or None for the first frame.
            m_B: ``[B, 1, H, W]`` in ``[0, 1]``, 1 on background classes of frame t. Ignored without
                the fg prior; computed from ``labels`` (one-hot) and ``foreground_ids`` when None.
            features: ``[B, L+1, feat_nc, H, W]``, the instance feature maps of frames t-L..t
                (:meth:`encode_features`, or cluster centres at inference); required when
                ``feat_nc`` > 0, refused otherwise.

        H and W must be divisible by ``2^(n_downsample + n_scales - 1)``.
        """
        self._check_labels(labels)
        B, T, C, H, W = labels.shape
        first = prev is None
        prev = self._pad_prev(prev, labels)
        if self.use_fg_prior:
            if m_B is None:
                if not self.foreground_ids:
                    raise ValueError("the foreground-background prior needs m_B: pass m_B or build the "
                                     "generator with foreground_ids")
                m_B = background_mask_from_onehot(labels[:, -1], self.foreground_ids)
            if m_B.shape != (B, 1, H, W):
                raise ValueError(f"m_B must be [B, 1, H, W] = {[B, 1, H, W]}, got {list(m_B.shape)}")
            m_B = m_B.to(labels.dtype)
        else:
            m_B = labels.new_ones(B, 1, H, W)

        if self.feat_nc:  # each frame's labels and its feature map: [B, L+1, C_s + feat_nc, H, W]
            labels = torch.cat([labels, self._check_features(features, labels)], dim=2)
            C = C + self.feat_nc
        elif features is not None:
            raise ValueError("features given to a generator without a feature encoder (model.feat_nc = 0)")
        s_all = labels.reshape(B, T * C, H, W)  # s_{t-L..t} stacked on channels
        x_prev = prev.reshape(B, self.n_prev * 3, H, W)  # x~_{t-L..t-1} stacked on channels (L may be 0)
        feats: Features | None = None
        for s, net in enumerate(self.scales):
            k = self.n_scales - 1 - s  # scale s sees the inputs halved k times
            frozen = self.coarse_frozen and s < self.n_scales - 1
            with torch.set_grad_enabled(torch.is_grad_enabled() and not frozen):
                feats = net.features(_downsample(s_all, k), _downsample(x_prev, k), feats)
            if frozen:
                feats = feats.detach()
        h_B, w, m, h_F = self.scales[-1].heads(feats)
        h_F_used = h_F if self.use_fg_prior else None
        w_used = None if w is None else self.warp_flow(w.detach() if self.flow_detach else w)
        if w is not None and not first:
            warped = warp(prev[:, -1], w_used, mode=self.warp_mode)
            if self.warp_mode == "bicubic":  # cubic interpolation overshoots at edges
                warped = warped.clamp(-1, 1)
        else:
            warped = None
        m_used = m.detach() if (m is not None and self.mask_detach) else m
        if warped is not None and self.label_occlusion:
            k = self.label_occlusion
            agree = label_agreement(labels[:, -2, :k], labels[:, -1, :k], w_used)
            m_used = 1 - (1 - m_used) * agree
        x = compose(warped, m_used, h_B, h_F_used, m_B, self.composition)
        h = hallucination(h_B, h_F_used, m_B)
        return GeneratorOutput(x=x, h=h, h_B=h_B, h_F=h_F, m_B=m_B, w=w, m=m, warped=warped)

    def warp_flow(self, w: Tensor) -> Tensor:
        """The flow the previous frame is warped along: ``w`` with the motions shorter than
        ``flow_deadzone`` pixels set to zero (``w`` itself when it is 0)."""
        return deadzone(w, self.flow_deadzone)

    def _check_labels(self, labels: Tensor) -> None:
        expected = f"[B, {self.n_prev + 1}, {self.label_channels}, H, W]"
        if labels.dim() != 5 or labels.shape[1] != self.n_prev + 1 or labels.shape[2] != self.label_channels:
            raise ValueError(f"labels must be {expected} (L+1 frames of C_s channels), "
                             f"got {list(labels.shape)}")
        factor = 2 ** (self.n_downsample + self.n_scales - 1)
        h, w = labels.shape[-2:]
        if h % factor or w % factor:
            raise ValueError(f"frame size {h} x {w} must be divisible by 2^(n_downsample + n_scales - 1) = "
                             f"{factor} (n_downsample={self.n_downsample}, n_scales={self.n_scales})")
        # reflection padding needs the coarsest input > 3 pixels (7x7 stems) and the bottleneck > 1
        smallest = max(2 * factor, 4 * 2 ** (self.n_scales - 1))
        if min(h, w) < smallest:
            raise ValueError(f"frame size {h} x {w} is too small for n_downsample={self.n_downsample}, "
                             f"n_scales={self.n_scales}: each side must be at least {smallest}")

    def _check_features(self, features: Tensor | None, labels: Tensor) -> Tensor:
        B, T, _, H, W = labels.shape
        expected = [B, T, self.feat_nc, H, W]
        if features is None:
            raise ValueError(f"this generator has a feature encoder (model.feat_nc = {self.feat_nc}): pass "
                             f"features {expected} (encode_features of the real frames, or cluster centres)")
        if list(features.shape) != expected:
            raise ValueError(f"features must be [B, L+1, feat_nc, H, W] = {expected}, "
                             f"got {list(features.shape)}")
        return features.to(labels.dtype)

    def _pad_prev(self, prev: Tensor | None, labels: Tensor) -> Tensor:
        B, _, _, H, W = labels.shape
        if prev is None:
            return labels.new_zeros(B, self.n_prev, 3, H, W)
        if prev.dim() != 5 or prev.shape[0] != B or prev.shape[2] != 3 or prev.shape[3:] != (H, W) \
                or not 1 <= prev.shape[1] <= self.n_prev:
            raise ValueError(f"prev must be [B, L', 3, H, W] with B={B}, 1 <= L' <= {self.n_prev}, "
                             f"H x W = {H} x {W}; got {list(prev.shape)}")
        missing = self.n_prev - prev.shape[1]
        if missing:
            prev = torch.cat([prev.new_zeros(B, missing, 3, H, W), prev], dim=1)
        return prev.to(labels.dtype)
