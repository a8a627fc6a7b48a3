"""A generator's quality on a test split with exact ground truth (the synthetic data): one report.

:func:`evaluate_generator` rolls the generator over every test sequence exactly as inference does
(first frame from the labels, each output fed back) and measures, beside the real video's values:

- **fidelity**: ``l1`` to the real frames, and ``l1_drift``, the last third's L1 over the first
  third's (1 = late frames as good as early ones);
- **artefacts**: ``checkerboard`` energy (:func:`vid2vid.metrics.artifacts.checkerboard_energy`);
- **temporal consistency**: ``warping_error`` along the ground-truth flow on visible pixels and
  ``flicker`` in static regions (:mod:`vid2vid.metrics.temporal`);
- **the heads** (vid2vid models): the predicted flow's end-point error ``flow_epe`` on visible
  pixels, beside a zero flow's and OpenCV DIS's on the real frames; the occlusion mask's ROC AUC
  ``mask_auc`` against the true occlusion, and its mean on occluded and on visible pixels.

:func:`frame_strip` draws labels / generated / real (and the flow and mask) of chosen frames.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from vid2vid.config import Config
from vid2vid.data.folder import VideoFolderDataset
from vid2vid.flow import DISFlow, flow_to_color, warp
from vid2vid.inference import InputFrame, generate_outputs
from vid2vid.metrics.artifacts import checkerboard_energy, endpoint_error, roc_auc
from vid2vid.metrics.temporal import flicker, l1_error, warping_error
from vid2vid.models import Generator
from vid2vid.video import label_to_color, to_uint8

__all__ = ["load_test_videos", "rollout", "evaluate_generator", "frame_strip", "format_report"]


def load_test_videos(cfg: Config, root: str | Path, split: str = "test",
                     limit: int | None = None) -> list[dict]:
    """Whole sequences of ``split`` at the model's size with labels, real frames, flow and occlusion."""
    ds = VideoFolderDataset(root, split=split, n_frames=None, label_nc=cfg.data.label_nc,
                            input_nc=cfg.data.input_nc, use_instance=cfg.data.use_instance, load_flow=True,
                            load_occlusion=True, load_size=(cfg.data.height, cfg.data.width), training=False)
    n = len(ds) if limit is None else min(limit, len(ds))
    return [ds[i] for i in range(n)]


def rollout(G: Generator, cfg: Config, video: dict, device: str | torch.device = "cpu") -> dict:
    """Generate one sequence: ``x [T, 3, H, W]`` and, with flow, ``w [T, 2, H, W]`` and
    ``m [T, 1, H, W]`` (entry 0, the first frame, is produced without a previous frame)."""
    T = video["label"].shape[0]
    ids = video.get("label_ids")
    frames = (InputFrame(label=video["label"][t], label_ids=None if ids is None else ids[t], real=None,
                         picture=np.zeros((1, 1, 3), np.uint8), name=str(t)) for t in range(T))
    xs, ws, ms = [], [], []
    for _, out in generate_outputs(G, cfg, frames, device):
        xs.append(out.x[0].cpu())
        if out.w is not None:
            ws.append(out.w[0].cpu())
            ms.append(out.m[0].cpu())
    res = {"x": torch.stack(xs)}
    if ws:
        res["w"], res["m"] = torch.stack(ws), torch.stack(ms)
    return res


STILL_PAN = 0.25  # |camera_pan| below this (pixels per frame): a still camera


def camera_pan(video: dict) -> float:
    """A video's camera pan: the median horizontal ground-truth flow over its pixels and frame pairs
    (pixels per frame; frame 0's empty flow left out, and moving cars are a minority of the pixels)."""
    return float(video["flow"][1:, 0].median())


def camera_moves(video: dict) -> bool:
    """Whether a video's camera pans (:func:`camera_pan` at least :data:`STILL_PAN` either way); with a
    still camera only cars and people move."""
    return abs(camera_pan(video)) >= STILL_PAN


def first_panning(videos: list[dict]) -> int:
    """The index of the first video whose camera pans (0 when none does): the one to picture, as
    streaks and smearing show on a pan."""
    return next((i for i, v in enumerate(videos) if camera_moves(v)), 0)


def carry_real_first_frame(video: dict, flow: torch.Tensor) -> torch.Tensor:
    """The real first frame carried through the video along ``flow [T, 2, H, W]`` (``flow[t]`` from
    frame t to t-1, as the generator's ``w``) as vid2vid composes with a perfect mask: each frame is the
    previous one warped, with the real frame where the true occlusion says the warp cannot know.
    Along the true flow this is what resampling alone does to the detail; along a generator's flow, what
    its flow adds."""
    real, occ = video["image"], video["occlusion"].float().reshape(video["image"].shape[0], 1,
                                                                    *video["image"].shape[-2:])
    frames = [real[0:1]]
    for t in range(1, real.shape[0]):
        moved = warp(frames[-1], flow[t:t + 1])
        frames.append((1 - occ[t:t + 1]) * moved + occ[t:t + 1] * real[t:t + 1])
    return torch.cat(frames)


def _thirds_ratio(per_frame: list[float]) -> float:
    k = max(1, len(per_frame) // 3)
    return float(np.mean(per_frame[-k:]) / max(np.mean(per_frame[:k]), 1e-12))


def evaluate_generator(G: Generator, cfg: Config, videos: list[dict], device: str | torch.device = "cpu",
                       dis: bool = True) -> dict:
    """The report (module docstring) averaged over ``videos``; ``real_*`` keys give the real video's."""
    acc: dict[str, list[float]] = {}

    def add(key: str, value: float) -> None:
        if not math.isnan(value):
            acc.setdefault(key, []).append(value)

    estimator = DISFlow("medium") if dis else None
    outputs = []
    for v in videos:
        out = rollout(G, cfg, v, device)
        outputs.append(out)
        x, real, flow, occ = out["x"], v["image"], v["flow"], v["occlusion"]
        add("l1", l1_error(x, real))
        add("l1_drift", _thirds_ratio([float((a - b).abs().mean()) for a, b in zip(x, real, strict=True)]))
        add("checkerboard", checkerboard_energy(x))
        add("real_checkerboard", checkerboard_energy(real))
        add("warping_error", warping_error(x, flow[1:], occ[1:, 0]))
        add("real_warping_error", warping_error(real, flow[1:], occ[1:, 0]))
        add("flicker", flicker(x, flows=flow[1:], occlusion=occ[1:, 0]))
        add("real_flicker", flicker(real, flows=flow[1:], occlusion=occ[1:, 0]))
        visible = occ[1:] < 0.5
        add("zero_flow_epe", endpoint_error(torch.zeros_like(flow[1:]), flow[1:], visible))
        if estimator is not None:
            add("dis_flow_epe", endpoint_error(estimator.estimate_sequence(real)[1:], flow[1:], visible))
        if "w" in out:
            add("flow_epe", endpoint_error(out["w"][1:], flow[1:], visible))
            m = out["m"][1:]
            add("mask_auc", roc_auc(m, occ[1:]))
            add("mask_occluded", float(m[~visible].mean()) if bool((~visible).any()) else math.nan)
            add("mask_visible", float(m[visible].mean()))
    report = {k: float(np.mean(vals)) for k, vals in acc.items()}
    report["sequences"] = len(videos)
    report["frames"] = int(sum(v["image"].shape[0] for v in videos))
    report["_outputs"] = outputs
    return report


def format_report(report: dict) -> str:
    """Plain-text lines of a report (ratios to the real video where it has a value)."""
    lines = []
    for key in ("l1", "l1_drift", "checkerboard", "warping_error", "flicker", "flow_epe", "zero_flow_epe",
                "dis_flow_epe", "mask_auc", "mask_occluded", "mask_visible"):
        if key not in report:
            continue
        line = f"{key:>14}: {report[key]:.4f}"
        real = report.get(f"real_{key}")
        if real:
            line += f"   (real video {real:.4f}; ratio {report[key] / real:.2f})"
        lines.append(line)
    return "\n".join(lines)


def frame_strip(video: dict, outputs: dict[str, dict], frames: list[int], path: str | Path | None = None,
                flow_max: float | None = None) -> np.ndarray:
    """A picture: one row per frame index, columns labels | each model's frame (and, for models
    with flow, its flow and mask) | real. ``outputs`` maps a model name to a :func:`rollout`."""
    from vid2vid.data.layout import write_rgb

    rows = []
    if flow_max is None:
        flow_max = float(video["flow"].norm(dim=1).amax()) or 1.0
    for t in frames:
        cells = []
        if video.get("label_ids") is not None:
            cells.append(label_to_color(video["label_ids"][t, 0].numpy()))
        for out in outputs.values():
            cells.append(to_uint8(out["x"][t]))
            if "w" in out:
                cells.append(flow_to_color(out["w"][t], max_magnitude=flow_max))
                m = (out["m"][t, 0].clamp(0, 1).numpy() * 255).astype(np.uint8)
                cells.append(np.repeat(m[..., None], 3, axis=-1))
        cells.append(to_uint8(video["image"][t]))
        gap = np.full((cells[0].shape[0], 2, 3), 255, np.uint8)
        rows.append(np.concatenate([c for cell in cells for c in (cell, gap)][:-1], axis=1))
    hgap = np.full((2, rows[0].shape[1], 3), 255, np.uint8)
    grid = np.concatenate([r for row in rows for r in (row, hgap)][:-1], axis=0)
    if path is not None:
        write_rgb(path, grid)
    return grid
