"""What goes wrong in a training run, and what it costs: a diverging loss, a run started over another
run, SIGINT / SIGTERM / an error mid-run, damaged checkpoint files, a full disk, a power cut while a
checkpoint is written, a log that repeats replayed steps, a checkpoint of another configuration.

Every run here is the ``tiny`` preset on two 8-frame synthetic videos: a few steps take a second or two.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
import signal
from pathlib import Path

import numpy as np
import pytest
import torch

from vid2vid.config import ConfigError, get_preset
from vid2vid.models.io import (
    CheckpointMismatchError,
    CheckpointWriteError,
    TrainingDiverged,
    atomic_save,
    export_generator,
    load_generator,
)
from vid2vid.training.checkpoint import CheckpointWarning, latest_checkpoint, prune_checkpoints
from vid2vid.training.objective import Objective
from vid2vid.training.trainer import OutputExistsError, Trainer, TrainingInterrupted, TrainingTerminated


def tiny_cfg(root: Path, **overrides):
    return get_preset("tiny").override({"data.root": str(root), "data.synthetic_sequences": 0,
                                        "train.log_every": 1, **overrides})


@pytest.fixture(scope="module")
def base_run(tiny_data, tmp_path_factory) -> Path:
    """A finished 2-step run: checkpoints at steps 1 and 2, generator.pt, a log row per step."""
    out = tmp_path_factory.mktemp("base") / "run"
    Trainer(tiny_cfg(tiny_data, **{"train.checkpoint_every": 1}), out, max_steps=2, log_with=None).fit()
    return out


@pytest.fixture
def run_copy(base_run, tmp_path) -> Path:
    out = tmp_path / "run"
    shutil.copytree(base_run, out)
    return out


def _steps(out: Path) -> list[int]:
    return [int(p.name.split("_")[1]) for p in sorted((out / "checkpoints").glob("step_*"))]


def _logged_steps(out: Path) -> list[int]:
    return [json.loads(line)["step"] for line in (out / "log.jsonl").read_text().splitlines()]


def _temporaries(out: Path) -> list[Path]:
    return [p for p in out.rglob(".*") if p.name.endswith((".tmp", ".old"))]


def _assert_finite_generator(path: Path, step: int) -> None:
    ckpt = torch.load(path, weights_only=True)
    assert ckpt["step"] == step
    assert all(torch.isfinite(v).all() for v in ckpt["generator"].values() if v.is_floating_point())


def _in_step(monkeypatch, at_step: int, action) -> None:
    """Run ``action(trainer)`` at the start of the step that follows step ``at_step``."""
    original = Trainer.train_batch

    def train_batch(self, batch):
        if self.step == at_step:
            action(self)
        return original(self, batch)

    monkeypatch.setattr(Trainer, "train_batch", train_batch)


# ------------------------------------------------------------------ 1. a loss that is no longer finite
def test_a_nan_loss_stops_the_run_naming_the_step_the_loss_and_the_last_good_checkpoint(
        tiny_data, tmp_path, monkeypatch):
    cfg = tiny_cfg(tiny_data, **{"train.checkpoint_every": 1})
    trainer = Trainer(cfg, tmp_path, max_steps=4, log_with=None)
    original = Objective.generator_losses

    def generator_losses(self, *args, **kwargs):
        losses = original(self, *args, **kwargs)
        if trainer.step == 1:  # during step 2
            losses["G_GAN"] = losses["G_GAN"] * float("nan")
        return losses

    monkeypatch.setattr(Objective, "generator_losses", generator_losses)
    expected = r"step 2: loss G_GAN = nan is not finite.*last good checkpoint is .*step_00000001 \(step 1\)"
    with pytest.raises(TrainingDiverged, match=expected) as err:
        trainer.fit()
    assert "train.lr" in str(err.value)
    assert _steps(tmp_path) == [1]  # the good checkpoint is kept, nothing after it was written
    _assert_finite_generator(tmp_path / "generator.pt", step=1)
    assert _logged_steps(tmp_path) == [1]
    assert not _temporaries(tmp_path)


def test_an_absurd_learning_rate_writes_no_nan_weights(tiny_data, tmp_path):
    cfg = tiny_cfg(tiny_data, **{"train.checkpoint_every": 1, "train.lr": 1e30})
    expected = r"step 1: loss \w+ = nan is not finite.*no checkpoint was saved"
    with pytest.raises(TrainingDiverged, match=expected):
        Trainer(cfg, tmp_path, max_steps=3, log_with=None).fit()
    assert not (tmp_path / "generator.pt").exists()
    assert latest_checkpoint(tmp_path / "checkpoints") is None


def test_non_finite_weights_are_never_saved(tiny_data, tmp_path, monkeypatch):
    cfg = tiny_cfg(tiny_data, **{"train.checkpoint_every": 1})
    trainer = Trainer(cfg, tmp_path, max_steps=3, log_with=None)
    original = Trainer.train_batch

    def train_batch(self, batch):  # finite losses, then a weight that is not
        logs = original(self, batch)
        if self.step == 1:
            with torch.no_grad():
                next(self.G.parameters()).fill_(float("inf"))
        return logs

    monkeypatch.setattr(Trainer, "train_batch", train_batch)
    with pytest.raises(TrainingDiverged, match=r"step 2: weight \S+ of G is not finite.*step_00000001"):
        trainer.fit()
    assert _steps(tmp_path) == [1]
    _assert_finite_generator(tmp_path / "generator.pt", step=1)
    with pytest.raises(TrainingDiverged, match=r"g\.pt: refusing to write a generator with non-finite"):
        export_generator(tmp_path / "g.pt", cfg, trainer.G, step=2)
    assert not (tmp_path / "g.pt").exists()


# ------------------------------------------------------------------ 2. a run started over another run
def test_a_new_run_refuses_a_folder_that_holds_another_run(tiny_data, run_copy):
    cfg = tiny_cfg(tiny_data)
    before = (run_copy / "generator.pt").read_bytes()
    expected = (r"already holds a run \(checkpoints up to step 2, generator\.pt\)"
                r".*resume=True \(--resume\).*overwrite=True \(--overwrite\)")
    with pytest.raises(OutputExistsError, match=expected):
        Trainer(cfg, run_copy, max_steps=1, log_with=None)
    assert (run_copy / "generator.pt").read_bytes() == before and _steps(run_copy) == [1, 2]
    with pytest.raises(ValueError, match="pass one of them"):
        Trainer(cfg, run_copy, resume=True, overwrite=True, log_with=None)
    shutil.rmtree(run_copy / "checkpoints")  # generator.pt alone: nothing to resume, and it is not replaced
    with pytest.raises(OutputExistsError, match=r"holds generator\.pt but no checkpoint to resume from"):
        Trainer(cfg, run_copy, resume=True, log_with=None)


def test_overwrite_replaces_the_previous_run(tiny_data, run_copy):
    trainer = Trainer(tiny_cfg(tiny_data), run_copy, max_steps=1, log_with=None, overwrite=True)
    assert not (run_copy / "checkpoints").exists() and not (run_copy / "generator.pt").exists()
    trainer.fit()
    assert _steps(run_copy) == [1] and _logged_steps(run_copy) == [1]
    assert load_generator(run_copy / "generator.pt")[2] == 1


def test_pruning_keeps_only_the_current_runs_older_checkpoints(tmp_path):
    for step in (1, 2, 3, 4, 9):
        (tmp_path / f"step_{step:08d}").mkdir()
    (tmp_path / "step_00000009.broken").mkdir()
    removed = prune_checkpoints(tmp_path, keep=2, up_to_step=4)
    assert [p.name for p in removed] == ["step_00000001", "step_00000002"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step_00000003", "step_00000004", "step_00000009",
                                                          "step_00000009.broken"]


# ------------------------------------------------------------------ 3. SIGTERM, SIGINT, an error mid-run
@pytest.fixture
def sentinel_handlers():
    """Handlers that fail the test (rather than end pytest) if a signal reaches them."""
    def unhandled(signum, frame):
        raise AssertionError(f"{signal.Signals(signum).name} was not handled by the trainer")

    old = {s: signal.signal(s, unhandled) for s in (signal.SIGINT, signal.SIGTERM)}
    yield unhandled
    for s, h in old.items():
        signal.signal(s, h)


@pytest.mark.parametrize("signum, exc", [(signal.SIGTERM, TrainingTerminated),
                                         (signal.SIGINT, TrainingInterrupted)])
def test_a_signal_saves_a_checkpoint_of_the_step_then_stops(tiny_data, tmp_path, monkeypatch,
                                                            sentinel_handlers, signum, exc):
    cfg = tiny_cfg(tiny_data, **{"train.checkpoint_every": 10})
    _in_step(monkeypatch, 2, lambda trainer: os.kill(os.getpid(), signum))  # during step 3
    with pytest.raises(exc, match=r"training stopped at step 3; checkpoint .*step_00000003 saved") as err:
        Trainer(cfg, tmp_path, max_steps=6, log_with=None).fit()
    if signum == signal.SIGTERM:
        assert err.value.code == 143
    assert err.value.step == 3 and err.value.checkpoint == tmp_path / "checkpoints" / "step_00000003"
    assert signal.getsignal(signal.SIGTERM) is sentinel_handlers  # the old handlers are back
    assert signal.getsignal(signal.SIGINT) is sentinel_handlers
    assert _steps(tmp_path) == [3] and _logged_steps(tmp_path) == [1, 2, 3]
    monkeypatch.undo()
    resumed = Trainer(cfg, tmp_path, resume=True, max_steps=4, log_with=None)
    assert resumed.step == 3
    resumed.fit()
    assert resumed.step == 4 and _logged_steps(tmp_path) == [1, 2, 3, 4]


def test_an_error_in_the_loop_saves_the_steps_done_then_propagates(tiny_data, tmp_path, monkeypatch, capsys):
    cfg = tiny_cfg(tiny_data, **{"train.checkpoint_every": 10})

    def fail(trainer):
        raise RuntimeError("data went away")

    _in_step(monkeypatch, 2, fail)
    with pytest.raises(RuntimeError, match="data went away"):
        Trainer(cfg, tmp_path, max_steps=6, log_with=None).fit()
    assert _steps(tmp_path) == [2]
    assert "RuntimeError during step 3: saved" in capsys.readouterr().err
    _assert_finite_generator(tmp_path / "generator.pt", step=2)
    monkeypatch.undo()
    assert Trainer(cfg, tmp_path, resume=True, max_steps=3, log_with=None).step == 2


# ------------------------------------------------------------------ 4. 5. damaged checkpoint files
@pytest.mark.parametrize("name", ["model.safetensors", "optimizer.bin", "trainer.pt"])
def test_a_truncated_newest_checkpoint_falls_back_to_the_previous_one(tiny_data, run_copy, name):
    damaged = run_copy / "checkpoints" / "step_00000002" / name
    damaged.write_bytes(damaged.read_bytes()[:damaged.stat().st_size // 2])
    with pytest.warns(CheckpointWarning, match=re.escape(str(damaged)) + r".*falling back to step_00000001"):
        trainer = Trainer(tiny_cfg(tiny_data, **{"train.checkpoint_every": 1}), run_copy, resume=True,
                          max_steps=3, log_with=None)
    assert trainer.step == 1
    trainer.fit()
    assert trainer.step == 3 and _steps(run_copy) == [1, 2, 3]  # the damaged step 2 was written again
    assert _logged_steps(run_copy) == [1, 2, 3]


def _malicious_pickle(path: Path) -> None:
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    path.write_bytes(pickle.dumps({"random_state": Evil()}, protocol=2))


@pytest.mark.parametrize("damage", ["truncated", "malicious"])
def test_a_damaged_random_state_is_named_in_a_warning(tiny_data, run_copy, damage):
    f = run_copy / "checkpoints" / "step_00000002" / "random_states_0.pkl"
    if damage == "truncated":
        f.write_bytes(f.read_bytes()[:100])
    else:
        _malicious_pickle(f)
    expected = re.escape(str(f)) + r": the random state could not be restored"
    with pytest.warns(CheckpointWarning, match=expected):
        trainer = Trainer(tiny_cfg(tiny_data), run_copy, resume=True, max_steps=3, log_with=None)
    assert trainer.step == 2  # the weights are fine: the run goes on from them


# ------------------------------------------------------------------ 6. a full disk
def _disk_full(*args, **kwargs):
    raise RuntimeError("[enforce fail at inline_container.cc:664] . unexpected pos; basic_ios::clear: "
                       "iostream error")


def test_a_failed_write_names_the_path_and_leaves_no_temporary(tmp_path, monkeypatch):
    atomic_save({"w": torch.ones(2)}, tmp_path / "ckpt.pt")
    monkeypatch.setattr(torch, "save", _disk_full)
    expected = r"ckpt\.pt: checkpoint write failed \(disk full\?\)"
    with pytest.raises(CheckpointWriteError, match=expected) as err:
        atomic_save({"w": torch.zeros(2)}, tmp_path / "ckpt.pt")
    assert isinstance(err.value, OSError)
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]
    assert torch.equal(torch.load(tmp_path / "ckpt.pt", weights_only=True)["w"], torch.ones(2))


def test_a_full_disk_mid_run_keeps_the_last_checkpoint_and_no_temporaries(tiny_data, tmp_path, monkeypatch):
    cfg = tiny_cfg(tiny_data, **{"train.checkpoint_every": 1})
    _in_step(monkeypatch, 1, lambda trainer: monkeypatch.setattr(torch, "save", _disk_full))
    with pytest.raises(CheckpointWriteError, match=r"step_00000002: checkpoint write failed \(disk full\?\)"):
        Trainer(cfg, tmp_path, max_steps=3, log_with=None).fit()
    assert _steps(tmp_path) == [1] and not _temporaries(tmp_path)
    monkeypatch.undo()
    _assert_finite_generator(tmp_path / "generator.pt", step=1)
    assert Trainer(cfg, tmp_path, resume=True, max_steps=3, log_with=None).step == 1


def test_temporaries_of_an_interrupted_write_are_tidied_at_start(tiny_data, run_copy):
    (run_copy / ".generator.pt.k2j3h4.tmp").write_bytes(b"half")
    (run_copy / "snapshots").mkdir()
    (run_copy / "snapshots" / ".step_00000002.pt.abc.tmp").write_bytes(b"half")
    (run_copy / "checkpoints" / ".step_00000003.tmp").mkdir()
    (run_copy / "checkpoints" / ".step_00000003.tmp" / "model.safetensors").write_bytes(b"half")
    # killed between moving the old step 2 aside and renaming its replacement into place
    (run_copy / "checkpoints" / "step_00000002").rename(run_copy / "checkpoints" / ".step_00000002.old")
    trainer = Trainer(tiny_cfg(tiny_data), run_copy, resume=True, max_steps=3, log_with=None)
    assert not _temporaries(run_copy)
    assert trainer.step == 2 and _steps(run_copy) == [1, 2]


# ------------------------------------------------------------------ 7. flushed before visible
@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="names open files through /proc (Linux)")
def test_checkpoint_files_reach_the_disk_before_the_folder_is_renamed(tiny_data, tmp_path, monkeypatch):
    trainer = Trainer(tiny_cfg(tiny_data), tmp_path, max_steps=1, log_with=None)
    events: list[tuple[str, str]] = []
    real_fsync, real_rename, real_replace = os.fsync, os.rename, os.replace

    def fsync(fd):
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        return real_fsync(fd)

    def rename(src, dst, *args, **kwargs):
        events.append(("rename", f"{src} -> {dst}"))
        return real_rename(src, dst, *args, **kwargs)

    def replace(src, dst, *args, **kwargs):
        events.append(("rename", f"{src} -> {dst}"))
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "rename", rename)
    monkeypatch.setattr(os, "replace", replace)
    final = trainer.save_checkpoint()
    ckpts, tmp = str(tmp_path / "checkpoints"), str(tmp_path / "checkpoints" / ".step_00000000.tmp")
    publish = events.index(("rename", f"{tmp} -> {final}"))
    flushed = {path for kind, path in events[:publish] if kind == "fsync"}
    files = {f"{tmp}/{p.name}" for p in final.iterdir()}
    assert files <= flushed, f"not flushed before the rename: {sorted(files - flushed)}"
    assert tmp in flushed  # the folder's entries too
    assert ("fsync", ckpts) in events[publish:]  # and the rename itself
    assert ("fsync", str(tmp_path)) in events[publish:]  # generator.pt's rename, by atomic_save


# ------------------------------------------------------------------ 8. the log after a resume
def test_a_resumed_run_logs_each_step_once(tiny_data, run_copy):
    shutil.rmtree(run_copy / "checkpoints" / "step_00000002")  # killed after logging step 2, before saving it
    with open(run_copy / "log.jsonl", "a") as f:
        f.write('{"G_GAN": 1.0, "st')  # and in the middle of a line
    trainer = Trainer(tiny_cfg(tiny_data), run_copy, resume=True, max_steps=3, log_with=None)
    assert trainer.step == 1
    trainer.fit()
    assert _logged_steps(run_copy) == [1, 2, 3]


# ------------------------------------------------------------------ 9. weights of another configuration
def test_a_generator_whose_config_does_not_fit_its_weights_raises_one_clear_error(base_run, tmp_path):
    ckpt = torch.load(base_run / "generator.pt", weights_only=True)
    ckpt["config"]["model"]["ngf"] = 16
    torch.save(ckpt, tmp_path / "generator.pt")
    expected = (r"generator\.pt: the generator weights do not fit the configuration.*"
                r"parameter \S+ has shape \[8, .*\] in the checkpoint but \[16, .*\] in the model")
    with pytest.raises(CheckpointMismatchError, match=expected) as err:
        load_generator(tmp_path / "generator.pt")
    assert isinstance(err.value, ConfigError) and "\n" not in str(err.value)


def test_resuming_with_another_configuration_raises_one_clear_error(tiny_data, run_copy, recwarn):
    expected = (r"step_00000002/model\.safetensors: the checkpoint does not fit the configuration: "
                r"parameter .* has shape .*model\.ngf=8 there, 16 now")
    with pytest.raises(CheckpointMismatchError, match=expected) as err:
        Trainer(tiny_cfg(tiny_data, **{"model.ngf": 16}), run_copy, resume=True, log_with=None)
    assert "\n" not in str(err.value)
    # no fallback to older checkpoints: they would all differ
    assert not [w for w in recwarn if issubclass(w.category, CheckpointWarning)]


# ----------------------------------------------------------------------------- the pre-flight data check
def test_a_truncated_frame_stops_training_before_the_first_step_naming_it(tiny_data, tmp_path):
    from vid2vid.data.layout import DataError

    root = tmp_path / "data"
    shutil.copytree(tiny_data, root)
    bad = sorted((root / "train_B").glob("*/*.png"))[-1]  # the last frame of the last video
    bad.write_bytes(bad.read_bytes()[:200])
    cfg = tiny_cfg(root)
    with pytest.raises(DataError, match=re.escape(f"{bad}: unreadable or truncated image")):
        Trainer(cfg, tmp_path / "run", max_steps=1, log_with=None)  # small: checked by default
    assert not (tmp_path / "run" / "checkpoints").exists()
    # above data.check_max_files the check is left to the user (or check_data=True / --check-data)
    Trainer(cfg.override({"data.check_max_files": 10}), tmp_path / "run2", max_steps=1, log_with=None)
    with pytest.raises(DataError, match="1 bad file"):
        Trainer(cfg.override({"data.check_max_files": 10}), tmp_path / "run3", max_steps=1, log_with=None,
                check_data=True)


def test_the_check_command_lists_bad_files_and_passes_good_ones(tiny_data, tmp_path, capsys):
    from vid2vid.__main__ import main

    assert main(["check", str(tiny_data), "--quiet"]) == 0
    assert "files OK" in capsys.readouterr().out
    root = tmp_path / "data"
    shutil.copytree(tiny_data, root)
    flows = sorted((root / "train_flow").glob("*/*.npy"))
    for f in flows[:2]:
        flow = np.load(f)
        flow[0, 0, 0] = np.nan
        np.save(f, flow)
    assert main(["check", str(root), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "2 bad file(s)" in err and all(str(f) in err for f in flows[:2]) and "non-finite" in err
    assert main(["check", str(tmp_path / "nowhere"), "--quiet"]) == 2  # no dataset at all
