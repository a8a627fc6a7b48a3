"""Every loss of vid2vid (paper section 3.2 and the reference code), each a small function of tensors.

* :class:`GANLoss`: the adversarial objectives ``L_I`` (image) and ``L_V`` (video) in four forms.
* :func:`feature_matching_loss`: L1 between the discriminator's features of real and generated
  input (pix2pixHD).
* :class:`VGGLoss`: VGG19 perceptual loss (pix2pixHD).
* :func:`flow_loss` and :func:`warp_loss`: the two terms of the flow loss ``L_W`` (paper eq. 6).
* :func:`temporal_warp_loss`: consistency of consecutive *generated* frames under the real flow.
* :func:`mask_loss`: pushes the occlusion mask ``m~_t`` to 0 where warping suffices (reference);
  :func:`occlusion_mask_loss`: teaches it the true occlusion where a dataset has it.

The weights ``lambda`` that join these terms are ``vid2vid.config.LossConfig``'s (the reference's
values by default); the objective applies them (``vid2vid.training.objective``).

Masked L1 losses (flow, warp, temporal, mask) follow the reference's normalisation: the masked
absolute error is averaged over *all* elements, masked ones counting as zero, i.e.
``mean(c * |a - b|)``, not divided by the number of confident pixels. A frame with little confident
flow therefore weighs less, and an all-occluded frame contributes exactly 0 (no division by 0).

Frames are in ``[-1, 1]``; flows are backward ``t -> t-1`` in pixels (``vid2vid.flow.warp``);
confidence maps are ``[B, 1, H, W]`` in ``{0, 1}`` (``vid2vid.flow.flow_confidence``).
"""

from __future__ import annotations

import os

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

from vid2vid.flow import warp

__all__ = [
    "GAN_MODES",
    "VGG_LAYER_WEIGHTS",
    "GANLoss",
    "VGGLoss",
    "feature_matching_loss",
    "flow_loss",
    "mask_loss",
    "masked_l1",
    "occlusion_mask_loss",
    "temporal_warp_loss",
    "warp_loss",
]


# ---------------------------------------------------------------------------------------------
# Adversarial objectives
# ---------------------------------------------------------------------------------------------

GAN_MODES = ("lsgan", "hinge", "vanilla", "minimax")


def _predictions(outputs) -> list[torch.Tensor]:
    """The prediction maps of a discriminator's output.

    Accepts a multi-scale output ``list[list[Tensor]]`` (the last tensor of each scale is its
    prediction), one scale's feature list ``list[Tensor]`` (its last tensor), or a bare tensor.
    """
    if isinstance(outputs, torch.Tensor):
        return [outputs]
    if len(outputs) == 0:
        raise ValueError("discriminator output is empty: expected list[list[Tensor]], list[Tensor] or Tensor")
    if isinstance(outputs[0], torch.Tensor):
        return [outputs[-1]]
    return [scale[-1] for scale in outputs]


class GANLoss(nn.Module):
    """The adversarial loss in one of four forms, for multi-scale PatchGAN outputs.

    With ``D`` the raw patch scores (logits), ``r`` on real and ``f`` on generated input:

    ========== ======================================== =====================================
    mode       discriminator, real / fake terms          generator
    ========== ======================================== =====================================
    lsgan      ``(D(r) - 1)^2`` / ``D(f)^2``             ``(D(f) - 1)^2``
    hinge      ``relu(1 - D(r))`` / ``relu(1 + D(f))``   ``-D(f)``
    vanilla    ``-log s(D(r))`` / ``-log(1 - s(D(f)))``  ``-log s(D(f))`` (non-saturating)
    minimax    as vanilla                                ``log(1 - s(D(f)))`` (saturating)
    ========== ======================================== =====================================

    (``s`` is the sigmoid; each term is averaged over the patches of a map.) ``vanilla`` and
    ``minimax`` are the log-likelihood form of the paper's equations (3)-(5),
    ``E[log D(x)] + E[log(1 - D(x~))]``: the discriminator maximises it (binary cross-entropy with
    logits), the generator minimises it in ``minimax``, whose gradient vanishes while ``D``
    confidently rejects the fakes early in training; ``vanilla`` maximises ``log D(x~)`` instead,
    which has the same fixed point and strong gradients then (Goodfellow et al. 2014).
    ``lsgan`` (least squares, Mao et al. 2017) is what the reference code always trains with.

    Scales: the reference *sums* the loss over the discriminator's spatial scales (so with
    ``num_D = 2`` the adversarial term weighs twice one scale's), which ``scale_reduction="sum"``
    reproduces; ``"mean"`` averages them instead.

    The discriminator's loss is ``(real term + fake term) / 2``, as the reference.
    """

    def __init__(self, mode: str = "lsgan", scale_reduction: str = "sum"):
        super().__init__()
        if mode not in GAN_MODES:
            raise ValueError(f"GAN mode must be one of {GAN_MODES}, got {mode!r}")
        if scale_reduction not in ("sum", "mean"):
            raise ValueError(f"scale_reduction must be 'sum' or 'mean', got {scale_reduction!r}")
        self.mode = mode
        self.scale_reduction = scale_reduction

    def _reduce(self, terms: list[torch.Tensor]) -> torch.Tensor:
        total = torch.stack(terms).sum()
        return total / len(terms) if self.scale_reduction == "mean" else total

    def _d_term(self, pred: torch.Tensor, real: bool) -> torch.Tensor:
        if self.mode == "lsgan":
            return ((pred - 1) ** 2).mean() if real else (pred**2).mean()
        if self.mode == "hinge":
            return F.relu(1 - pred).mean() if real else F.relu(1 + pred).mean()
        # vanilla / minimax: binary cross-entropy with logits; softplus(-x) = -log sigmoid(x).
        return F.softplus(-pred).mean() if real else F.softplus(pred).mean()

    def _g_term(self, pred: torch.Tensor) -> torch.Tensor:
        if self.mode == "lsgan":
            return ((pred - 1) ** 2).mean()
        if self.mode == "hinge":
            return -pred.mean()
        if self.mode == "vanilla":
            return F.softplus(-pred).mean()  # -log D(x~)
        return -F.softplus(pred).mean()  # minimax: log(1 - D(x~)) = -softplus(logit)

    def discriminator_terms(self, real_outputs, fake_outputs) -> tuple[torch.Tensor, torch.Tensor]:
        """The discriminator's real and fake terms separately (for logging), each reduced over scales.

        Args:
            real_outputs: ``D`` on real input: ``list[list[Tensor]]`` (or one scale / one tensor).
            fake_outputs: ``D`` on generated input, *detached* from the generator by the caller.
        """
        real = self._reduce([self._d_term(p, True) for p in _predictions(real_outputs)])
        fake = self._reduce([self._d_term(p, False) for p in _predictions(fake_outputs)])
        return real, fake

    def discriminator_loss(self, real_outputs, fake_outputs) -> torch.Tensor:
        """What ``D`` minimises: ``(real term + fake term) / 2``."""
        real, fake = self.discriminator_terms(real_outputs, fake_outputs)
        return 0.5 * (real + fake)

    def generator_loss(self, fake_outputs) -> torch.Tensor:
        """What ``G`` minimises, from ``D``'s output on the generated input (not detached)."""
        return self._reduce([self._g_term(p) for p in _predictions(fake_outputs)])


def feature_matching_loss(
    real_outputs: list[list[torch.Tensor]], fake_outputs: list[list[torch.Tensor]]
) -> torch.Tensor:
    """Discriminator feature matching (pix2pixHD): L1 between ``D``'s features on real and fake input.

    For ``num_D`` scales with ``n`` intermediate feature maps each (``n = n_layers + 1``, the
    prediction map excluded), as the reference:

        ``sum_scales sum_layers (1 / num_D) * (4 / n) * mean|D_k(fake) - D_k(real)|``

    i.e. the mean over scales of the per-layer L1s summed with weight ``4 / n`` (1 each for the
    default 3 layers). Real features are detached: only the generator learns from this loss.
    Multiply by ``LossConfig.lambda_feat`` (10).
    """
    if len(real_outputs) != len(fake_outputs) or len(real_outputs) == 0:
        raise ValueError(
            f"feature matching needs the same non-zero number of scales for real and fake, got "
            f"{len(real_outputs)} and {len(fake_outputs)}"
        )
    num_d = len(fake_outputs)
    total = fake_outputs[0][-1].new_zeros(())
    for real_feats, fake_feats in zip(real_outputs, fake_outputs, strict=True):
        if len(real_feats) != len(fake_feats) or len(fake_feats) < 2:
            raise ValueError(
                f"each scale needs the same >= 2 outputs (features + prediction) for real and fake, "
                f"got {len(real_feats)} and {len(fake_feats)}"
            )
        n = len(fake_feats) - 1
        for real_f, fake_f in zip(real_feats[:-1], fake_feats[:-1], strict=True):
            total = total + (4.0 / n) / num_d * F.l1_loss(fake_f, real_f.detach())
    return total


# ---------------------------------------------------------------------------------------------
# VGG19 perceptual loss
# ---------------------------------------------------------------------------------------------

# Weights of relu1_1, relu2_1, relu3_1, relu4_1, relu5_1 (pix2pixHD): deep features dominate.
VGG_LAYER_WEIGHTS = (1.0 / 32, 1.0 / 16, 1.0 / 8, 1.0 / 4, 1.0)
# Indices into torchvision's ``vgg19().features`` just after each of those ReLUs (exclusive ends).
_VGG_SLICE_ENDS = (2, 7, 12, 21, 30)
# VGG19's convolutions up to conv5_1 ("M" = 2x2 max pooling): torchvision's layout, truncated.
_VGG19_UP_TO_CONV5_1 = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512)

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


def _vgg19_features_to_relu5_1() -> nn.Sequential:
    """``torchvision.models.vgg19().features[:30]`` without building the rest (the classifier alone
    holds 120 M parameters); module indices, hence state-dict keys, are torchvision's."""
    layers: list[nn.Module] = []
    channels = 3
    for v in _VGG19_UP_TO_CONV5_1:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            conv = nn.Conv2d(channels, v, kernel_size=3, padding=1)
            nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(conv.bias)
            layers += [conv, nn.ReLU(inplace=True)]
            channels = v
    return nn.Sequential(*layers)


def _features_state_dict(state: dict, source: str) -> dict:
    """Keep the ``features`` entries up to relu5_1 of a vgg19 state dict (full model or features only)."""
    out = {}
    for key, value in state.items():
        name = key[len("features."):] if key.startswith("features.") else key
        head = name.split(".", 1)[0]
        if head.isdigit() and int(head) < _VGG_SLICE_ENDS[-1]:
            out[name] = value
    if not out:
        raise RuntimeError(
            f"{source} holds no VGG19 feature weights: expected keys like 'features.0.weight' "
            f"(torchvision vgg19 state dict) or '0.weight' (its .features); found "
            f"{sorted(state)[:5]}..."
        )
    return out


class VGGLoss(nn.Module):
    """VGG19 perceptual loss (pix2pixHD): ``sum_i lambda_i * mean|phi_i(x~) - phi_i(x)|``.

    ``phi_i`` are torchvision's ``vgg19`` features at relu1_1, relu2_1, relu3_1, relu4_1, relu5_1
    with weights :data:`VGG_LAYER_WEIGHTS`. Inputs in ``[-1, 1]`` are mapped to ``[0, 1]`` and
    normalised with the ImageNet mean and standard deviation, which the network was trained on
    (the reference feeds ``[-1, 1]`` directly). Inputs wider than ``max_width`` are 2x2
    average-pooled until they fit, as the reference does, to bound memory at 2K. The network is
    frozen; features of the real frame are computed without a graph. Multiply by
    ``LossConfig.lambda_vgg`` (10).

    Args:
        weights: ``"imagenet"``: torchvision's ``VGG19_Weights.IMAGENET1K_V1`` (downloaded once
            into the torch hub cache; a clear error explains what to do offline); a path to a
            local ``.pth`` state dict of ``vgg19`` or of its ``.features``; or ``"random"``:
            random weights, a meaningless loss meant *only* for tests and smoke runs.
        max_width: pooling threshold in pixels (``None``: never pool).
    """

    def __init__(self, weights: str | os.PathLike = "imagenet", max_width: int | None = 1024):
        super().__init__()
        features = _vgg19_features_to_relu5_1()
        if isinstance(weights, str) and weights == "random":
            pass
        elif isinstance(weights, str) and weights == "imagenet":
            features.load_state_dict(_features_state_dict(_imagenet_vgg19_state_dict(), "ImageNet VGG19"))
        else:
            path = os.fspath(weights)
            if not os.path.isfile(path):
                raise FileNotFoundError(
                    f"VGG19 weights file {path!r} does not exist; expected 'imagenet', 'random' or the "
                    f"path of a vgg19 state dict (.pth)"
                )
            state = torch.load(path, map_location="cpu", weights_only=True)
            features.load_state_dict(_features_state_dict(state, path))
        starts = (0,) + _VGG_SLICE_ENDS[:-1]
        self.slices = nn.ModuleList(
            features[start:end] for start, end in zip(starts, _VGG_SLICE_ENDS, strict=True)
        )
        self.slices.requires_grad_(False)
        self.slices.eval()
        self.max_width = max_width
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> VGGLoss:
        """The VGG stays in eval mode whatever the surrounding model's mode."""
        super().train(mode)
        self.slices.eval()
        return self

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The five ReLU feature maps of ``x [B, 3, H, W]`` in ``[-1, 1]``."""
        h = ((x + 1) / 2 - self.mean) / self.std
        out = []
        for s in self.slices:
            h = s(h)
            out.append(h)
        return out

    def forward(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        """``fake``, ``real``: ``[B, 3, H, W]`` in ``[-1, 1]``. Gradients reach ``fake`` only."""
        if fake.shape != real.shape or fake.dim() != 4 or fake.shape[1] != 3:
            raise ValueError(
                f"VGGLoss expects fake and real [B, 3, H, W] of the same shape, got "
                f"{tuple(fake.shape)} and {tuple(real.shape)}"
            )
        while self.max_width is not None and fake.shape[-1] > self.max_width:
            fake, real = F.avg_pool2d(fake, 2), F.avg_pool2d(real, 2)
        with torch.no_grad():
            real_feats = self.features(real)
        fake_feats = self.features(fake)
        loss = fake.new_zeros(())
        for w, f, r in zip(VGG_LAYER_WEIGHTS, fake_feats, real_feats, strict=True):
            loss = loss + w * F.l1_loss(f, r)
        return loss


def _imagenet_vgg19_state_dict() -> dict:
    """torchvision's ImageNet VGG19 weights (from the torch hub cache, else downloaded)."""
    weights = torchvision.models.VGG19_Weights.IMAGENET1K_V1
    try:
        return weights.get_state_dict(progress=True, check_hash=True)
    except Exception as err:  # no network, proxy, corrupt cache: all need the same advice
        cache = os.path.join(torch.hub.get_dir(), "checkpoints")
        raise RuntimeError(
            f"Could not load the ImageNet VGG19 weights for the perceptual loss ({type(err).__name__}: "
            f"{err}). torchvision looks for them in {cache} and downloads them from {weights.url} "
            f"otherwise. Fix one of: (1) download them once on a machine with network access: "
            f"python -c \"import torchvision; torchvision.models.vgg19(weights='IMAGENET1K_V1')\" and "
            f"copy {os.path.basename(weights.url)} into {cache}; (2) set `vgg_weights` to the path of "
            f"a local vgg19 state dict (.pth); (3) set `lambda_vgg: 0` to train without the VGG loss."
        ) from err


# ---------------------------------------------------------------------------------------------
# Flow, warp, temporal and mask losses
# ---------------------------------------------------------------------------------------------


def masked_l1(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """``mean(mask * |a - b|)`` over all elements (the reference's masked L1).

    ``a``, ``b``: ``[B, C, H, W]``; ``mask``: ``[B, 1, H, W]`` (broadcast over channels) or
    ``None`` for the plain L1. Masked-out pixels contribute 0 and receive no gradient.
    """
    if a.shape != b.shape:
        raise ValueError(
            f"masked_l1 expects tensors of the same shape, got {tuple(a.shape)} and {tuple(b.shape)}"
        )
    diff = (a - b).abs()
    if mask is None:
        return diff.mean()
    if mask.dim() != 4 or a.dim() != 4 or mask.shape[1] != 1 or mask.shape[0] != a.shape[0] \
            or mask.shape[2:] != a.shape[2:]:
        raise ValueError(f"mask must be [B, 1, H, W] matching {tuple(a.shape)}, got {tuple(mask.shape)}")
    return (diff * mask.to(diff.dtype)).mean()


def flow_loss(w_pred: torch.Tensor, w_gt: torch.Tensor, confidence: torch.Tensor) -> torch.Tensor:
    """First term of ``L_W`` (paper eq. 6): ``||w~_t - w_t||_1`` on pixels where the ground truth
    is trusted.

    Args:
        w_pred: ``[B, 2, H, W]`` predicted backward flow ``w~_t`` (t -> t-1), pixels.
        w_gt: ``[B, 2, H, W]`` ground-truth flow ``w_t`` (FlowNet2 / RAFT / DIS), pixels.
        confidence: ``[B, 1, H, W]``, 1 where ``w_t`` explains frame t
            (:func:`vid2vid.flow.flow_confidence`); elsewhere (occlusions, estimator failures)
            the ground truth is not imitated.

    Returns ``mean(c * |w~ - w|)`` (module docstring). The reference additionally divides
    ``lambda_F`` by ``2^(n_spatial_scales - 1)`` because flows grow with resolution; the caller
    applies that.
    """
    return masked_l1(w_pred, w_gt, confidence)


def warp_loss(
    prev_real: torch.Tensor, real: torch.Tensor, w_pred: torch.Tensor, confidence: torch.Tensor | None = None
) -> torch.Tensor:
    """Second term of ``L_W`` (paper eq. 6): ``||w~_t(x_{t-1}) - x_t||_1``, the real previous frame
    warped by the *predicted* flow should reproduce the real current frame.

    Args:
        prev_real: ``[B, 3, H, W]`` real ``x_{t-1}`` in ``[-1, 1]``.
        real: ``[B, 3, H, W]`` real ``x_t`` in ``[-1, 1]``.
        w_pred: ``[B, 2, H, W]`` predicted flow ``w~_t`` (t -> t-1); gradients reach it through
            the bilinear warp.
        confidence: ``[B, 1, H, W]`` ground-truth confidence, as in the reference: pixels that no
            flow can explain (disoccluded regions) would otherwise pull the flow towards whatever
            happens to match in colour. ``None``: unmasked, the paper's literal form.
    """
    return masked_l1(warp(prev_real, w_pred), real, confidence)


def temporal_warp_loss(
    fake: torch.Tensor, prev_fake: torch.Tensor, w_gt: torch.Tensor, confidence: torch.Tensor
) -> torch.Tensor:
    """Temporal consistency of the output (reference code): ``mean(c * |x~_t - w_t(x~_{t-1})|)``.

    The previous *generated* frame warped by the *ground-truth* flow is the target for the current
    generated frame on confident pixels. The target is detached, as in the reference: the loss
    moves the current frame towards a motion-consistent continuation of the past, never the past
    (which truncated back-propagation may have detached anyway) towards the present.

    Args:
        fake: ``[B, 3, H, W]`` generated ``x~_t`` in ``[-1, 1]``.
        prev_fake: ``[B, 3, H, W]`` generated ``x~_{t-1}`` in ``[-1, 1]``.
        w_gt: ``[B, 2, H, W]`` ground-truth flow ``w_t`` (t -> t-1), pixels.
        confidence: ``[B, 1, H, W]`` confidence of ``w_t``.
    """
    target = warp(prev_fake, w_gt).detach()
    return masked_l1(fake, target, confidence)


def mask_loss(mask: torch.Tensor, confidence: torch.Tensor) -> torch.Tensor:
    """Occlusion-mask regulariser (reference code): ``mean(c * |m~_t|)``.

    Where the ground-truth flow is confident, warping the previous frame explains frame t, so the
    composition should copy the warped pixel (``m~_t -> 0``) rather than hallucinate; this keeps
    the generator from ignoring the flow branch. The reference applies it when the first frame
    is generated rather than given (``--no_first_img``), with weight 1.

    Args:
        mask: ``[B, 1, H, W]`` soft occlusion mask ``m~_t`` in ``(0, 1)`` (1 = hallucinate).
        confidence: ``[B, 1, H, W]`` confidence of the ground-truth flow ``w_t``.
    """
    return masked_l1(mask, torch.zeros_like(mask), confidence)


def occlusion_mask_loss(mask: torch.Tensor, occlusion: torch.Tensor, valid: torch.Tensor | None = None,
                        eps: float = 1e-6) -> torch.Tensor:
    """Binary cross-entropy of the occlusion mask against a known occlusion map.

    The reference's :func:`mask_loss` only pushes ``m~_t`` down where the flow is confident; nothing
    tells the mask where it should rise, so it learns no structure. Where a dataset stores the
    occlusion of every pixel (the synthetic data's ``_occ`` folders), this loss gives both sides:
    ``m~ -> 1`` on pixels of frame t not visible in t-1, ``m~ -> 0`` elsewhere.

    Args:
        mask: ``[B, 1, H, W]`` soft occlusion mask ``m~_t`` in ``(0, 1)`` (1 = hallucinate).
        occlusion: ``[B, 1, H, W]`` in ``{0, 1}``, 1 where the pixel of frame t is not visible in t-1.
        valid: ``[B, 1, 1, 1]`` (or broadcastable) weights, 0 for frames without a predecessor.
    """
    m = mask.float().clamp(eps, 1 - eps)
    o = occlusion.to(m.dtype)
    bce = -(o * m.log() + (1 - o) * (1 - m).log())
    if valid is not None:
        bce = bce * valid.to(bce.dtype)
    return bce.mean()
