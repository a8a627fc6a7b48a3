"""Parity with the reference architecture: parameter counts at cityscapes-512 (NVIDIA/vid2vid's networks).

The reference figures were measured by instantiating the official code (108 label channels, 6
previous-frame channels, ngf 128, 3 downsamplings, 9 blocks, foreground branch, batch norm).
Networks are built on the meta device: counting 411 M parameters allocates nothing.
"""

import contextlib
import io
import json

import pytest
import torch

from vid2vid.__main__ import main
from vid2vid.config import get_preset
from vid2vid.models import Generator, build_discriminators

# millions of parameters, as measured on the reference code
REFERENCE_G = 411.34
REFERENCE_PARTS = {
    "fg_branch": 45.94, "label_encoder": 101.28, "image_encoder": 100.64, "image_res": 75.52,
    "flow_res": 75.52, "image_up": 6.20, "flow_up": 6.20,
}
REFERENCE_HEADS = 0.05  # image, flow and mask heads and the foreground head (also inside fg_branch)
REFERENCE_D_I = 5.61
REFERENCE_D_V = 5.55  # per temporal scale


def meta_generator(name: str, *overrides: str) -> Generator:
    with torch.device("meta"):
        return Generator.from_config(get_preset(name).override(list(overrides)))


@pytest.mark.parametrize("norm", ["instance", "batch"])
def test_generator_total_matches_the_reference(norm):
    counts = meta_generator("cityscapes-512", f"model.norm={norm}").parameter_counts()
    assert counts["total"] / 1e6 == pytest.approx(REFERENCE_G, rel=0.005)


def test_generator_parts_match_the_reference_breakdown():
    G = meta_generator("cityscapes-512")
    counts = G.parameter_counts()
    for part, millions in REFERENCE_PARTS.items():
        assert round(counts[part] / 1e6, 2) == millions, part
    fg_head = sum(p.numel() for p in G.scales[0].fg_head.parameters())
    assert round((counts["heads"] + fg_head) / 1e6, 2) == REFERENCE_HEADS
    parts = sum(v for k, v in counts.items() if k not in ("total", "local_enhancers"))
    assert parts == counts["total"]  # the breakdown covers every parameter of a 1-scale model


def test_finer_scales_are_small_local_enhancers_on_top_of_the_coarse_network():
    c512 = meta_generator("cityscapes-512").parameter_counts()
    c2048 = meta_generator("cityscapes-2048").parameter_counts()
    assert len(c2048["local_enhancers"]) == 2
    assert c2048["total"] == c512["total"] + sum(c2048["local_enhancers"])
    assert c2048["local_enhancers"][0] > c2048["local_enhancers"][1]  # width halves per scale


def test_discriminators_match_the_reference():
    cfg = get_preset("cityscapes-512")
    with torch.device("meta"):
        D_I, D_V = build_discriminators(cfg)
    assert sum(p.numel() for p in D_I.parameters()) / 1e6 == pytest.approx(REFERENCE_D_I, rel=0.01)
    assert len(D_V.scales) >= 2
    for scale in D_V.scales:
        assert sum(p.numel() for p in scale.parameters()) / 1e6 == pytest.approx(REFERENCE_D_V, rel=0.01)


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(list(argv))
    return rc, out.getvalue(), err.getvalue()


def test_summary_json_has_the_counts_of_every_network():
    rc, out, _ = run_cli("summary", "--preset", "cityscapes-1024", "--json")
    assert rc == 0
    counts = json.loads(out)
    G = meta_generator("cityscapes-1024")
    assert counts["G"] == sum(p.numel() for p in G.parameters())
    assert set(counts["G_parts"]) >= set(REFERENCE_PARTS) | {"heads", "local_enhancers"}
    assert len(counts["G_parts"]["local_enhancers"]) == 1
    assert isinstance(counts["D_I"], int) and counts["D_I"] > 0
    assert len(counts["D_V"]) == 2 and all(isinstance(n, int) and n > 0 for n in counts["D_V"])


def test_summary_applies_overrides_and_prints_a_table():
    rc, out, _ = run_cli("summary", "--preset", "tiny", "--json", "model.use_video_discriminator=false")
    assert rc == 0 and json.loads(out)["D_V"] == []
    rc, out, _ = run_cli("summary", "--preset", "cityscapes-512")
    assert rc == 0 and "411.34 M" in out and "foreground branch" in out
    assert "flow branch's own encoders" not in out and "feature encoder E" not in out
    rc, out, _ = run_cli("summary", "--preset", "tiny", "model.flow_branch=separate", "model.feat_nc=3")
    assert rc == 0 and "flow branch's own encoders" in out and "feature encoder E" in out
    rc, _, err = run_cli("summary", "--preset", "tiny", "model.ngff=3")
    assert rc == 2 and "did you mean 'model.ngf'" in err


def test_summary_counts_the_face_discriminator_where_a_preset_has_one():
    from vid2vid.config import get_preset
    from vid2vid.models.discriminators import FaceDiscriminator

    rc, out, _ = run_cli("summary", "--preset", "pose-512", "--json")
    expected = sum(p.numel() for p in FaceDiscriminator.from_config(get_preset("pose-512")).parameters())
    assert rc == 0 and json.loads(out)["D_face"] == expected > 0
    rc, out, _ = run_cli("summary", "--preset", "pose-512")
    assert rc == 0 and "D_face" in out and "128 x 128 crops around the face" in out
    rc, out, _ = run_cli("summary", "--preset", "pose-256", "--json")
    assert rc == 0 and json.loads(out)["D_face"] == 0
