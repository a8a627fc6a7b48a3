"""Optical-flow estimators behind one interface: the ground-truth flow ``w_{t-1}`` of the paper.

The paper computes ``w_{t-1}`` with FlowNet2, whose compiled CUDA extensions no longer build.
Here two estimators replace it, both returning the repository's convention
(:mod:`vid2vid.flow.warp`): a *backward* flow ``t -> t-1`` in pixels, channel 0 = dx,
channel 1 = dy, so that ``warp(frame_prev, estimator(frame_t, frame_prev)) ≈ frame_t``.

- :class:`DISFlow`: OpenCV's Dense Inverse Search (Kroeger et al., ECCV 2016); CPU, no weights,
  works offline. The default.
- :class:`RAFTFlow`: torchvision's RAFT (Teed & Deng, ECCV 2020); more accurate, GPU-friendly,
  needs pretrained weights (downloaded once by the user, or a local file).
- :class:`GroundTruthFlow`: for data that ships its flow (the synthetic dataset's ``_flow``
  folder): it passes given flows through, so code written against the interface runs unchanged.

Frames are ``[B, 3, H, W]`` in ``[-1, 1]``; flows are ``[B, 2, H, W]`` float32 in pixels.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["FlowEstimator", "DISFlow", "RAFTFlow", "GroundTruthFlow", "get_flow_estimator"]


def _check_pair(frame_t: torch.Tensor, frame_prev: torch.Tensor) -> None:
    if frame_t.dim() != 4 or frame_t.shape[1] != 3 or frame_t.shape != frame_prev.shape:
        raise ValueError(
            "a flow estimator expects frame_t and frame_prev as [B, 3, H, W] of equal shape; "
            f"got frame_t {tuple(frame_t.shape)} and frame_prev {tuple(frame_prev.shape)}"
        )


class FlowEstimator:
    """Estimates the backward flow ``t -> t-1`` between two frames.

    Subclasses implement :meth:`estimate`; callers use ``estimator(frame_t, frame_prev)``
    or :meth:`estimate_sequence`.
    """

    #: True when flows are not estimated but read from the dataset's ``_flow`` folder.
    uses_dataset_flow: bool = False
    #: frame pairs per call in :meth:`estimate_sequence` (bounds memory on long sequences).
    batch_size: int = 8

    def __call__(self, frame_t: torch.Tensor, frame_prev: torch.Tensor) -> torch.Tensor:
        """Backward flow of ``frame_t`` to ``frame_prev``.

        Args:
            frame_t: ``[B, 3, H, W]`` frame t in ``[-1, 1]``.
            frame_prev: ``[B, 3, H, W]`` frame t-1 in ``[-1, 1]``.

        Returns:
            ``[B, 2, H, W]`` float32 on ``frame_t``'s device, pixels: pixel ``(x, y)`` of t
            came from ``(x + dx, y + dy)`` of t-1.
        """
        _check_pair(frame_t, frame_prev)
        return self.estimate(frame_t, frame_prev)

    def estimate(self, frame_t: torch.Tensor, frame_prev: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def estimate_sequence(self, frames: torch.Tensor) -> torch.Tensor:
        """Flows of a whole sequence: ``[T, 3, H, W]`` frames in ``[-1, 1]`` -> ``[T, 2, H, W]``.

        Entry ``t`` is the flow ``t -> t-1`` (the paper's ``w_{t-1}``); entry 0 (no previous frame)
        is zero, as in the ``_flow`` folders where the first frame has no file.
        """
        if frames.dim() != 4 or frames.shape[1] != 3:
            raise ValueError(f"estimate_sequence expects frames [T, 3, H, W], got {tuple(frames.shape)}")
        t, _, h, w = frames.shape
        flows = [torch.zeros(1, 2, h, w, device=frames.device, dtype=torch.float32)]
        for start in range(1, t, self.batch_size):
            stop = min(start + self.batch_size, t)
            flows.append(self(frames[start:stop], frames[start - 1:stop - 1]).float())
        return torch.cat(flows)


class GroundTruthFlow(FlowEstimator):
    """Flows that are known rather than estimated (the synthetic dataset's exact ``_flow`` files).

    Ground-truth flow cannot be computed from frames: the dataset reads it from
    ``<root>/<split>_flow/<sequence>/<frame>.npy`` (written by ``python -m vid2vid synth``, or
    precomputed by ``python -m vid2vid flow``). This class passes such flows through the
    estimator interface after checking their shape.

    Args:
        flows: ``[B, 2, H, W]`` for pair calls, or ``[T, 2, H, W]`` (entry 0 zero) for
            :meth:`estimate_sequence`; replace with :meth:`set_flows` for the next sequence.
    """

    uses_dataset_flow = True

    def __init__(self, flows: torch.Tensor | np.ndarray | None = None) -> None:
        self.flows: torch.Tensor | None = None
        if flows is not None:
            self.set_flows(flows)

    def set_flows(self, flows: torch.Tensor | np.ndarray) -> None:
        """Hold ``flows`` (``[N, 2, H, W]`` tensor, or ``[N, H, W, 2]`` array as stored on disk)."""
        if isinstance(flows, np.ndarray):
            flows = torch.from_numpy(np.ascontiguousarray(flows)).permute(0, 3, 1, 2)
        if flows.dim() != 4 or flows.shape[1] != 2:
            raise ValueError(f"ground-truth flows must be [N, 2, H, W], got {tuple(flows.shape)}")
        self.flows = flows.float()

    def _take(self, n: int, h: int, w: int, device: torch.device, what: str) -> torch.Tensor:
        if self.flows is None:
            raise ValueError(
                "GroundTruthFlow holds no flows: ground-truth flow is read from the dataset's "
                "<split>_flow folder, not estimated from frames; pass it as GroundTruthFlow(flows), "
                "or choose an estimator ('dis' or 'raft')"
            )
        if tuple(self.flows.shape) != (n, 2, h, w):
            raise ValueError(
                f"GroundTruthFlow holds flows {tuple(self.flows.shape)} but {what} needs {(n, 2, h, w)}"
            )
        return self.flows.to(device)

    def estimate(self, frame_t: torch.Tensor, frame_prev: torch.Tensor) -> torch.Tensor:
        b, _, h, w = frame_t.shape
        return self._take(b, h, w, frame_t.device, f"a batch of frames {tuple(frame_t.shape)}")

    def estimate_sequence(self, frames: torch.Tensor) -> torch.Tensor:
        if frames.dim() != 4 or frames.shape[1] != 3:
            raise ValueError(f"estimate_sequence expects frames [T, 3, H, W], got {tuple(frames.shape)}")
        t, _, h, w = frames.shape
        return self._take(t, h, w, frames.device, f"a sequence of frames {tuple(frames.shape)}")


def _to_gray_uint8(frame: torch.Tensor) -> np.ndarray:
    """``[3, H, W]`` in ``[-1, 1]`` -> ``uint8 [H, W]`` grey (exact inverse of ``u8 / 127.5 - 1``)."""
    rgb = ((frame.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    rgb = np.ascontiguousarray(rgb.permute(1, 2, 0).cpu().numpy())
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


class DISFlow(FlowEstimator):
    """OpenCV's DIS optical flow on greyscale frames (CPU, no weights).

    Args:
        preset: ``"ultrafast"``, ``"fast"`` or ``"medium"`` (slower, denser search with
            variational refinement; the default).
    """

    PRESETS = {
        "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
        "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
        "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
    }

    def __init__(self, preset: str = "medium") -> None:
        if preset not in self.PRESETS:
            raise ValueError(f"unknown DIS preset {preset!r}; expected one of {sorted(self.PRESETS)}")
        self.preset = preset
        self._dis = cv2.DISOpticalFlow_create(self.PRESETS[preset])

    def estimate(self, frame_t: torch.Tensor, frame_prev: torch.Tensor) -> torch.Tensor:
        out = []
        for cur, prev in zip(frame_t, frame_prev, strict=True):
            # calc(I0, I1) returns, for each pixel p of I0, the displacement d with I0(p) ≈ I1(p + d).
            # With I0 = frame t and I1 = frame t-1 that is exactly the backward flow t -> t-1.
            flow = self._dis.calc(_to_gray_uint8(cur), _to_gray_uint8(prev), None)  # [H, W, 2]
            out.append(torch.from_numpy(flow).permute(2, 0, 1))
        return torch.stack(out).to(frame_t.device)

    def __repr__(self) -> str:
        return f"DISFlow(preset={self.preset!r})"


class RAFTFlow(FlowEstimator):
    """torchvision's RAFT (``raft_large`` or ``raft_small``).

    Args:
        weights: a torchvision weight name (``"C_T_V2"``, ``"C_T_SKHT_V2"``, ...; the enum
            ``Raft_Large_Weights`` / ``Raft_Small_Weights``), a path to a state-dict file, or
            ``None`` for random weights (tests only: random RAFT outputs meaningless flow).
        small: use ``raft_small`` instead of ``raft_large``.
        num_flow_updates: RAFT's recurrent refinement iterations (torchvision's default 12).
        device: where the network runs (default: CPU); outputs return to the frames' device.
        download: allow fetching named weights into torch's hub cache; when false only an
            already cached file is used.
    """

    # RAFT's correlation pyramid divides the 1/8-resolution features by 2 three times,
    # so torchvision needs inputs of at least 8 * 16 pixels on each side.
    MIN_SIZE = 128

    def __init__(
        self,
        weights: str | os.PathLike | None = "C_T_V2",
        small: bool = False,
        num_flow_updates: int = 12,
        device: str | torch.device | None = None,
        download: bool = True,
    ) -> None:
        from torchvision.models import optical_flow as tvof

        build = tvof.raft_small if small else tvof.raft_large
        enum = tvof.Raft_Small_Weights if small else tvof.Raft_Large_Weights
        arch = "raft_small" if small else "raft_large"
        names = [w.name for w in enum]
        if weights is None:
            model = build(weights=None)
        elif isinstance(weights, str) and weights in names:
            model = self._pretrained(build, enum[weights], arch, download)
        elif Path(weights).is_file():
            model = build(weights=None)
            state = torch.load(Path(weights), map_location="cpu", weights_only=True)
            if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
                state = state["state_dict"]
            try:
                model.load_state_dict(state)
            except RuntimeError as err:
                raise ValueError(f"{weights}: not a state dict of torchvision's {arch} ({err})") from err
        else:
            raise FileNotFoundError(
                f"RAFT weights {str(weights)!r}: no such file, and not a weight name of {arch} "
                f"(expected one of {names}, a path to a .pth state dict, or None)"
            )
        self.weights = weights
        self.small = small
        self.num_flow_updates = num_flow_updates
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.model = model.eval().requires_grad_(False).to(self.device)

    @staticmethod
    def _pretrained(build, weight, arch: str, download: bool):
        cached = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(weight.url)
        fix = (
            f"Fix: on a machine with internet run once\n"
            f"  python -c \"from torchvision.models.optical_flow import {arch}, {type(weight).__name__}; "
            f"{arch}(weights={type(weight).__name__}.{weight.name})\"\n"
            f"which caches {cached.name} under {cached.parent} (copy that folder to this machine), "
            f"or download {weight.url} yourself and pass the file path as the weights "
            f"(--raft-weights PATH)."
        )
        if not cached.is_file() and not download:
            raise FileNotFoundError(f"RAFT weights {weight.name} are not in the cache ({cached}).\n{fix}")
        try:
            return build(weights=weight, progress=False)
        except Exception as err:  # URLError, socket errors, HTTP errors, partial files ...
            raise RuntimeError(f"could not download RAFT weights {weight.name} ({err}).\n{fix}") from err

    @torch.no_grad()  # not inference_mode: the flows may later serve as loss targets in autograd
    def estimate(self, frame_t: torch.Tensor, frame_prev: torch.Tensor) -> torch.Tensor:
        _, _, h, w = frame_t.shape
        # Frames in [-1, 1] already match RAFT's input normalisation.
        pair = torch.cat([frame_t, frame_prev]).to(self.device, torch.float32)
        # Small frames are upsampled to RAFT's minimum size (the flow is scaled back below);
        # then padded by edge replication to multiples of 8.
        scale = max(1.0, self.MIN_SIZE / min(h, w))
        sh, sw = max(math.ceil(h * scale), self.MIN_SIZE), max(math.ceil(w * scale), self.MIN_SIZE)
        if (sh, sw) != (h, w):
            pair = F.interpolate(pair, size=(sh, sw), mode="bilinear", align_corners=False)
        ph, pw = (-sh) % 8, (-sw) % 8
        if ph or pw:
            pair = F.pad(pair, (0, pw, 0, ph), mode="replicate")
        cur, prev = pair.chunk(2)
        # raft(img1, img2) gives, for each pixel of img1, its displacement to img2:
        # with img1 = frame t and img2 = frame t-1 that is the backward flow t -> t-1.
        flow = self.model(cur, prev, num_flow_updates=self.num_flow_updates)[-1][:, :, :sh, :sw]
        if (sh, sw) != (h, w):
            flow = F.interpolate(flow, size=(h, w), mode="bilinear", align_corners=False)
            flow = flow * torch.tensor([w / sw, h / sh], device=flow.device).view(1, 2, 1, 1)
        return flow.float().to(frame_t.device)

    def __repr__(self) -> str:
        return (f"RAFTFlow(weights={self.weights!r}, small={self.small}, "
                f"num_flow_updates={self.num_flow_updates}, device={str(self.device)!r})")


_ESTIMATORS = {"dis": DISFlow, "raft": RAFTFlow, "ground_truth": GroundTruthFlow, "gt": GroundTruthFlow}


def get_flow_estimator(name: str = "dis", **kwargs) -> FlowEstimator:
    """Build an estimator by name: ``"dis"`` (default), ``"raft"``, ``"ground_truth"`` / ``"gt"``.

    Keyword arguments go to the class (``preset`` for DIS; ``weights``, ``small``,
    ``num_flow_updates``, ``device`` for RAFT; ``flows`` for ground truth).
    """
    key = name.lower()
    if key not in _ESTIMATORS:
        raise ValueError(f"unknown flow estimator {name!r}; expected one of {sorted(_ESTIMATORS)}")
    return _ESTIMATORS[key](**kwargs)
