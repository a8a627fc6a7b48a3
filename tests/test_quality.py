"""What makes the frames look right: the artefact metrics, the quality report, and the model
details behind them (resize decoders, a zero flow head, the summed flow confidence, the occlusion
mask loss, the flow weight per scale, batch norm kept apart, TTUR, snapshots, the synthetic motion)."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
import torch

from vid2vid.config import get_preset
from vid2vid.data.layout import DataError
from vid2vid.data.synthetic import SyntheticConfig, write_dataset
from vid2vid.flow import flow_confidence, warp
from vid2vid.losses import occlusion_mask_loss
from vid2vid.metrics.artifacts import checkerboard_energy, endpoint_error, roc_auc
from vid2vid.models import Generator
from vid2vid.models.blocks import Decoder
from vid2vid.models.discriminators import ImageDiscriminator, VideoDiscriminator
from vid2vid.training.objective import Objective
from vid2vid.training.trainer import Trainer

REPO = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------------------ metrics
def test_checkerboard_energy_sees_a_grid_and_not_a_ramp():
    grid = torch.full((2, 3, 8, 8), -0.5)
    grid[..., ::2, ::2] = grid[..., 1::2, 1::2] = 0.5  # a one-pixel checkerboard of amplitude 0.5
    assert checkerboard_energy(grid) == pytest.approx(0.5)
    ramp = torch.linspace(-1, 1, 8)[None, None, None].expand(2, 3, 8, 8) + torch.linspace(0, 0.5, 8)[:, None]
    assert checkerboard_energy(ramp) == pytest.approx(0.0, abs=1e-6)


def test_roc_auc_is_the_rank_probability_with_ties_halved():
    g = torch.Generator().manual_seed(0)
    s = torch.randint(0, 6, (600,), generator=g).float()
    y = (torch.rand(600, generator=g) + 0.1 * s) > 0.8
    sp, sn = s[y], s[~y]
    brute = float((sp[:, None] > sn[None]).double().mean() + 0.5 * (sp[:, None] == sn[None]).double().mean())
    assert roc_auc(s, y) == pytest.approx(brute, abs=1e-12)
    assert roc_auc(y.float(), y) == 1.0 and roc_auc(-y.float(), y) == 0.0
    assert math.isnan(roc_auc(s, torch.zeros(600)))


def test_endpoint_error_inside_a_mask():
    a, b = torch.zeros(1, 2, 4, 4), torch.zeros(1, 2, 4, 4)
    b[:, 0] = 3
    b[:, 1] = 4
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., :2, :] = 1
    b[..., 2:, :] = 0
    assert endpoint_error(a, b) == pytest.approx(2.5)
    assert endpoint_error(a, b, mask) == pytest.approx(5.0)


# ------------------------------------------------------------------------------------ the model
def test_resize_decoder_has_no_built_in_checkerboard_and_the_same_parameters():
    torch.manual_seed(0)
    x = torch.randn(1, 32, 1, 1).expand(1, 32, 8, 8).contiguous()  # a constant feature map
    energies = {}
    for mode in ("resize", "transposed"):
        dec = Decoder(32, n_blocks=0, n_up=2, norm="none", upsample=mode)
        for m in dec.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
                torch.nn.init.normal_(m.weight, 0, 0.1)
                torch.nn.init.normal_(m.bias, 0, 0.1)
        with torch.no_grad():
            energies[mode] = checkerboard_energy(dec(x)[..., 2:-2, 2:-2])  # away from the padding
    assert energies["resize"] < 1e-6 < 1e-3 < energies["transposed"]
    def count(mode: str) -> int:
        G = Generator(36, ngf=8, n_downsample=2, n_blocks_enc=1, n_blocks_dec=1, fg_ngf=4, fg_n_blocks=1,
                      upsample=mode, foreground_ids=(24, 26))
        return sum(p.numel() for p in G.parameters())

    counts = {mode: count(mode) for mode in ("resize", "transposed")}
    assert counts["resize"] == counts["transposed"]


def test_the_untrained_flow_head_predicts_exactly_zero_and_still_learns():
    G = Generator(36, ngf=8, n_downsample=2, n_blocks_enc=1, n_blocks_dec=1, fg_ngf=4, fg_n_blocks=1,
                  n_scales=2, foreground_ids=(24, 26))
    labels = torch.rand(1, 3, 36, 64, 64)
    out = G(labels, torch.rand(1, 2, 3, 64, 64) * 2 - 1)
    assert out.w is not None and bool((out.w == 0).all())
    out.w.sum().backward()
    head = G.scales[-1].flow_head.conv
    assert head.weight.grad is not None and head.weight.grad.abs().sum() > 0


def test_flow_confidence_sums_the_squared_error_over_channels():
    prev = torch.zeros(1, 3, 4, 4)
    flow = torch.zeros(1, 2, 4, 4)
    cur = prev + 0.1  # squared error 0.01 per channel: 0.03 summed (not confident), 0.01 averaged
    assert flow_confidence(cur, prev, flow).sum() == 0
    assert flow_confidence(prev + 0.05, prev, flow).sum() == 16  # 3 * 0.0025 < 0.02
    assert torch.equal(flow_confidence(cur, prev, flow, threshold=0.031), torch.ones(1, 1, 4, 4))


def test_occlusion_mask_loss_is_smallest_at_the_true_occlusion():
    occ = (torch.rand(2, 1, 8, 8) > 0.8).float()
    m = torch.full_like(occ, 0.5, requires_grad=True)
    occlusion_mask_loss(m, occ).backward()
    assert bool((m.grad[occ > 0.5] < 0).all()) and bool((m.grad[occ < 0.5] > 0).all())  # up where occluded
    near = occlusion_mask_loss(occ * 0.98 + 0.01, occ)
    assert near < occlusion_mask_loss(torch.full_like(occ, 0.5), occ)
    zero_weight = occlusion_mask_loss(torch.full_like(occ, 0.5), occ, valid=torch.zeros(2, 1, 1, 1))
    assert zero_weight == 0


def test_the_flow_weight_is_divided_per_spatial_scale_as_the_reference():
    one = get_preset("cityscapes-512")
    assert Objective(one).lambda_flow == one.loss.lambda_flow
    assert Objective(get_preset("cityscapes-1024")).lambda_flow == one.loss.lambda_flow / 2
    assert Objective(get_preset("cityscapes-2048")).lambda_flow == one.loss.lambda_flow / 4


@pytest.mark.parametrize("kind", ["image", "video"])
def test_batch_norm_discriminators_keep_real_and_fake_statistics_apart(kind):
    torch.manual_seed(0)
    if kind == "image":
        D = ImageDiscriminator(4, ndf=8, n_layers=2, num_D=1, norm="batch").train()
        real, fake = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
        lab = torch.rand(4, 4, 16, 16)

        def run(f, groups):
            return D(torch.cat([real, f]), lab, groups=groups)[0][-1][:2]
    else:
        D = VideoDiscriminator(3, ndf=8, n_layers=2, num_D=1, n_temporal_scales=1, norm="batch").train()
        real, fake = torch.rand(2, 3, 3, 16, 16), torch.rand(2, 3, 3, 16, 16)
        flows = torch.zeros(4, 2, 2, 16, 16)

        def run(f, groups):
            return D(torch.cat([real, f]), flows, 0, groups=groups)[0][-1][:2]
    with torch.no_grad():
        apart = [run(f, 2) for f in (fake, fake * 0 + 5)]
        mixed = [run(f, 1) for f in (fake, fake * 0 + 5)]
    assert torch.allclose(apart[0], apart[1])  # the real scores do not depend on the fakes
    assert not torch.allclose(mixed[0], mixed[1])


# -------------------------------------------------------------------------------------- training
@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tiny_quality")
    write_dataset(root, n_train=2, n_test=1, frames=8, height=32, width=64, seed=3, progress=False,
                  config=SyntheticConfig().with_motion(4))
    return root


def tiny(root: Path, *extra: str):
    return get_preset("tiny").override([f"data.root={root}", "data.synthetic_sequences=0", *extra])


def test_ttur_changes_d_i_rate_but_d_v_keeps_the_base_rate(tiny_data, tmp_path):
    cfg = tiny(tiny_data, "train.ttur=true", "train.lr=1e-3")
    trainer = Trainer(cfg, tmp_path, max_steps=1, log_with=None)
    trainer._set_epoch(0)
    assert [g["lr"] for g in trainer.opt_G.param_groups] == [pytest.approx(5e-4)]
    assert [g["lr"] for g in trainer.opt_D.param_groups] == [pytest.approx(2e-3), pytest.approx(1e-3)]


def test_occlusion_target_training_logs_the_mask_loss_and_keeps_snapshots(tiny_data, tmp_path):
    cfg = tiny(tiny_data, "loss.mask_target=occlusion", "train.snapshot_every=1")
    trainer = Trainer(cfg, tmp_path, max_steps=2, log_with=None)
    history = trainer.fit()
    assert "G_mask" in history[0] and math.isfinite(history[0]["G_mask"])
    assert sorted(p.name for p in (tmp_path / "snapshots").glob("*.pt")) == ["step_00000001.pt",
                                                                            "step_00000002.pt"]
    from vid2vid.quality import evaluate_generator, format_report, load_test_videos

    G = trainer.G
    videos = load_test_videos(cfg, tiny_data)
    report = evaluate_generator(G, cfg, videos, dis=False)
    outputs = report.pop("_outputs")
    assert outputs[0]["x"].shape == videos[0]["image"].shape and outputs[0]["m"].shape[1] == 1
    assert 0 <= report["mask_auc"] <= 1 and report["real_warping_error"] < report["warping_error"]
    assert report["zero_flow_epe"] > 1  # 4x motion: pixels move
    assert "flow_epe" in format_report(report)


def test_the_main_job_refuses_a_synthetic_dataset_of_other_motion(tiny_data):
    sys.path.insert(0, str(REPO / "reproduce"))
    from train import ensure_synthetic_data

    ensure_synthetic_data(tiny(tiny_data, "data.synthetic_motion=4", "data.synthetic_sequences=2"), True)
    with pytest.raises(DataError, match="synthetic_motion=1"):
        ensure_synthetic_data(tiny(tiny_data, "data.synthetic_sequences=2"), True)
    assert json.loads((tiny_data / "synthetic.json").read_text())["config"]["car_speed"] == 10.0


def test_warp_of_zero_flow_is_the_identity():  # the premise of the zero flow head
    x = torch.rand(1, 3, 5, 7)
    assert torch.allclose(warp(x, torch.zeros(1, 2, 5, 7)), x, atol=1e-6)


# ------------------------------------------------------------------------------------ flow warm-up
def test_flow_warmup_trains_only_the_flow_branch_before_the_gan_steps(tiny_data, tmp_path):
    cfg = tiny(tiny_data, "train.flow_warmup=3", "train.log_every=1")
    trainer = Trainer(cfg, tmp_path, max_steps=1, log_with=None)
    G0 = {k: v.clone() for k, v in trainer.G.state_dict().items()}
    D0 = {k: v.clone() for k, v in trainer.D_I.state_dict().items()}
    trainer.warm_up_flow()
    changed = {k for k, v in trainer.G.state_dict().items() if not torch.equal(v, G0[k])}
    assert any("flow_head" in k for k in changed) and any("flow_decoder" in k for k in changed)
    # the flow loss alone: the mask, the hallucination heads and the foreground branch are untouched
    assert not any(("image_head" in k or "mask_head" in k or "fg_" in k) for k in changed)
    assert all(torch.equal(v, D0[k]) for k, v in trainer.D_I.state_dict().items())
    rows = [json.loads(line) for line in (tmp_path / "warmup.jsonl").read_text().splitlines()]
    assert [r["update"] for r in rows] == [1, 2, 3] and "G_flow" in rows[0]
    assert trainer.step == 0  # the schedule and curricula start after the warm-up


def test_flow_warmup_fits_the_motion_of_real_frames(tiny_data, tmp_path):
    torch.manual_seed(0)
    cfg = tiny(tiny_data)
    trainer = Trainer(cfg, tmp_path, max_steps=1, log_with=None)
    trainer.dataset.set_n_frames(4)
    batch = next(iter(trainer.loader))
    losses = [trainer.warmup_batch(batch)["G_flow"] for _ in range(40)]
    # here 0.35 of the first loss; 0.09-0.35 over train.seed 0-4 and data seeds 3-6, 1 or 2 threads
    assert losses[0] > 0 and min(losses[-5:]) < 0.5 * losses[0]


def test_flow_warmup_also_teaches_the_mask_the_true_occlusion(tiny_data, tmp_path):
    torch.manual_seed(0)
    cfg = tiny(tiny_data, "loss.mask_target=occlusion")
    trainer = Trainer(cfg, tmp_path, max_steps=1, log_with=None)
    G0 = {k: v.clone() for k, v in trainer.G.state_dict().items()}
    trainer.dataset.set_n_frames(4)
    batch = next(iter(trainer.loader))
    logs = [trainer.warmup_batch(batch) for _ in range(30)]
    changed = {k for k, v in trainer.G.state_dict().items() if not torch.equal(v, G0[k])}
    assert any("mask_head" in k for k in changed) and any("flow_head" in k for k in changed)
    assert not any(("image_head" in k or "fg_" in k) for k in changed)  # still the flow branch only
    masks = [r["G_mask"] for r in logs]
    # the cross-entropy to the occlusion falls: here to 0.83 of the first update's; 0.74-0.85 over
    # train.seed 0-4 and data seeds 3-6, 1 or 2 threads (a fixed batch: smooth, not a matter of luck)
    assert masks[0] > 0 and min(masks[-5:]) < 0.9 * masks[0]


def test_a_resumed_run_does_not_warm_up_again(tiny_data, tmp_path):
    cfg = tiny(tiny_data, "train.flow_warmup=2", "train.checkpoint_every=1")
    Trainer(cfg, tmp_path, max_steps=1, log_with=None).fit()
    assert len((tmp_path / "warmup.jsonl").read_text().splitlines()) == 2  # log_every 10: the first and last
    resumed = Trainer(cfg, tmp_path, resume=True, max_steps=2, log_with=None)
    G0 = {k: v.clone() for k, v in resumed.G.state_dict().items()}
    resumed.warm_up_flow()
    assert all(torch.equal(v, G0[k]) for k, v in resumed.G.state_dict().items())


def test_flow_warmup_stops_once_the_flow_loss_is_below_the_target(tiny_data, tmp_path, monkeypatch):
    import vid2vid.training.trainer as trainer_module

    monkeypatch.setattr(trainer_module, "WARMUP_WINDOW", 2)
    easy = Trainer(tiny(tiny_data, "train.flow_warmup=10", "train.flow_warmup_target=100"), tmp_path / "a",
                   max_steps=1, log_with=None)
    assert easy.warm_up_flow() and easy.warmup_updates == 2  # any loss is below 100x a zero flow's
    never = Trainer(tiny(tiny_data, "train.flow_warmup=4", "train.flow_warmup_target=0"), tmp_path / "b",
                    max_steps=1, log_with=None)
    assert not never.warm_up_flow() and never.warmup_updates == 4  # runs every update, then says so
    row = json.loads((tmp_path / "b" / "warmup.jsonl").read_text().splitlines()[0])
    assert row["G_flow_zero"] > 0 and row["ratio"] == pytest.approx(row["G_flow"] / row["G_flow_zero"])


# ------------------------------------------------------------------- the flow branch refined after training
LABEL_BRANCH = ("loss.mask_target=occlusion", "model.flow_branch=labels", "model.flow_detach=true",
                "model.mask_detach=true", "train.log_every=1")


def test_flow_refinement_trains_only_w_and_m_with_a_decaying_rate(tiny_data, tmp_path):
    trainer = Trainer(tiny(tiny_data, *LABEL_BRANCH), tmp_path, max_steps=1, log_with=None)
    G0 = {k: v.clone() for k, v in trainer.G.state_dict().items()}
    logs = trainer.refine_flow(4, lr=1e-3)
    changed = {k for k, v in trainer.G.state_dict().items() if not torch.equal(v, G0[k])}
    assert any("flow_head" in k for k in changed) and any("mask_head" in k for k in changed)
    assert all(("flow" in k or "mask_head" in k) for k in changed), sorted(changed)  # nothing else moves
    rows = [json.loads(line) for line in (tmp_path / "flow_refine.jsonl").read_text().splitlines()]
    assert [r["update"] for r in rows] == [1, 2, 3, 4]
    assert [r["lr"] for r in rows] == pytest.approx([1e-3, 7.5e-4, 5e-4, 2.5e-4])  # linear, to zero
    assert math.isfinite(logs["G_flow"]) and math.isfinite(logs["G_mask"])


@pytest.mark.parametrize("unsafe", ["model.flow_branch=shared", "model.flow_detach=false",
                                    "model.mask_detach=false"])
def test_flow_refinement_refuses_a_branch_the_gan_reaches(tiny_data, tmp_path, unsafe):
    trainer = Trainer(tiny(tiny_data, *LABEL_BRANCH, unsafe), tmp_path, max_steps=1, log_with=None)
    with pytest.raises(ValueError, match="a branch the GAN does not reach.*flow_branch=labels"):
        trainer.refine_flow(1)


def test_refine_flow_generator_writes_a_loadable_generator_that_says_what_was_done(tiny_data, tmp_path):
    from vid2vid.models.io import _generator_checkpoint, export_generator, load_generator
    from vid2vid.training.refine import refine_flow_generator

    cfg = tiny(tiny_data, *LABEL_BRANCH)
    torch.manual_seed(0)
    source = export_generator(tmp_path / "g.pt", cfg, Generator.from_config(cfg), 7)
    out = refine_flow_generator(source, tmp_path / "refined", 2, ["train.lr=1e-3"])
    cfg2, G2, step = load_generator(out)
    assert step == 7 and cfg2.to_dict() == cfg.to_dict()  # the trained model's settings, not the refinement's
    record = _generator_checkpoint(out)["flow_refine"]
    assert record["updates"] == 2 and record["lr"] == 1e-3 and record["from"] == str(source)
    before, after = load_generator(source)[1].state_dict(), G2.state_dict()
    assert not torch.equal(before["scales.0.flow_head.conv.weight"], after["scales.0.flow_head.conv.weight"])
    assert torch.equal(before["scales.0.image_head.conv.weight"], after["scales.0.image_head.conv.weight"])
    with pytest.raises(ValueError, match="refined already"):
        refine_flow_generator(out, tmp_path / "again", 1)


def test_flow_refinement_stops_at_a_non_finite_loss_naming_the_update(tiny_data, tmp_path, monkeypatch):
    from vid2vid.models.io import TrainingDiverged

    trainer = Trainer(tiny(tiny_data, *LABEL_BRANCH), tmp_path, max_steps=1, log_with=None)
    calls = iter([{"G_flow": 1.0, "G_flow_zero": 2.0}, {"G_flow": float("nan"), "G_flow_zero": 2.0}])
    monkeypatch.setattr(trainer, "warmup_batch", lambda batch: next(calls))
    with pytest.raises(TrainingDiverged, match=r"flow refinement update 2: loss G_flow = nan is not finite"):
        trainer.refine_flow(5)
