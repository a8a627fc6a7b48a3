"""The full vid2vid objective on one chunk of generated frames (the paper's Section 3):

    min_F ( max_{D_I} L_I + max_{D_V} L_V ) + lambda_W L_W

plus the reference's feature matching, VGG, temporal-warp and mask terms (``vid2vid.losses``).

Shapes: frames ``[B, n, 3, H, W]`` in ``[-1, 1]``, flows ``[B, n, 2, H, W]`` (t -> t-1, pixels).
Each discriminator is called once per update with real and fake stacked along the batch, so that
DistributedDataParallel sees one forward per backward (with batch norm the discriminators run the
parts of that batch separately inside the one call, so real and fake never share statistics).

Following the reference code, the raw hallucination ``h~_t`` is judged too: ``D_I`` sees it as a
third input, the generator gets its GAN and feature-matching terms (and VGG when enabled), and
``D_I``'s loss is ``0.5 * (real + fake + fake_h)``.

With ``model.use_face_D`` (the reference's pose recipes at 512 px and above) a third discriminator,
``D_face`` (:class:`~vid2vid.models.discriminators.FaceDiscriminator`), judges a crop around the face
of the real and the composed frames: G gets its GAN and feature-matching terms times 2 (the
reference's face weight), ``D_face`` its real and fake terms, each halved, as ``D_I``'s. Frames
without a visible face (``Chunk.face_valid``) are left out of these terms.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from vid2vid.flow import flow_confidence
from vid2vid.losses import (
    GANLoss,
    VGGLoss,
    feature_matching_loss,
    flow_loss,
    mask_loss,
    occlusion_mask_loss,
    temporal_warp_loss,
    warp_loss,
)
from vid2vid.models.discriminators import clip_windows, face_num_D, sample_clips
from vid2vid.models.sequence import GeneratedFrames

__all__ = ["FACE_WEIGHT", "AllTemporalScales", "Chunk", "Objective", "split_outputs"]

# The reference multiplies G's face GAN and feature-matching terms by 2 (a constant in its code, no
# option); D_face's own terms are not weighted.
FACE_WEIGHT = 2.0


@dataclass
class Chunk:
    """One chunk of a training window, with the frames carried over from earlier chunks.

    ``real``, ``fake``, ``flow`` and ``flow_valid`` cover ``history + n`` frames: the last frames
    of earlier chunks (detached; context for D_V and the temporal losses) followed by the ``n``
    frames generated now. ``gen`` holds the generator's stacked outputs for the ``n`` new frames.
    """

    labels: Tensor  # [B, n, C_s, H, W] semantic inputs of the new frames
    real: Tensor  # [B, h + n, 3, H, W]
    fake: Tensor  # [B, h + n, 3, H, W], the first h detached
    flow: Tensor  # [B, h + n, 2, H, W] ground-truth flows
    flow_valid: Tensor  # [B, h + n] bool: a ground-truth flow exists (not a sequence's first frame)
    gen: GeneratedFrames  # SequenceGenerator outputs for the n new frames
    history: int  # h
    occlusion: Tensor | None = None  # [B, h + n, 1, H, W] true occlusion (loss.mask_target "occlusion")
    face_box: Tensor | None = None  # [B, n, 4] (x0, y0, x1, y1): the new frames' face keypoints' extent, px
    face_valid: Tensor | None = None  # [B, n] bool: the new frame shows a face (else out of the face terms)


@dataclass
class _Pairs:
    """The new frames of a chunk that have a predecessor ``x_{t-1}`` in it: where ``L_W``, the mask
    term and the temporal loss apply."""

    new: list[int]  # their indices among the chunk's new frames (into ``Chunk.gen``)
    t: Tensor  # [k] their indices in the chunk (into ``Chunk.real``, ``.fake``, ``.flow``)
    confidence: Tensor  # [B, k, 1, H, W] flow confidence, 0 where no ground-truth flow exists


class AllTemporalScales(nn.Module):
    """``D_V`` applied at every temporal scale in one ``forward`` (what DDP needs: one forward per
    backward). Input: per scale ``(clips [N, K, 3, H, W], flows [N, K-1, 2, H, W])`` or None."""

    def __init__(self, D_V: nn.Module):
        super().__init__()
        self.D_V = D_V

    def forward(self, inputs: list[tuple[Tensor, Tensor] | None], groups: int = 1
                ) -> list[list[list[Tensor]] | None]:
        return [None if x is None else self.D_V(x[0], x[1], s, groups) for s, x in enumerate(inputs)]


def split_outputs(outputs: list[list[Tensor]], parts: int) -> list[list[list[Tensor]]]:
    """Split every feature of a multi-scale D output into ``parts`` equal batch slices."""
    return [[[f.chunk(parts, dim=0)[i] for f in scale] for scale in outputs] for i in range(parts)]


def _flat(x: Tensor) -> Tensor:
    return x.reshape(-1, *x.shape[2:])


def _judged_fakes(gen: GeneratedFrames, detach: bool = False) -> list[Tensor]:
    """What ``D_I`` judges as fake, flattened to frames: ``x~_t`` and, when the frames are composed
    (flow warping on, so the raw hallucination differs from them), ``h~_t`` too."""
    fakes = [gen.x] if gen.m is None else [gen.x, gen.h]
    return [_flat(f.detach() if detach else f) for f in fakes]


class Objective(nn.Module):
    """Computes the generator's and the discriminators' losses for a :class:`Chunk`."""

    def __init__(self, cfg, vgg: VGGLoss | None = None):
        super().__init__()
        self.cfg = cfg
        self.gan = GANLoss(cfg.loss.gan_mode)
        self.vgg = vgg
        self.K = cfg.model.n_frames_D
        self.n_temporal = cfg.model.n_temporal_scales if cfg.model.use_video_discriminator else 0
        # the reference divides the flow weight by 2^(S-1): flows in pixels grow with resolution
        self.lambda_flow = cfg.loss.lambda_flow / 2 ** (cfg.model.n_scales - 1)
        # The reference averages the face discriminator's feature matching over D_I's num_D scales
        # although it has only max(1, num_D - 2) of them: 1/3 of D_I's weight per scale at pose-512.
        self.face_feat_scale = face_num_D(cfg.model.num_D) / cfg.model.num_D

    # ----------------------------------------------------------------------- helpers
    @staticmethod
    def _pairs(c: Chunk) -> _Pairs | None:
        """The new frames that have a predecessor in the chunk, with their flow confidence; None
        when none has (the first frame of a sequence, alone in its chunk)."""
        h, n = c.history, c.labels.shape[1]
        new = [i for i in range(n) if h + i >= 1]
        if not new:
            return None
        t = torch.tensor([h + i for i in new], device=c.real.device)
        real_t, real_p = c.real[:, t], c.real[:, t - 1]
        valid = c.flow_valid[:, t].to(c.real.dtype)[..., None, None, None]  # [B, k, 1, 1, 1]
        conf = flow_confidence(_flat(real_t), _flat(real_p), _flat(c.flow[:, t]))
        conf = conf.reshape(*real_t.shape[:2], 1, *real_t.shape[3:]) * valid
        return _Pairs(new=new, t=t, confidence=conf)

    def video_windows(self, total: int, history: int, scale: int) -> list[list[int]]:
        """D_V windows at temporal ``scale`` whose last frame is one of the new frames."""
        return [w for w in clip_windows(total, self.K, scale) if w[-1] >= history]

    def _video_inputs(self, c: Chunk, fake: Tensor) -> list[tuple[Tensor, Tensor] | None]:
        """Per temporal scale: real and fake clips stacked on the batch, with their flows; None
        where no window fits."""
        inputs: list[tuple[Tensor, Tensor] | None] = []
        for s_idx in range(self.n_temporal):
            wins = self.video_windows(c.real.shape[1], c.history, s_idx)
            if not wins:
                inputs.append(None)
                continue
            real_clips, flows = sample_clips(c.real, c.flow, self.K, s_idx, wins)
            fake_clips, _ = sample_clips(fake, c.flow, self.K, s_idx, wins)
            inputs.append((torch.cat([real_clips, fake_clips]), torch.cat([flows, flows])))
        return inputs

    @staticmethod
    def _judge_frames(D_I: nn.Module, c: Chunk, real: Tensor, fakes: list[Tensor]
                      ) -> list[list[list[list[Tensor]]]]:
        """One ``D_I`` call on the real frames and every kind of fake, stacked: per part the outputs."""
        parts = 1 + len(fakes)
        s = _flat(c.labels)
        out = D_I(torch.cat([real, *fakes]), torch.cat([s] * parts), groups=parts)
        return split_outputs(out, parts)

    # ----------------------------------------------------------------------- generator
    def generator_losses(self, c: Chunk, D_I: nn.Module, D_V: nn.Module | None,
                         D_face: nn.Module | None = None) -> dict[str, Tensor]:
        """G's weighted loss terms by name; their sum is what G minimises. Keys, in this order:
        ``G_GAN``, ``G_feat`` (``G_VGG``) from :meth:`_image_losses`; ``G_flow``, ``G_warp``
        (``G_mask``) from :meth:`_flow_losses`; ``G_temporal``; ``G_GAN_V{s}``, ``G_feat_V{s}`` per
        temporal scale s from :meth:`_video_losses`; ``G_GAN_face``, ``G_feat_face`` with a face
        discriminator (:meth:`_face_losses`). Terms that do not apply to the chunk are left out."""
        losses = self._image_losses(c, D_I)
        pairs = self._pairs(c)
        if pairs is not None:
            losses.update(self._flow_losses(c, pairs))
            if self.cfg.loss.lambda_temporal > 0:
                losses["G_temporal"] = self._temporal_loss(c, pairs)
        if D_V is not None:
            losses.update(self._video_losses(c, D_V))
        if D_face is not None:
            losses.update(self._face_losses(c, D_face))
        return losses

    def _image_losses(self, c: Chunk, D_I: nn.Module) -> dict[str, Tensor]:
        """``D_I``'s terms (``G_GAN``, ``G_feat``) and ``G_VGG``, on ``x~_t`` and on the raw
        hallucination ``h~_t`` (each against the real frame), summed over the two."""
        L = self.cfg.loss
        real = _flat(c.real[:, c.history:])
        fakes = _judged_fakes(c.gen)
        d_real, *d_fakes = self._judge_frames(D_I, c, real, fakes)
        losses: dict[str, Tensor] = {
            "G_GAN": sum(self.gan.generator_loss(d) for d in d_fakes),
            "G_feat": L.lambda_feat * sum(feature_matching_loss(d_real, d) for d in d_fakes),
        }
        if self.vgg is not None and L.lambda_vgg > 0:
            n = len(fakes)
            losses["G_VGG"] = n * L.lambda_vgg * self.vgg(torch.cat(fakes), torch.cat([real] * n))
        return losses

    def _flow_losses(self, c: Chunk, pairs: _Pairs) -> dict[str, Tensor]:
        """``L_W``'s two terms, the flow's L1 to the ground truth (``G_flow``) and the real previous
        frame warped by it against the real frame (``G_warp``), and the mask term ``G_mask``, all
        weighted by the flow confidence, on the frames G warped; none without flow."""
        L, gen = self.cfg.loss, c.gen
        warped = gen.has_warped[pairs.new].tolist()
        if gen.w is None or gen.m is None or not any(warped):
            return {}
        keep = [i for i, ok in zip(pairs.new, warped, strict=True) if ok]  # among the new frames
        sel = [j for j, ok in enumerate(warped) if ok]  # among the pairs
        t = pairs.t[sel]
        w, conf = _flat(gen.w[:, keep]), _flat(pairs.confidence[:, sel])
        real_p, real_t = _flat(c.real[:, t - 1]), _flat(c.real[:, t])
        losses = {
            "G_flow": self.lambda_flow * flow_loss(w, _flat(c.flow[:, t]), conf),
            "G_warp": L.lambda_warp * warp_loss(real_p, real_t, w, conf),
        }
        if L.lambda_mask > 0:
            losses["G_mask"] = L.lambda_mask * self._mask_loss(c, _flat(gen.m[:, keep]), conf, t)
        return losses

    def _mask_loss(self, c: Chunk, m: Tensor, conf: Tensor, t: Tensor) -> Tensor:
        """The unweighted mask term on the masks ``m [N, 1, H, W]`` of the chunk's frames ``t``:
        the reference's (``m -> 0`` where the flow is confident, ``conf``) or, with
        ``loss.mask_target`` "occlusion", the cross-entropy to the true occlusion where a ground-truth
        flow exists."""
        if self.cfg.loss.mask_target != "occlusion":
            return mask_loss(m, conf)
        if c.occlusion is None:
            raise ValueError("loss.mask_target 'occlusion' needs the dataset's occlusion "
                             "masks (_occ folders); use loss.mask_target=confidence")
        valid = c.flow_valid[:, t].to(m.dtype).reshape(-1, 1, 1, 1)
        return occlusion_mask_loss(m, _flat(c.occlusion[:, t]), valid)

    def _temporal_loss(self, c: Chunk, pairs: _Pairs) -> Tensor:
        """``G_temporal``: each generated frame against the previous generated frame warped by the
        ground-truth flow, weighted by the flow confidence (the reference's output warp loss)."""
        t = pairs.t
        return self.cfg.loss.lambda_temporal * temporal_warp_loss(
            _flat(c.fake[:, t]), _flat(c.fake[:, t - 1]), _flat(c.flow[:, t]), _flat(pairs.confidence))

    def _video_losses(self, c: Chunk, D_V: nn.Module) -> dict[str, Tensor]:
        """``D_V``'s terms (``G_GAN_V{s}``, ``G_feat_V{s}``) at every temporal scale s that has a
        clip ending in a new frame (one call for all scales)."""
        losses: dict[str, Tensor] = {}
        for s_idx, out in enumerate(D_V(self._video_inputs(c, c.fake), groups=2)):
            if out is None:
                continue
            v_real, v_fake = split_outputs(out, 2)
            losses[f"G_GAN_V{s_idx}"] = self.gan.generator_loss(v_fake)
            losses[f"G_feat_V{s_idx}"] = self.cfg.loss.lambda_feat * feature_matching_loss(v_real, v_fake)
        return losses

    def _judge_faces(self, c: Chunk, D_face: nn.Module, fake: Tensor
                     ) -> tuple[list[list[Tensor]], list[list[Tensor]], Tensor | None]:
        """One ``D_face`` call on the real and the given fake new frames ``[B * n, 3, H, W]``,
        stacked: the real and fake outputs of the frames that show a face, or, when none does, the
        outputs of every frame and a zero that depends on them (third item; None otherwise).

        ``D_face`` runs on every frame either way (a frame without a face is cropped around its
        placeholder box), so that under DistributedDataParallel every process runs the same forward
        and backward, whatever faces its own frames show."""
        if c.face_box is None or c.face_valid is None:
            raise ValueError("the face discriminator needs the face boxes of the frames (Chunk.face_box "
                             "and .face_valid, the dataset's keypoints); set model.use_face_D=false for "
                             "data without keypoints")
        real, s, box = _flat(c.real[:, c.history:]), _flat(c.labels), _flat(c.face_box)
        out = D_face(torch.cat([real, fake]), torch.cat([s, s]), torch.cat([box, box]), groups=2)
        d_real, d_fake = split_outputs(out, 2)
        keep = _flat(c.face_valid).nonzero()[:, 0]  # frames with a face, [k]
        if keep.numel() == 0:
            zero = sum(f.sum() for scale in out for f in scale) * 0.0
            return d_real, d_fake, zero
        pick = [[[f[keep] for f in scale] for scale in d] for d in (d_real, d_fake)]
        return pick[0], pick[1], None

    def _face_losses(self, c: Chunk, D_face: nn.Module) -> dict[str, Tensor]:
        """``D_face``'s terms for G on the composed frames (the reference shows it neither the raw
        hallucination nor D_I's other inputs): ``G_GAN_face`` and ``G_feat_face``, both times
        :data:`FACE_WEIGHT`; zero (but computed) when no new frame of the chunk shows a face."""
        d_real, d_fake, zero = self._judge_faces(c, D_face, _flat(c.gen.x))
        if zero is not None:
            return {"G_GAN_face": zero, "G_feat_face": zero}
        feat = self.cfg.loss.lambda_feat * self.face_feat_scale * feature_matching_loss(d_real, d_fake)
        return {"G_GAN_face": FACE_WEIGHT * self.gan.generator_loss(d_fake),
                "G_feat_face": FACE_WEIGHT * feat}

    # ----------------------------------------------------------------------- discriminators
    def discriminator_losses(self, c: Chunk, D_I: nn.Module, D_V: nn.Module | None,
                             D_face: nn.Module | None = None) -> dict[str, Tensor]:
        """``D_I``'s, ``D_V``'s (and ``D_face``'s: ``D_face_real``, ``D_face_fake``) loss terms by
        name, on the chunk's fakes detached from G."""
        real = _flat(c.real[:, c.history:])
        d_real, *d_fakes = self._judge_frames(D_I, c, real, _judged_fakes(c.gen, detach=True))
        real_term, fake_term = self.gan.discriminator_terms(d_real, d_fakes[0])
        # Both the composed frame and the raw hallucination are fakes for D_I (as the reference).
        losses = {"D_real": 0.5 * real_term, "D_fake": 0.5 * fake_term}
        if len(d_fakes) > 1:
            losses["D_fake_h"] = 0.5 * self.gan.discriminator_terms(d_real, d_fakes[1])[1]
        if D_V is not None:
            for s_idx, out in enumerate(D_V(self._video_inputs(c, c.fake.detach()), groups=2)):
                if out is None:
                    continue
                v_real, v_fake = split_outputs(out, 2)
                r, f = self.gan.discriminator_terms(v_real, v_fake)
                losses[f"D_V{s_idx}_real"], losses[f"D_V{s_idx}_fake"] = 0.5 * r, 0.5 * f
        if D_face is not None:
            f_real, f_fake, zero = self._judge_faces(c, D_face, _flat(c.gen.x.detach()))
            if zero is not None:
                losses["D_face_real"] = losses["D_face_fake"] = zero
            else:
                r, f = self.gan.discriminator_terms(f_real, f_fake)
                losses["D_face_real"], losses["D_face_fake"] = 0.5 * r, 0.5 * f
        return losses
