"""What makes vid2vid's frames look right: train variants side by side, measure each on fresh videos.

    python reproduce/quality.py                        # every variant, 600 steps each, 2 at a time
    python reproduce/quality.py --variants resize occlusion-mask --steps 400
    python reproduce/quality.py --evaluate runs/pretrained/vid2vid/generator.pt
    python reproduce/quality.py --oracle reproduce/pretrained/synthetic_vid2vid.pt --eval-sequences 8

Every variant is the ``synthetic`` preset plus a few overrides (``VARIANTS`` below, each adding one
change to the one before it, then the per-frame baseline with the same settings); it is trained
with ``reproduce/train.py`` (one thread per process) and evaluated on test sequences of a seed that
training never saw (:func:`vid2vid.quality.evaluate_generator`: L1 and its drift along the video,
checkerboard energy, warping error, flicker, flow end-point error, occlusion-mask ROC AUC).
Results: ``<results>/<variant>.json``, a picture of frames 0, 5, 15 and 29 per variant
(``<results>/<variant>.png``: labels | frame | flow | mask | real), and ``<results>/table.md``, the
table of all variants measured so far with the command and the machine.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# name -> (what changes, overrides on top of the synthetic preset). Each builds on the one before.
# The reference's flow branch (shared encoders, nothing detached), the synthetic preset's before the
# label-only branch of section 12 of the write-up; the variants below were measured with it.
SHARED = ["model.flow_branch=shared", "model.flow_context=false", "model.flow_detach=false",
          "model.mask_detach=false"]
REFERENCE = ["model.upsample=transposed", "loss.mask_target=confidence", "data.synthetic_motion=1", *SHARED]
VARIANTS: dict[str, tuple[str, list[str]]] = {
    "reference": ("the reference's recipe: transposed-convolution decoders, mask pushed to 0 where the "
                  "flow is confident, the default slow motion (about 1 px/frame at 64 x 128)", REFERENCE),
    "motion4": ("camera and cars 4x faster (data.synthetic_motion=4)",
                ["model.upsample=transposed", "loss.mask_target=confidence", "data.synthetic_motion=4",
                 *SHARED]),
    "resize": ("+ nearest-resize + convolution decoders instead of transposed convolutions",
               ["model.upsample=resize", "loss.mask_target=confidence", "data.synthetic_motion=4", *SHARED]),
    "occlusion-mask": ("+ the mask learns the true occlusion (cross-entropy; loss.mask_target=occlusion)",
                       ["model.upsample=resize", "loss.mask_target=occlusion", "data.synthetic_motion=4",
                        *SHARED]),
    "per-frame": ("the per-frame baseline (pix2pixHD: no previous frames, no flow, D_I only), same data",
                  ["--config", "reproduce/configs/tables/pix2pixHD.yaml", "model.upsample=resize",
                   "data.synthetic_motion=4"]),
}
KEYS = ["l1", "l1_drift", "checkerboard", "warping_error", "flicker", "flow_epe", "mask_auc"]


def motion_of(args: list[str]) -> float:
    for a in args:
        if a.startswith("data.synthetic_motion="):
            return float(a.split("=", 1)[1])
    return 4.0


def ensure_eval_data(cfg, sequences: int, root: Path | None = None) -> Path:
    """Test sequences of seed 1 (training uses seed 0) at the configuration's size, motion, foreground
    palette and still-camera fraction, in ``<root>/quality_eval_motion<M>`` (``root`` defaults to
    ``data``; ``_palette`` and ``_still<F>`` are added to the name where those are on)."""
    from vid2vid.data.synthetic import SyntheticConfig, write_dataset

    scene = SyntheticConfig.of_model(cfg.data)
    name = f"quality_eval_motion{cfg.data.synthetic_motion:g}{scene.settings_suffix()}"
    root = (Path(root) if root is not None else REPO / "data") / name
    from vid2vid.data.layout import list_sequences

    have = len(list_sequences(root / "test_A")) if (root / "test_A").is_dir() else 0
    if have != sequences:  # sequence i is the same whatever the count, so a rewrite only adds or drops
        write_dataset(root, n_train=0, n_test=sequences, frames=scene.frames, height=scene.height,
                      width=scene.width, seed=1, config=scene, progress=False, overwrite=True)
    return root


def evaluate(checkpoint: Path, sequences: int, picture: Path | None = None, root: Path | None = None,
             overrides: list[str] = ()) -> dict:
    """The quality report of one ``generator.pt`` on the fresh test sequences of its motion, run with
    ``overrides`` of its stored configuration (settings that keep the weights)."""
    import torch

    from vid2vid.models.io import load_generator
    from vid2vid.quality import evaluate_generator, frame_strip, load_test_videos

    torch.manual_seed(0)
    cfg, G, step = load_generator(checkpoint, overrides=overrides)
    root = ensure_eval_data(cfg, sequences, root)
    videos = load_test_videos(cfg, root)
    report = evaluate_generator(G, cfg, videos)
    outputs = report.pop("_outputs")
    if picture is not None:
        T = videos[0]["image"].shape[0]
        frame_strip(videos[0], {"model": outputs[0]}, [0, 5, T // 2, T - 1], picture)
    shown = root.resolve().relative_to(REPO) if root.resolve().is_relative_to(REPO) else root
    report.update(step=step, eval_root=str(shown), checkpoint=str(checkpoint), run_with=list(overrides))
    return report


ORACLES = {
    "as trained": "the generator's own flow and mask",
    "true flow": "the ground-truth flow replaces the predicted one (the mask as predicted)",
    "true occlusion": "the true occlusion replaces the mask (the flow as predicted)",
    "no hallucination": "mask 0 everywhere: every frame after the first is the warp alone",
    "true flow and occlusion": "both replaced",
}


def oracle_generator(G, videos: list[dict], oracle: str):
    """``G`` with its flow and / or mask replaced by the test video's ground truth (:data:`ORACLES`):
    which head's errors the warping error comes from. A wrapper with G's call signature; the
    video being rolled out is ``wrapper.video`` (set it before each rollout)."""
    import torch
    from torch import nn

    from vid2vid.flow.warp import warp
    from vid2vid.models.compose import compose

    class Oracle(nn.Module):
        def __init__(self):
            super().__init__()
            self.G, self.video, self.t = G, videos[0], 0
            self.n_prev, self.use_fg_prior, self.feat_nc = G.n_prev, G.use_fg_prior, G.feat_nc

        def forward(self, labels, prev=None, m_B=None, features=None):
            out = self.G(labels, prev, m_B, features)
            self.t = 0 if prev is None else self.t + 1
            if prev is None or oracle == "as trained":
                return out
            w, m = out.w, out.m
            if "flow" in oracle:
                w = self.video["flow"][self.t][None].to(w)
            if "occlusion" in oracle:
                m = self.video["occlusion"][self.t][None].to(m)
            if oracle == "no hallucination":
                m = torch.zeros_like(m)
            warped = warp(prev[:, -1], w)
            h_F = out.h_F if self.G.use_fg_prior else None
            out.x = compose(warped, m, out.h_B, h_F, out.m_B, self.G.composition)
            out.w, out.m, out.warped = w, m, warped
            return out

    return Oracle()


def oracle_table(checkpoint: Path, sequences: int, root: Path | None = None) -> tuple[str, dict]:
    """The warping error of ``checkpoint`` with each of :data:`ORACLES`, on the fresh test videos."""
    import torch

    from vid2vid.models.io import load_generator
    from vid2vid.quality import evaluate_generator, load_test_videos

    cfg, G, step = load_generator(checkpoint)
    videos = load_test_videos(cfg, ensure_eval_data(cfg, sequences, root))
    results = {}
    for name in ORACLES:
        torch.manual_seed(0)
        wrapper = oracle_generator(G, videos, name)
        reports = []
        for v in videos:
            wrapper.video = v
            r = evaluate_generator(wrapper, cfg, [v], dis=False)
            r.pop("_outputs")
            reports.append(r)
        results[name] = {k: sum(r[k] for r in reports) / len(reports)
                         for k in ("l1", "checkerboard", "real_checkerboard", "warping_error",
                                   "real_warping_error", "flow_epe", "mask_visible")}
    from vid2vid.data.folder import VideoFolderDataset

    windows = VideoFolderDataset(ensure_eval_data(cfg, sequences, root), split="test", n_frames=G.n_prev + 1,
                                 label_nc=cfg.data.label_nc, input_nc=cfg.data.input_nc,
                                 use_instance=cfg.data.use_instance, load_flow=True,
                                 load_size=(cfg.data.height, cfg.data.width), training=False)
    G.eval()
    real_epe, zero_epe = flow_errors(G, cfg, windows)
    results["flow_from_real_frames"] = {"epe": real_epe, "zero_epe": zero_epe}
    lines = [f"{checkpoint} (step {step}), {sequences} test videos of seed 1", "",
             "| oracle | warping error / real | L1 | checkerboard / real frames' | flow EPE (px) "
             "| mask on visible |", "|---|---|---|---|---|---|"]
    for name, r in results.items():
        if name not in ORACLES:
            continue
        lines.append(f"| {name} | {r['warping_error'] / r['real_warping_error']:.2f} | {r['l1']:.3f} | "
                     f"{r['checkerboard'] / r['real_checkerboard']:.2f} | {r['flow_epe']:.2f} | "
                     f"{r['mask_visible']:.2f} |")
    lines.append(f"\nflow end-point error from the real previous frames (the last frame of every window of "
                 f"{G.n_prev + 1}): {real_epe:.2f} px (zero flow {zero_epe:.2f})")
    return "\n".join(lines), results


def last_frame_flow(G, cfg, item: dict):
    """G's flow for the last frame of a window given its *real* previous frames, and the true flow."""
    from vid2vid.models import background_mask

    m_B = background_mask(item["label_ids"][None, -1], cfg.data.foreground_ids)
    return G(item["label"][None], item["image"][None, :-1], m_B).w, item["flow"][None, -1]


def flow_errors(G, cfg, ds) -> tuple[float, float]:
    """Mean end-point error of :func:`last_frame_flow` over about 40 windows of ``ds``, and a zero
    flow's."""
    import torch

    from vid2vid.metrics.artifacts import endpoint_error

    with torch.no_grad():
        pairs = [last_frame_flow(G, cfg, ds[i]) for i in range(0, len(ds), max(1, len(ds) // 40))]
    errors = [endpoint_error(w, t) for w, t in pairs]
    zeros = [endpoint_error(torch.zeros_like(t), t) for _, t in pairs]
    return sum(errors) / len(errors), sum(zeros) / len(zeros)


def flow_probe(steps: int, overrides: list[str], data_root: str, lr: float = 2e-4, seed: int = 0) -> dict:
    """Can the flow head learn the motion from what G sees? Train G on the flow loss alone, with the
    *real* previous frames as inputs (the easiest case: no GAN, no feedback of generated frames), on
    3-frame windows of the 4x-motion training videos, then measure the end-point error of its flow
    for the last frame of every window of the training and the test videos beside a zero flow's."""
    import torch

    from vid2vid.config import get_preset
    from vid2vid.losses import flow_loss
    from vid2vid.models import build_generator
    from vid2vid.training.trainer import build_dataset

    torch.manual_seed(seed)
    root = f"data.root={data_root}/quality_train_motion4"
    cfg = get_preset("synthetic").override([root, "data.num_workers=0", *overrides])
    ensure_train_data(cfg)
    G = build_generator(cfg)
    opt = torch.optim.Adam(G.parameters(), lr=lr, betas=(0.5, 0.999))
    train = build_dataset(cfg, "train", training=True, n_frames=3)
    t0 = time.time()
    for i in range(steps):
        w, target = last_frame_flow(G, cfg, train[i % len(train)])
        loss = flow_loss(w, target, torch.ones_like(w[:, :1]))
        opt.zero_grad()
        loss.backward()
        opt.step()
    report = {"steps": steps, "lr": lr, "overrides": overrides, "seconds": time.time() - t0}
    for split in ("train", "test"):
        report[f"{split}_epe"], report[f"{split}_zero_epe"] = flow_errors(
            G, cfg, build_dataset(cfg, split, training=False, n_frames=3))
    return report


def warmup_study(updates: int, overrides: list[str], every: int = 200, runs: str = "runs/warmup") -> dict:
    """How many updates does the flow warm-up (``train.flow_warmup``) need? Run the trainer's warm-up
    on the ``synthetic`` preset (plus ``overrides``) and every ``every`` updates measure the flow's
    end-point error on the test videos of the training data (3-frame windows, real previous frames,
    the last frame's flow) beside a zero flow's."""
    from vid2vid.config import get_preset
    from vid2vid.training.trainer import Trainer, build_dataset

    cfg = get_preset("synthetic").override(["train.log_every=10", *overrides])
    ensure_train_data(cfg)
    name = "_".join(o.replace("=", "") for o in overrides) or "synthetic"
    trainer = Trainer(cfg, Path(runs) / name, max_steps=0, log_with=None)
    G, test = trainer.G, build_dataset(cfg, "test", training=False, n_frames=3)
    report = {"overrides": overrides, "updates": [], "test_epe": [], "test_zero_epe": None}
    t0 = time.time()
    while trainer.warmup_updates < updates:
        trainer.warm_up_flow(min(every, updates - trainer.warmup_updates), stop_early=False)  # continues
        G.eval()
        e, z = flow_errors(G, cfg, test)
        G.train()
        done = trainer.warmup_updates
        report["updates"].append(done)
        report["test_epe"].append(round(e, 3))
        report["test_zero_epe"] = round(z, 3)
        print(f"{done} updates: test flow error {e:.2f} px (zero flow {z:.2f})", flush=True)
    report["seconds"] = round(time.time() - t0)
    return report


def ensure_train_data(cfg) -> None:
    sys.path.insert(0, str(REPO / "reproduce"))
    from train import ensure_synthetic_data

    ensure_synthetic_data(cfg, True)


def machine() -> str:
    """The CPU, the number of cores and the torch version, for the reports."""
    from vid2vid.machine import describe_machine

    m = describe_machine()
    return (f"{m['cpu']} ({platform.machine()}, {m['cpu_count']} cores, torch {m['torch']}, "
            f"{platform.system()})")


def pan_table(root: Path, generators: list[Path], videos: int = 8, frames: int = 8) -> str:
    """Markdown table: the median horizontal flow (pixels per frame) over the first ``frames`` frames
    of each training video, true and as each generator predicts it when rolled out as inference does."""
    import torch

    from vid2vid.data.folder import VideoFolderDataset
    from vid2vid.models.io import load_generator
    from vid2vid.quality import rollout

    data = VideoFolderDataset(root, split="train", n_frames=None, load_flow=True, training=False)
    clips = [{k: v[:frames] for k, v in data[i].items() if torch.is_tensor(v)} for i in range(videos)]
    rows = [["true", *(float(c["flow"][1:, 0].median()) for c in clips)]]
    for path in generators:
        cfg, G, step = load_generator(path)
        torch.manual_seed(0)
        pans = [float(rollout(G, cfg, c)["w"][1:, 0].median()) for c in clips]
        rows.append([f"{path} (step {step})", *pans])
    head = "| video | " + " | ".join(str(i) for i in range(videos)) + " |\n|---|" + "---|" * videos + "\n"
    return head + "\n".join(f"| {r[0]} | " + " | ".join(f"{x:.1f}" for x in r[1:]) + " |" for r in rows)


def write_table(results: Path, command: str) -> None:
    rows, n_seq = [], 0
    for name, (what, _) in VARIANTS.items():
        f = results / f"{name}.json"
        if not f.is_file():
            continue
        r = json.loads(f.read_text())
        n_seq = r["sequences"]

        def cell(key: str, r=r) -> str:
            if key not in r:
                return "-"
            real = r.get(f"real_{key}")
            return f"{r[key]:.4f}" + (f" ({r[key] / real:.2f}x)" if real else "")

        epe = f"{r.get('zero_flow_epe', float('nan')):.3f} / {r.get('dis_flow_epe', float('nan')):.3f}"
        rows.append(f"| {name} | {r['step']} | " + " | ".join(cell(k) for k in KEYS) + f" | {epe} | {what} |")
    text = f"""# What makes the frames look right: the quality investigation

Produced by `{command}` on {machine()}, one thread per training process (two at a time). Each
variant: the `synthetic` preset (64 x 128) plus the overrides in `reproduce/quality.py`, trained from
scratch for the steps shown, then rolled out over {n_seq} test sequences of 30 frames of a seed
training never saw (first frame from the labels, every output fed back). In brackets: the ratio to
the real video's value on the same sequences.

- `l1`: mean |generated - real| in [-1, 1] units; `l1_drift`: L1 of the last 10 frames over the first 10.
- `checkerboard`: mean response to the 2x2 filter [[1, -1], [-1, 1]] / 4 (grid artefacts).
- `warping_error`: |x_t - warp(x_t-1, true flow)| on visible pixels; `flicker`: change in static
  regions (none at 4x motion: the camera never stops, so `-`).
- `flow_epe`: end-point error (pixels) of the predicted flow on visible pixels; beside it, a zero
  flow's and OpenCV DIS's (run on the real frames) on the same pixels.
- `mask_auc`: ROC AUC of the occlusion mask against the true occlusion (0.5 = chance).

One run per variant: differences of a few per cent are within the spread between seeds.

| variant | steps | {' | '.join(KEYS)} | zero / DIS flow EPE | change |
|---|---|{'---|' * len(KEYS)}---|---|
""" + "\n".join(rows) + "\n"
    (results / "table.md").write_text(text)


def flow_floor_table(checkpoint: Path, sequences: int, root: Path | None = None) -> tuple[str, dict]:
    """What a flow's error alone costs in warping error: copy each *real* previous frame along a flow
    (``warp(x_{t-1}, w)``, no hallucination) and measure it as the warping error measures a video,
    against the real frame warped along the true flow, on visible pixels; divided by the real video's
    own warping error. Flows: DIS on the real frames, ``checkpoint``'s flow from its rollout, and the
    true flow (0 by construction). A generator that copied its sharp frames perfectly along its flow
    could not score below its flow's row."""
    import torch

    from vid2vid.flow.estimators import DISFlow
    from vid2vid.flow.warp import warp
    from vid2vid.metrics.artifacts import endpoint_error
    from vid2vid.metrics.temporal import warping_error
    from vid2vid.models.io import load_generator
    from vid2vid.quality import load_test_videos, rollout

    cfg, G, step = load_generator(checkpoint)
    G.eval()
    videos = load_test_videos(cfg, ensure_eval_data(cfg, sequences, root))
    dis = DISFlow("medium")
    acc: dict[str, list[float]] = {}
    for v in videos:
        x, flow, occ = v["image"], v["flow"], v["occlusion"][:, 0]
        visible = occ[1:] < 0.5
        acc.setdefault("real", []).append(warping_error(x, flow[1:], occ[1:]))
        with torch.no_grad():
            flows = {"DIS on the real frames": dis.estimate_sequence(x),
                     "the generator's flow": rollout(G, cfg, v)["w"]}
        for name, w in flows.items():
            copied = warp(x[:-1], w[1:])
            truth = warp(x[:-1], flow[1:])
            err = (copied - truth).abs().mean(1)[visible]
            acc.setdefault(name, []).append(float(err.mean()))
            acc.setdefault(name + " epe", []).append(endpoint_error(w[1:], flow[1:], visible))
    r = {k: sum(vals) / len(vals) for k, vals in acc.items()}
    lines = [f"{checkpoint} (step {step}), {sequences} test videos of seed 1: the real previous frame copied "
             f"along a flow, against the real video's warping error {r['real']:.4f}", "",
             "| flow | end-point error (px) | warping error / real |", "|---|---|---|",
             "| the true flow | 0.00 | 0.00 |"]
    for name in ("DIS on the real frames", "the generator's flow"):
        lines.append(f"| {name} | {r[name + ' epe']:.2f} | {r[name] / r['real']:.2f} |")
    return "\n".join(lines), r


STREAK_FRAMES = (0, 1, 2, 5, 10, 20)  # frames --streaks reports, and the last one


def streak_table(checkpoint: Path, sequences: int, root: Path | None = None, warp_mode: str | None = None,
                 overrides: list[str] | tuple[str, ...] = ()) -> tuple[str, dict]:
    """How ``checkpoint``'s frames lose their detail across x along the rollout: per frame index, the
    streak ratio (:func:`vid2vid.metrics.validity.streak_ratio`, the vertical over the horizontal
    gradient energy, over the real frame's) of the fresh test videos, and the real frames' own
    vertical-to-horizontal ratio. ``warp_mode`` replaces the generator's ``model.warp_mode`` for
    this rollout (the network is unchanged: how resampling alone shapes the streaks); ``overrides``
    (``key=value``, settings that keep the weights, e.g. ``model.flow_deadzone=0.5``) change the
    stored configuration first.

    Also per camera (panning videos, still ones: :func:`vid2vid.quality.camera_moves`), the streak
    ratio of the generated frames beside that of the real first frame carried along the flow the
    generator warps with (its ``w``, after ``model.flow_deadzone``) and along the true flow
    (:func:`vid2vid.quality.carry_real_first_frame`: a perfect mask and hallucination): what the flow
    alone, and resampling alone, do to the detail."""
    import torch

    from vid2vid.metrics.artifacts import checkerboard_energy
    from vid2vid.metrics.validity import directional_energy
    from vid2vid.models.io import load_generator
    from vid2vid.quality import camera_moves, carry_real_first_frame, load_test_videos, rollout

    cfg, G, step = load_generator(checkpoint, overrides=overrides)
    G.eval()
    if warp_mode is not None:
        G.warp_mode = warp_mode
    videos = load_test_videos(cfg, ensure_eval_data(cfg, sequences, root))
    T = min(v["label"].shape[0] for v in videos)
    frames = sorted({t for t in STREAK_FRAMES if t < T} | {T - 1})
    sources = ("generated", "its flow", "true flow", "real")
    groups = ("all", "panning", "still")
    energy = {(g, k): {t: [0.0, 0.0] for t in frames} for g in groups for k in sources}
    counts = dict.fromkeys(groups, 0)
    grid = {(g, k): {t: 0.0 for t in frames} for g in groups[1:] for k in ("generated", "real")}
    still_flow = {"raw": [], "warped with": []}  # |w| (px) where nothing moves, in still-camera videos
    for v in videos:
        torch.manual_seed(0)
        with torch.no_grad():
            out = rollout(G, cfg, v)
        clips = {"generated": out["x"], "real": v["image"]}
        moves = camera_moves(v)
        if "w" in out:
            warped_along = G.warp_flow(out["w"])  # the flow G warps with
            with torch.no_grad():
                clips["its flow"] = carry_real_first_frame(v, warped_along)
                clips["true flow"] = carry_real_first_frame(v, v["flow"])
            static = v["flow"][1:].abs().sum(1) == 0  # [T-1, H, W]: pixels the true flow leaves still
            if not moves and static.any():
                for key, w in (("raw", out["w"][1:]), ("warped with", warped_along[1:])):
                    still_flow[key].append(float(torch.linalg.vector_norm(w, dim=1)[static].mean()))
        for g in ("all", "panning" if moves else "still"):
            counts[g] += 1
            for k, clip in clips.items():
                for t in frames:
                    ex, ey = directional_energy(clip[t:t + 1])
                    energy[(g, k)][t][0] += ex
                    energy[(g, k)][t][1] += ey
                    if g != "all" and k in ("generated", "real"):
                        grid[(g, k)][t] += checkerboard_energy(clip[t:t + 1])

    def ratio(g: str, k: str, t: int) -> float:
        (fx, fy), (rx, ry) = energy[(g, k)][t], energy[(g, "real")][t]
        return (fy / fx) / (ry / rx) if counts[g] and fx > 0 and rx > 0 else float("nan")

    real_ratio = {t: energy[("all", "real")][t][1] / energy[("all", "real")][t][0] for t in frames}
    streak = {t: ratio("all", "generated", t) for t in frames}
    by_camera = {g: {k: {t: ratio(g, k, t) for t in frames} for k in sources[:3]} for g in groups[1:]}

    def cell(g: str, k: str, t: int) -> str:
        r = by_camera[g][k][t]
        return "-" if r != r else f"{r:.2f}"

    settings = "".join(f", {o}" for o in overrides)
    lines = [f"{checkpoint} (step {step}), warp {G.warp_mode}{settings}, {sequences} test videos of seed 1: "
             "streak "
             "ratio by frame (1 = the real frames' balance of vertical to horizontal detail; above 1: "
             "smeared along x)", "", "| frame | streak ratio | real frames' vertical / horizontal energy |",
             "|---|---|---|"]
    lines += [f"| {t} | {streak[t]:.2f} | {real_ratio[t]:.2f} |" for t in frames]
    lines += ["", f"By camera ({counts['panning']} panning videos, {counts['still']} still): the generated "
              "frames, and the real first frame carried along the generator's flow and along the true flow "
              "(each frame the previous one warped, the real frame where the true occlusion is: a perfect "
              "mask and hallucination)", "",
              "| frame | generated, panning | its flow, panning | true flow, panning | generated, still | "
              "its flow, still | true flow, still |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {t} | " + " | ".join(cell(g, k, t) for g in groups[1:] for k in sources[:3]) + " |"
              for t in frames]
    checker = {g: {t: grid[(g, "generated")][t] / grid[(g, "real")][t] if grid[(g, "real")][t] > 0
                   else float("nan") for t in frames} for g in groups[1:]}
    lines += ["", "Checkerboard energy (the 2x2 grid; `vid2vid.metrics.artifacts.checkerboard_energy`) of "
              "the generated frames over the real frames', by camera", "",
              "| frame | panning | still |", "|---|---|---|"]
    lines += [f"| {t} | " + " | ".join("-" if checker[g][t] != checker[g][t] else f"{checker[g][t]:.2f}"
                                        for g in groups[1:]) + " |" for t in frames]
    flow_still = {k: sum(x) / len(x) if x else float("nan") for k, x in still_flow.items()}
    if still_flow["raw"]:
        lines += ["", f"On the pixels that do not move in the still-camera videos the flow branch predicts a "
                  f"motion of {flow_still['raw']:.3f} px on average; the previous frame is warped along "
                  f"{flow_still['warped with']:.3f} px (model.flow_deadzone={G.flow_deadzone:g})."]
    return "\n".join(lines), {"streak": streak, "real_ratio": real_ratio, "warp_mode": G.warp_mode,
                              "still_flow": flow_still, "checkerboard": checker,
                              "by_camera": by_camera, "videos": {g: counts[g] for g in groups[1:]}}


def where_table(checkpoint: Path, sequences: int, root: Path | None = None) -> tuple[str, dict]:
    """Where ``checkpoint``'s warping error comes from, on the fresh test videos rolled out as
    inference does: split into foreground (the classes of ``data.foreground_ids``) and background
    pixels, by the flow's end-point error at the pixel, and by frame; and, per video, the camera pan
    (the mean horizontal flow of the visible background pixels) true and predicted, whose difference
    is the flow's error common to the whole background."""
    import torch

    from vid2vid.flow.warp import warp
    from vid2vid.models.io import load_generator
    from vid2vid.quality import load_test_videos, rollout

    cfg, G, step = load_generator(checkpoint)
    G.eval()
    videos = load_test_videos(cfg, ensure_eval_data(cfg, sequences, root))
    fg_ids = torch.tensor(cfg.data.foreground_ids)
    sums: dict[str, list[float]] = {}

    def add(key: str, values, where) -> None:
        acc = sums.setdefault(key, [0.0, 0])
        acc[0] += float(values[where].sum())
        acc[1] += int(where.sum())

    bins = [(0.0, 0.25), (0.25, 0.5), (0.5, 1.0), (1.0, 2.0), (2.0, float("inf"))]
    pans = []
    for v in videos:
        torch.manual_seed(0)
        with torch.no_grad():
            r = rollout(G, cfg, v)
        x, flow, w = r["x"], v["flow"][1:], r["w"][1:]
        T, _, H, W = x.shape
        ys, xs = torch.meshgrid(torch.arange(H, dtype=x.dtype), torch.arange(W, dtype=x.dtype),
                                indexing="ij")
        sx, sy = xs + flow[:, 0], ys + flow[:, 1]
        ok = (sx >= 0) & (sx <= W - 1) & (sy >= 0) & (sy <= H - 1) & (v["occlusion"][1:, 0] < 0.5)
        fg = torch.isin(v["label_ids"][1:, 0], fg_ids)
        err = (x[1:] - warp(x[:-1], flow)).abs().mean(1)
        real = (v["image"][1:] - warp(v["image"][:-1], flow)).abs().mean(1)
        epe = (w - flow).norm(dim=1)
        for name, part in (("background", ok & ~fg), ("foreground", ok & fg)):
            add(f"{name} error", err, part)
            add(f"{name} real", real, part)
            add(f"{name} epe", epe, part)
            add(f"{name} share", ok.float(), part)
        add("all error", err, ok)
        for lo, hi in bins:
            part = ok & (epe >= lo) & (epe < hi)
            add(f"epe {lo:g}-{hi:g} error", err, part)
            add(f"epe {lo:g}-{hi:g} share", ok.float(), part)
        for a, b in ((1, 5), (5, 15), (15, T)):
            part = ok.clone()
            part[: a - 1], part[b - 1:] = False, False
            add(f"frames {a}-{b - 1} error", err, part)
            add(f"frames {a}-{b - 1} epe", epe, part)
        bg = ok & ~fg
        true_pan = torch.stack([flow[t, 0][bg[t]].mean() for t in range(T - 1)])
        pred_pan = torch.stack([w[t, 0][bg[t]].mean() for t in range(T - 1)])
        pans.append((float(true_pan.mean()), float(pred_pan.mean()),
                     float((pred_pan - true_pan).abs().mean())))
    mean = {k: a / max(n, 1) for k, (a, n) in sums.items()}
    n_all = sums["all error"][1]
    share = {k: sums[k][1] / max(n_all, 1) for k in sums if k.endswith("share")}
    lines = [f"{checkpoint} (step {step}), {sequences} test videos of seed 1: warping error on visible "
             f"pixels {mean['all error']:.4f}", "",
             "| pixels | share | warping error | real video's | flow EPE (px) |", "|---|---|---|---|---|"]
    for name in ("background", "foreground"):
        lines.append(f"| {name} | {share[name + ' share']:.2f} | {mean[name + ' error']:.4f} | "
                     f"{mean[name + ' real']:.4f} | {mean[name + ' epe']:.2f} |")
    lines += ["", "| flow EPE at the pixel (px) | share | warping error |", "|---|---|---|"]
    for lo, hi in bins:
        key = f"epe {lo:g}-{hi:g}"
        lines.append(f"| {lo:g}-{hi:g} | {share[key + ' share']:.2f} | {mean[key + ' error']:.4f} |")
    lines += ["", "| frames | warping error | flow EPE (px) |", "|---|---|---|"]
    for key in (k[: -len(" error")] for k in mean if k.startswith("frames") and k.endswith("error")):
        lines.append(f"| {key[len('frames '):]} | {mean[key + ' error']:.4f} | {mean[key + ' epe']:.2f} |")
    lines += ["", "| video | true pan (px / frame) | predicted pan | mean abs. pan error per frame |",
              "|---|---|---|---|"]
    lines += [f"| {i} | {t:.2f} | {p:.2f} | {e:.2f} |" for i, (t, p, e) in enumerate(pans)]
    return "\n".join(lines), {"means": mean, "shares": share, "pans": pans}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--steps", type=int, default=600, help="training steps per variant")
    p.add_argument("--jobs", type=int, default=2, help="variants trained at a time")
    p.add_argument("--runs", default="runs/quality")
    p.add_argument("--results", default="reproduce/results/quality")
    p.add_argument("--eval-sequences", type=int, default=4)
    p.add_argument("--eval-root", default=None, help="where the test videos go (default data)")
    p.add_argument("--data-root", default="data", help="folder of the training datasets (one per motion)")
    p.add_argument("--evaluate", default=None, help="only evaluate this generator.pt and print the report")
    p.add_argument("--oracle", default=None, metavar="GENERATOR",
                   help="only print the warping error of GENERATOR with its flow / mask replaced by the "
                        "ground truth (which head it comes from)")
    p.add_argument("--flow-floor", default=None, metavar="GENERATOR",
                   help="only print the warping error of the real frames copied along DIS's and GENERATOR's "
                        "flows (what the flow's error alone costs)")
    p.add_argument("--flow-probe", type=int, default=0, metavar="STEPS",
                   help="only run the flow probe (flow loss alone, real previous frames) for STEPS steps")
    p.add_argument("--warmup", type=int, default=0, metavar="UPDATES",
                   help="only run the flow warm-up study for UPDATES updates (warmup.jsonl in --results)")
    p.add_argument("--where", default=None, metavar="GENERATOR",
                   help="only print where GENERATOR's warping error comes from (foreground / background, "
                        "the flow's error at the pixel, frames, each video's camera pan)")
    p.add_argument("--streaks", default=None, metavar="GENERATOR",
                   help="only print GENERATOR's streak ratio by frame of its rollouts (detail lost across x)")
    p.add_argument("--warp-mode", default=None, choices=["bilinear", "bicubic"],
                   help="with --streaks: resample the previous frame this way instead of the generator's own")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="run_with",
                   help="with --evaluate or --streaks: run the generator with this setting of its stored "
                        "configuration "
                        "changed, one that keeps the weights (e.g. model.label_occlusion=true; repeatable)")
    p.add_argument("--pan", nargs="+", default=None, metavar="GENERATOR",
                   help="only print the true and predicted camera pan on training videos of --pan-data")
    p.add_argument("--pan-data", default="data/synthetic", help="dataset whose training videos --pan reads")
    p.add_argument("overrides", nargs="*", help="key=value overrides for every variant (e.g. smaller models)")
    args = p.parse_args(argv)
    eval_at = Path(args.eval_root) if args.eval_root else None
    if args.pan:
        print(pan_table(Path(args.pan_data), [Path(f) for f in args.pan]))
        return 0
    if args.streaks:
        table, _ = streak_table(Path(args.streaks), args.eval_sequences, eval_at, args.warp_mode,
                                args.run_with)
        print(table)
        return 0
    if args.where:
        table, _ = where_table(Path(args.where), args.eval_sequences, eval_at)
        print(table)
        return 0
    if args.oracle:
        table, _ = oracle_table(Path(args.oracle), args.eval_sequences, eval_at)
        print(table)
        return 0
    if args.flow_floor:
        table, _ = flow_floor_table(Path(args.flow_floor), args.eval_sequences, eval_at)
        print(table)
        return 0
    if args.flow_probe or args.warmup:
        if args.warmup:
            report, out = warmup_study(args.warmup, args.overrides), Path(args.results) / "warmup.jsonl"
        else:
            report = flow_probe(args.flow_probe, args.overrides, args.data_root)
            out = Path(args.results) / "flow_probe.jsonl"
        print(json.dumps(report, indent=2))
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(out, "a") as f:
            f.write(json.dumps(report) + "\n")
        return 0
    sys.path.insert(0, str(REPO / "reproduce"))
    if args.evaluate:
        from vid2vid.quality import format_report

        print(format_report(evaluate(Path(args.evaluate), args.eval_sequences, root=eval_at,
                                     overrides=args.run_with)))
        return 0
    from parallel import train_parallel

    runs, results = Path(args.runs), Path(args.results)
    results.mkdir(parents=True, exist_ok=True)
    models = {}
    for name in args.variants:
        extra = VARIANTS[name][1]
        data = f"data.root={args.data_root}/quality_train_motion{motion_of(extra):g}"
        # fp32 and the warp unchecked, as the committed study was made (the preset says auto and
        # checks it); overridable
        models[name] = [*extra, data, f"train.niter={10**6}", "train.sample_every=0",
                        "train.mixed_precision=no", "model.label_occlusion=false", *args.overrides,
                        "--max-steps", str(args.steps)]
    from vid2vid.config import get_preset

    for name in args.variants:  # the training videos, once per motion, before the processes start
        extra = [a for a in models[name] if "=" in a and not a.startswith("-")]
        ensure_train_data(get_preset("synthetic").override([a for a in extra if a.startswith("data.")]))
    t0 = time.time()
    seconds = train_parallel(models, runs, args.jobs)
    for name in args.variants:
        report = evaluate(runs / name / "generator.pt", args.eval_sequences, results / f"{name}.png", eval_at)
        report["train_seconds"] = seconds.get(name)
        (results / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n")
        from vid2vid.quality import format_report

        print(f"== {name}\n{format_report(report)}", flush=True)
    command = "python " + " ".join(["reproduce/quality.py", *(argv if argv is not None else sys.argv[1:])])
    write_table(results, command)
    print(f"done in {(time.time() - t0) / 60:.1f} min; table: {results / 'table.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
