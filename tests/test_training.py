"""The training loop: a tiny run end to end, exact resume, a SIGKILL mid-run, two DDP processes,
and the generate command on the trained generator."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import pytest
import torch

from vid2vid.config import get_preset
from vid2vid.models.io import load_generator
from vid2vid.training.checkpoint import latest_checkpoint
from vid2vid.training.trainer import Trainer

REPO = Path(__file__).resolve().parents[1]
TRAIN = REPO / "reproduce" / "train.py"


def tiny_cfg(root: Path, **overrides):
    cfg = get_preset("tiny").override({"data.root": str(root), "data.synthetic_sequences": 0, **overrides})
    return cfg


def test_tiny_run_writes_checkpoint_generator_log_and_samples(tiny_data, tmp_path):
    from vid2vid.samples import write_samples

    cfg = tiny_cfg(tiny_data, **{"train.checkpoint_every": 2})
    trainer = Trainer(cfg, tmp_path, max_steps=3, log_with=None)
    history = trainer.fit(sample_fn=write_samples)
    assert trainer.step == 3
    assert latest_checkpoint(tmp_path / "checkpoints").name == "step_00000003"
    assert (tmp_path / "checkpoints" / "step_00000002" / "trainer.pt").is_file()
    assert not list((tmp_path / "checkpoints").glob(".*"))  # no temporaries left behind
    logged = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert logged and {"G_GAN", "G_flow", "G_warp", "G_GAN_V0", "D_real", "D_V0_fake"} <= set(logged[0])
    assert all(torch.isfinite(torch.tensor(v)) for row in history for v in row.values())
    assert (tmp_path / "samples" / "step_00000003.mp4").stat().st_size > 0
    cfg, G, step = load_generator(tmp_path / "generator.pt")
    assert step == 3 and cfg.preset == "tiny"


def test_banner_names_preset_device_processes_threads_precision_steps_data_and_output(tiny_data, tmp_path):
    trainer = Trainer(tiny_cfg(tiny_data), tmp_path / "run", log_with=None)
    banner = trainer.banner()
    steps = trainer.planned_steps()
    assert steps == 2 * 2  # 1 + 1 epochs of the 2 training videos
    for fact in ("preset tiny", "cpu", "1 process,", f"{torch.get_num_threads()} thread", "precision fp32",
                 f"{steps} steps", f"{trainer.planned_frames(0, steps)} frames", str(tiny_data),
                 "2 training sequences", "windows of 4 -> 8 frames", str(tmp_path / "run")):
        assert fact in banner, (fact, banner)


def _recording_bars(monkeypatch) -> list:
    """Replace tqdm.tqdm, which the trainer imports when it trains, by a subclass that keeps its bars."""
    import tqdm

    bars = []

    class Recording(tqdm.tqdm):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            bars.append(self)

    monkeypatch.setattr(tqdm, "tqdm", Recording)
    return bars


@pytest.mark.parametrize("budget", [{}, {"train.total_steps": 6}])
def test_progress_bar_counts_the_frames_of_the_growing_windows(tiny_data, tmp_path, monkeypatch, budget):
    """Epochs of 2 steps, or a budget of 6 steps in two halves: windows of 4 frames, then of 8. A step of
    8-frame windows advances the bar twice as far as one of 4, so its estimate of the time left holds."""
    bars = _recording_bars(monkeypatch)
    trainer = Trainer(tiny_cfg(tiny_data, **budget), tmp_path, log_with=None)
    steps = trainer.planned_steps()
    windows = [trainer.window_length_at(s) for s in range(steps)]
    assert windows == ([4, 4, 8, 8] if not budget else [4, 4, 4, 8, 8, 8])
    trainer.fit()
    bar = next(b for b in bars if b.desc == "train")
    assert bar.unit == "frame" and bar.total == sum(windows) == trainer.planned_frames(0, steps)
    assert bar.n == bar.total  # the windows trained were the planned ones
    assert bar.postfix.startswith(f"step={steps}/{steps}, T=8")


def test_progress_bar_of_a_resumed_run_starts_at_the_frames_done(tiny_data, tmp_path, monkeypatch):
    cfg = tiny_cfg(tiny_data, **{"train.checkpoint_every": 3})
    Trainer(cfg, tmp_path, max_steps=3, log_with=None).fit()
    bars = _recording_bars(monkeypatch)
    resumed = Trainer(cfg, tmp_path, resume=True, log_with=None)
    resumed.fit()
    bar = next(b for b in bars if b.desc == "train")
    assert resumed.step == 4
    assert (bar.initial, bar.n, bar.total) == (4 + 4 + 8, 4 + 4 + 8 + 8, 4 + 4 + 8 + 8)


def test_samples_are_written_after_the_first_step_every_n_steps_and_once_at_the_end(tiny_data, tmp_path):
    sampled = []
    trainer = Trainer(tiny_cfg(tiny_data, **{"train.sample_every": 2}), tmp_path, max_steps=4, log_with=None)
    trainer.fit(sample_fn=lambda t: sampled.append(t.step))
    assert sampled == [1, 2, 4]
    sampled.clear()
    trainer = Trainer(tiny_cfg(tiny_data), tmp_path / "b", max_steps=2, log_with=None)  # sample_every 0
    trainer.fit(sample_fn=lambda t: sampled.append(t.step))
    assert sampled == [2]


def test_synthetic_preset_samples_early_and_every_40_steps():
    assert get_preset("synthetic").train.sample_every == 40


def test_training_moves_the_generator_and_discriminators(tiny_data, tmp_path):
    trainer = Trainer(tiny_cfg(tiny_data), tmp_path, max_steps=2, log_with=None)
    G0 = {k: v.clone() for k, v in trainer.G.state_dict().items()}
    D0 = {k: v.clone() for k, v in trainer.D_I.state_dict().items()}
    trainer.fit()
    changed_G = [k for k, v in trainer.G.state_dict().items() if not torch.equal(v, G0[k])]
    changed_D = [k for k, v in trainer.D_I.state_dict().items() if not torch.equal(v, D0[k])]
    assert any("flow_head" in k for k in changed_G) and any("image_head" in k for k in changed_G)
    assert changed_D


def test_resume_continues_exactly_where_the_run_stopped(tiny_data, tmp_path):
    cfg = tiny_cfg(tiny_data, **{"train.checkpoint_every": 2, "train.niter": 2, "train.niter_decay": 2})
    straight = Trainer(cfg, tmp_path / "a", max_steps=5, log_with=None)
    straight.fit()
    first = Trainer(cfg, tmp_path / "b", max_steps=3, log_with=None)
    first.fit()  # checkpoints at steps 2 and 3 (exit)
    resumed = Trainer(cfg, tmp_path / "b", resume=True, max_steps=5, log_with=None)
    assert resumed.step == 3
    resumed.fit()
    assert resumed.step == 5
    for (k, a), (_, b) in zip(straight.G.state_dict().items(), resumed.G.state_dict().items(), strict=True):
        torch.testing.assert_close(a, b, msg=f"generator weight {k} differs after resume")


def _log_rows(path: Path) -> list[dict]:
    """The rows of a log.jsonl; a last line cut short by a kill is left out."""
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            pass
    return rows


def _run(args, env=None, **kw):
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, **kw)


@pytest.mark.slow
def test_sigkill_mid_training_then_resume_loses_no_checkpoint_interval(tiny_data, tmp_path):
    out = tmp_path / "run"
    args = [str(TRAIN), "--preset", "tiny", "--out", str(out), "--no-tensorboard", "--max-steps", "40",
            f"data.root={tiny_data}", "data.synthetic_sequences=0", "train.checkpoint_every=3",
            "train.log_every=1", "train.niter=20", "train.niter_decay=20"]
    proc = subprocess.Popen([sys.executable, *args], cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    try:
        while time.time() < deadline:
            # kill it mid-interval: checkpoint 6 (or later) written and a step after it trained
            ckpt = latest_checkpoint(out / "checkpoints")
            if ckpt is not None and int(ckpt.name.split("_")[1]) >= 6:
                rows = _log_rows(out / "log.jsonl")
                if rows and rows[-1]["step"] > int(ckpt.name.split("_")[1]):
                    break
            assert proc.poll() is None, "training ended before it could be killed"
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL
    before = latest_checkpoint(out / "checkpoints")
    saved = int(before.name.split("_")[1])
    assert saved >= 6 and saved % 3 == 0
    assert (before / "trainer.pt").is_file()  # the newest visible checkpoint is complete
    # ... and at most one interval behind the last step trained (logged every step; the kill may
    # cut the last line short, or land while the next checkpoint is still being written)
    rows_before = _log_rows(out / "log.jsonl")
    trained = max(r["step"] for r in rows_before)
    assert trained - 3 <= saved <= trained, (saved, trained)
    res = _run([*args[:1], "--resume", *args[1:]], timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    assert f"resumed from {before}" in res.stdout + res.stderr
    assert f"(step {saved}," in res.stdout + res.stderr
    # the resumed run trained exactly the steps after the checkpoint: every step logged once, in
    # order; the rows up to the checkpoint are the killed run's, the later ones (trained again) new
    rows = _log_rows(out / "log.jsonl")
    assert [r["step"] for r in rows] == list(range(1, 41))
    assert rows[:saved] == [r for r in rows_before if r["step"] <= saved]
    assert latest_checkpoint(out / "checkpoints").name == "step_00000040"
    # the run tells its result: where the sample video is, and the temporal metrics beside the real video's
    assert f"sample video (labels | generated | real): {out / 'samples' / 'step_00000040.mp4'}" in res.stdout
    report = res.stdout[res.stdout.index("on the 1 test videos"):]
    assert "warping_error" in report and "(real video" in report and "flow_epe" in report


@pytest.mark.slow
def test_two_processes_form_one_process_group(tiny_data, tmp_path):
    out = tmp_path / "ddp"
    res = _run(["-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
                "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
                "--main_process_port", "29517", str(TRAIN), "--preset", "tiny", "--out", str(out),
                "--no-tensorboard", "--max-steps", "2", f"data.root={tiny_data}",
                "data.synthetic_sequences=0", "train.batch_size=2"],
               env={"ACCELERATE_USE_CPU": "1", "OMP_NUM_THREADS": "1"}, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    info = json.loads((out / "run_info.json").read_text())
    assert info["num_processes"] == 2 and info["world_size"] == 2
    assert info["ranks"] == [0, 1]  # two independent rank-0 runs would both report [0]
    assert "MULTI_CPU" in info["distributed_type"]
    assert (out / "generator.pt").is_file()
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step_00000002"]
    state = out / "checkpoints" / "step_00000002"
    assert (state / "random_states_0.pkl").is_file() and (state / "random_states_1.pkl").is_file()


def test_generate_writes_a_playable_side_by_side_mp4(tiny_data, tmp_path):
    trainer = Trainer(tiny_cfg(tiny_data), tmp_path, max_steps=1, log_with=None)
    trainer.fit()
    out = tmp_path / "video.mp4"
    res = _run(["-m", "vid2vid", "generate", "--checkpoint", str(tmp_path / "generator.pt"),
                "--input", str(tiny_data / "test_A" / "seq_0000"), "--real",
                str(tiny_data / "test_B" / "seq_0000"), "--side-by-side", "--out", str(out)], timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    assert len(frames) == 8
    assert frames[0].shape == (32, 64 * 3 + 4, 3)  # labels | generated | real, 2-px gaps


def test_generate_streams_hundreds_of_frames(tiny_data, tmp_path):
    import gc
    import weakref

    from vid2vid.inference import InputFrame, generate_frames
    from vid2vid.models import background_mask
    from vid2vid.models.sequence import SequenceGenerator

    cfg, G, _ = load_generator(_tiny_generator(tiny_data, tmp_path))
    L, n_frames, n_compared = G.n_prev, 300, 12

    def label_of(i: int) -> tuple[torch.Tensor, torch.Tensor]:
        ids = torch.full((1, 32, 64), 7, dtype=torch.long)
        ids[:, :, (i % 64):] = 26  # the edge of a foreground object sweeps across the frame
        return ids, torch.zeros(cfg.data.label_channels, 32, 64).scatter_(0, ids, 1.0)

    read: list[weakref.ref] = []  # every label map handed to the generator, weakly

    def frames():
        for i in range(n_frames):
            ids, label = label_of(i)
            read.append(weakref.ref(label))
            yield InputFrame(label=label, label_ids=ids, real=None, picture=None, name=f"{i:05d}")

    streamed, n = [], 0
    for i, (frame, x) in enumerate(generate_frames(G, cfg, frames())):
        # frame i comes out once input i is read (one frame of look-ahead allowed), not after the input
        assert frame.name == f"{i:05d}" and i + 1 <= len(read) <= i + 2, (i, len(read))
        if i < n_compared:
            streamed.append(x)
        if i in (L + 5, n_frames // 2, n_frames - 1):
            gc.collect()
            alive = [k for k, ref in enumerate(read) if ref() is not None]
            # the last L + 1 label maps (plus the look-ahead), not every frame so far
            assert len(alive) <= L + 2 and min(alive) >= i - L, (i, alive)
        n += 1
    assert n == n_frames

    # the frames are those of a non-streamed run: the whole label sequence at once, through the
    # rollout that training uses (label windows repeat frame 0 before the start; outputs fed back)
    ids, labels = zip(*(label_of(i) for i in range(n_compared)), strict=True)
    m_B = torch.stack([background_mask(t[None], cfg.data.foreground_ids) for t in ids], dim=1)
    with torch.no_grad():
        whole = SequenceGenerator(G)(torch.stack(labels)[None], m_B).x[0]
    torch.testing.assert_close(torch.stack(streamed), whole.clamp(-1, 1), rtol=0, atol=1e-5)
    assert (whole[1:] - whole[:-1]).abs().amax() > 1e-3  # the frames differ: the comparison can tell


def _tiny_generator(root, tmp_path) -> Path:
    trainer = Trainer(tiny_cfg(root), tmp_path / "g", max_steps=1, log_with=None)
    trainer.fit()
    return tmp_path / "g" / "generator.pt"


def test_spatial_curriculum_grows_from_the_coarser_stage_and_freezes_it(tiny_data, tmp_path):
    coarse = _tiny_generator(tiny_data, tmp_path)
    cfg = tiny_cfg(tiny_data, **{"model.n_scales": 2, "train.coarse_checkpoint": str(coarse),
                                 "train.niter_fix_global": 1})
    trainer = Trainer(cfg, tmp_path / "fine", max_steps=1, log_with=None)
    loaded = torch.load(coarse, weights_only=True)["generator"]
    G = trainer.G
    coarse_before = {k: v.clone() for k, v in G.scales[0].state_dict().items()}
    for k, v in coarse_before.items():
        torch.testing.assert_close(v, loaded[f"scales.0.{k}"], msg=f"coarse weight {k} not loaded")
    fine_before = {k: v.clone() for k, v in G.scales[1].state_dict().items()}
    trainer.fit()
    assert all(torch.equal(v, coarse_before[k]) for k, v in G.scales[0].state_dict().items())
    assert any(not torch.equal(v, fine_before[k]) for k, v in G.scales[1].state_dict().items())


def test_every_reproduce_config_loads():
    from vid2vid.config import PRESETS, Config

    files = sorted((REPO / "reproduce" / "configs").glob("*.yaml"))
    assert {f.stem for f in files} == set(PRESETS)
    for f in files:
        cfg = Config.from_yaml(f)
        assert cfg.preset == f.stem


def test_flow_estimated_on_the_fly_when_the_dataset_has_none(tiny_data, tmp_path):
    cfg = tiny_cfg(tiny_data, **{"data.flow_source": "dis"})
    trainer = Trainer(cfg, tmp_path, max_steps=1, log_with=None)
    assert not trainer.dataset.load_flow
    history = trainer.fit()
    assert "G_flow" in history[0] and torch.isfinite(torch.tensor(history[0]["G_flow"]))


@pytest.mark.parametrize("native", [True, False])
def test_auto_precision_follows_what_the_cpu_computes_natively(tiny_data, tmp_path, monkeypatch, native):
    """``train.mixed_precision: auto``: bf16 autocast where the CPU has bf16 instructions, fp32 where
    bf16 would be emulated; the banner says which and why."""
    import vid2vid.machine as machine

    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: native, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    assert machine.native_bf16() is native
    trainer = Trainer(tiny_cfg(tiny_data, **{"train.mixed_precision": "auto"}), tmp_path, max_steps=1,
                      log_with=None)
    assert trainer.acc.mixed_precision == ("bf16" if native else "no")
    banner = trainer.banner()
    assert ("mixed bf16 (auto: this CPU computes in bf16 natively)" if native
            else "fp32 (auto: this CPU has no native bf16") in banner
    assert machine.resolve_precision("no") == ("no", "train.mixed_precision")


@pytest.mark.slow
def test_compiled_models_train_to_the_same_losses_and_checkpoint_keys(tiny_data, tmp_path, monkeypatch):
    """``train.compile``: G and the discriminators compiled in place; one step's losses match the
    uncompiled run's (same seed) and the generator.pt keys are the plain ones. TorchDynamo traces
    every module here; its graphs run eagerly (the default inductor backend would spend minutes
    generating C++ for a tiny model: what compiling costs and gains is ``reproduce/benchmark.py``'s
    to measure)."""
    compiled = []
    plain_compile = torch.nn.Module.compile

    def eager_compile(self, *args, **kwargs):
        compiled.append(type(self).__name__)
        return plain_compile(self, backend="eager")

    monkeypatch.setattr(torch.nn.Module, "compile", eager_compile)
    histories, keys = {}, {}
    for flag in (False, True):
        out = tmp_path / str(flag)
        trainer = Trainer(tiny_cfg(tiny_data, **{"train.compile": flag}), out, max_steps=2, log_with=None)
        histories[flag] = trainer.fit()
        keys[flag] = set(torch.load(out / "generator.pt", weights_only=True)["generator"])
    assert compiled == ["Generator", "ImageDiscriminator", "AllTemporalScales"]
    assert keys[True] == keys[False] and not any("_orig_mod" in k for k in keys[True])
    for a, b in zip(histories[False], histories[True], strict=True):
        for name in a:
            if name.startswith(("G_", "D_")):
                assert b[name] == pytest.approx(a[name], rel=1e-3, abs=1e-5), name


def test_bf16_mixed_precision_trains_on_the_cpu(tiny_data, tmp_path):
    trainer = Trainer(tiny_cfg(tiny_data, **{"train.mixed_precision": "bf16"}), tmp_path, max_steps=1,
                      log_with=None)
    assert trainer.acc.mixed_precision == "bf16"
    history = trainer.fit()
    assert all(torch.isfinite(torch.tensor(v)) for v in history[0].values())
