"""What a new user meets first: ``python -m vid2vid --version``, the commands' threads and help, the
captions of ``generate --side-by-side``, where ``plot_losses.py`` writes, and the README's commands."""

from __future__ import annotations

import argparse
import json
import platform
import re
import runpy
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import vid2vid
from vid2vid.__main__ import COMMANDS, main
from vid2vid.commands import set_threads
from vid2vid.config import get_preset
from vid2vid.video import CAPTION_ROWS, caption, label_to_color

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_version_prints_the_package_torch_and_python_versions(capsys):
    assert main(["--version"]) == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith(f"vid2vid {vid2vid.__version__} (torch ")
    assert torch.__version__.split("+")[0] in out and platform.python_version() in out


def test_threads_default_to_one_unless_omp_num_threads_says_otherwise(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert set_threads() == 1 and torch.get_num_threads() == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert set_threads() == 2 and torch.get_num_threads() == 2
    assert set_threads(1) == 1 and torch.get_num_threads() == 1  # --threads wins


def test_a_command_runs_on_its_threads_and_leaves_the_callers_count(monkeypatch):
    """A notebook that calls ``main`` keeps its own thread count afterwards."""
    from vid2vid.commands import flow

    seen = []
    monkeypatch.setattr(flow, "run", lambda args: seen.append(torch.get_num_threads()) or 0)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    torch.set_num_threads(2)
    assert main(["flow", "--data", "d"]) == 0 and main(["flow", "--data", "d", "--threads", "3"]) == 0
    assert seen == [1, 3] and torch.get_num_threads() == 2


@pytest.mark.parametrize("command", ["generate", "flow", "prepare"])
def test_cpu_heavy_commands_take_threads_and_refuse_zero(command):
    parser = argparse.ArgumentParser()
    COMMANDS[command][0].add_arguments(parser)
    required = {"generate": ["--checkpoint", "g.pt", "--input", "a", "--out", "o.mp4"],
                "flow": ["--data", "d"], "prepare": ["edges", "--video", "v.mp4", "--out", "o"]}[command]
    assert parser.parse_args([*required, "--threads", "3"]).threads == 3
    assert parser.parse_args(required).threads is None  # then OMP_NUM_THREADS, else 1
    with pytest.raises(SystemExit):
        parser.parse_args([*required, "--threads", "0"])


def test_every_command_option_explains_itself():
    for name, (module, _) in COMMANDS.items():
        parser = argparse.ArgumentParser()
        module.add_arguments(parser)
        subcommands = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        parsers = [parser] + [sub for action in subcommands for sub in action.choices.values()]
        for p in parsers:
            for action in p._actions:
                if action.option_strings and action.dest != "help":
                    assert action.help, f"python -m vid2vid {name}: {action.option_strings[0]} has no help"


def test_generate_side_by_side_captions_labels_generated_and_real(tmp_path):
    from vid2vid.models import build_generator
    from vid2vid.models.io import export_generator

    cfg = get_preset("tiny").override(["data.use_instance=false"])  # 32 x 64 frames
    export_generator(tmp_path / "generator.pt", cfg, build_generator(cfg), step=0)
    labels, real = tmp_path / "A", tmp_path / "B"
    labels.mkdir()
    real.mkdir()
    for i in range(2):
        ids = np.full((32, 64), 7, np.uint8)
        ids[16:, 8 * i:8 * i + 20] = 26
        Image.fromarray(ids).save(labels / f"{i:04d}.png")
        Image.fromarray(np.full((32, 64, 3), 200, np.uint8)).save(real / f"{i:04d}.png")
    out = tmp_path / "frames"
    assert main(["generate", "--checkpoint", str(tmp_path / "generator.pt"), "--input", str(labels),
                 "--real", str(real), "--side-by-side", "--out", str(out)]) == 0
    frame = np.asarray(Image.open(sorted(out.iterdir())[0]))
    assert frame.shape == (32, 3 * 64 + 2 * 2, 3)
    ids = np.asarray(Image.open(labels / "0000.png"))
    np.testing.assert_array_equal(frame[:, :64], caption(label_to_color(ids), "labels"))
    np.testing.assert_array_equal(frame[:, -64:], caption(np.full((32, 64, 3), 200, np.uint8), "real"))
    generated = frame[:, 66:130]
    assert (generated[:CAPTION_ROWS, :6 * len("generated")] == 255).all(axis=-1).sum() > 40  # its letters


def test_plot_losses_writes_into_the_run_folder_by_default(tmp_path):
    rows = [{"step": s, "G_GAN": 1.0 / s, "D_real": 0.5, "G_feat": 2.0, "G_flow": 0.1} for s in range(1, 6)]
    (tmp_path / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    plot = runpy.run_path(str(ROOT / "reproduce" / "plot_losses.py"))["main"]
    assert plot(["--run", str(tmp_path)]) == 0
    assert Image.open(tmp_path / "loss_curves.png").size[0] > 0


def _code_blocks(text: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", text, flags=re.S)


def test_readme_starts_with_the_install_and_the_test_command_ci_runs():
    assert _code_blocks(README)[0] == 'pip install -e ".[dev]"\npytest\n'


def test_readme_quick_tour_writes_only_into_its_own_folders():
    """The tour runs after the main job: nothing of it may land in data/synthetic or runs/synthetic,
    where the main job's dataset and run are, nor in the committed results."""
    tour = README.split("## Quick tour", 1)[1].split("\n## ", 1)[0]
    commands = " ".join(_code_blocks(tour)).replace("\\\n", " ")
    outs = re.findall(r"--out (\S+)", commands) + re.findall(r"data\.root=(\S+)", commands)
    assert len(outs) == 5, outs
    assert all(o.startswith(("data/tour", "runs/tour")) for o in outs), outs
    assert "--out reproduce/results" not in README.split("plot_losses.py", 1)[1][:200]
