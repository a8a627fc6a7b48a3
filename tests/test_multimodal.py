"""Multimodal synthesis: the instance-wise feature encoder E, its pooling, the K-means centres, the
sampled features at inference, the file formats, and the commands end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.testing import assert_close

from vid2vid.__main__ import main
from vid2vid.config import ConfigError, get_preset
from vid2vid.data.layout import list_frames, read_rgb
from vid2vid.inference import InputFrame, generate_frames
from vid2vid.models import Generator, build_discriminators
from vid2vid.models.feature_encoder import instance_average, region_classes, region_keys
from vid2vid.models.io import export_generator, load_generator, safe_load
from vid2vid.models.sequence import SequenceGenerator
from vid2vid.multimodal import ClusterFeatures, FeatureClusters, RealFeatures, kmeans, load_chosen_features

H, W = 32, 64
ROAD, SKY, CAR = 7, 23, 26
# E small enough for tests: 4 channels wide, 2 downsamplings
MULTIMODAL = {"model.feat_nc": 3, "model.nef": 4, "model.n_downsample_E": 2}


def multimodal_generator(seed: int = 0, **overrides) -> tuple[Generator, object]:
    torch.manual_seed(seed)
    cfg = get_preset("tiny").override({**MULTIMODAL, **overrides})
    return Generator.from_config(cfg).eval(), cfg


def street_frame(t: int, n_classes: int = 35) -> InputFrame:
    """Frame t of a street: sky above road, two cars (instances 26000, 26001) driving right 2 px a frame."""
    ids = torch.full((1, H, W), ROAD, dtype=torch.long)
    ids[:, : H // 3] = SKY
    inst = ids.clone()
    for k, x0 in enumerate((4 + 2 * t, 36 + 2 * t)):
        ids[:, 16:26, x0:x0 + 12] = CAR
        inst[:, 16:26, x0:x0 + 12] = CAR * 1000 + k
    label = torch.zeros(n_classes + 1, H, W).scatter_(0, ids, 1.0)  # one-hot + an (empty) edge channel
    return InputFrame(label=label, label_ids=ids, real=None, picture=np.zeros((H, W, 3), np.uint8),
                      name=f"{t:05d}", inst=inst)


def fabricated_clusters(feat_nc: int = 3, k: int = 4, classes=(ROAD, SKY, CAR)) -> FeatureClusters:
    g = torch.Generator().manual_seed(1)
    centres = {c: torch.rand(k, feat_nc, generator=g) * 2 - 1 for c in classes}
    return FeatureClusters(centres=centres, sizes={c: torch.ones(k, dtype=torch.long) for c in classes},
                           feat_nc=feat_nc, label_nc=35, clusters=k)


def run_video(G, cfg, source, n: int = 4) -> torch.Tensor:
    return torch.stack([x for _, x in generate_frames(G, cfg, (street_frame(t) for t in range(n)),
                                                      features=source)])


# ---------------------------------------------------------------------------------------- pooling
def test_pooled_features_are_constant_inside_each_instance_and_equal_its_mean():
    g = torch.Generator().manual_seed(0)
    feat = torch.randn(2, 3, H, W, generator=g)
    frames = [street_frame(0), street_frame(5)]
    keys = torch.stack([region_keys(f.label_ids, f.inst) for f in frames])  # [2, 1, H, W]
    pooled = instance_average(feat, keys)
    for b in range(2):
        for key in keys[b].unique():
            inside = keys[b, 0] == key
            values = pooled[b][:, inside]  # [3, pixels]
            assert_close(values, values[:, :1].expand_as(values), rtol=0, atol=0)
            assert_close(values[:, 0], feat[b][:, inside].mean(1))
    # the two cars are two regions (instances), road and sky one each: 4 per image
    assert [len(keys[b].unique()) for b in range(2)] == [4, 4]
    G, _ = multimodal_generator()
    encoded = G.encode_features(torch.rand(2, 3, H, W) * 2 - 1, keys)
    car0 = encoded[0][:, keys[0, 0] == region_keys(torch.tensor(CAR), torch.tensor(CAR * 1000))]
    assert car0.shape[1] == 10 * 12 and bool((car0 == car0[:, :1]).all())


def test_regions_are_instances_else_classes_else_the_whole_frame():
    frame = street_frame(0)
    with_inst = region_keys(frame.label_ids, frame.inst)
    assert len(with_inst.unique()) == 4  # road, sky, car 0, car 1
    assert set(region_classes(with_inst).unique().tolist()) == {ROAD, SKY, CAR}
    per_class = region_keys(frame.label_ids, None)
    assert len(per_class.unique()) == 3  # the two cars are one region
    whole = region_keys(None, None, like=frame.label)
    assert whole.shape == (1, H, W) and len(whole.unique()) == 1


# ---------------------------------------------------------------------------------------- training
def test_the_encoder_gets_gradients_from_a_G_loss():
    G, cfg = multimodal_generator()
    G.train()
    D_I, _ = build_discriminators(cfg)
    frames = [street_frame(t) for t in range(3)]
    labels = torch.stack([f.label for f in frames])[None]  # [1, T, C_s, H, W]
    regions = torch.stack([region_keys(f.label_ids, f.inst) for f in frames])[None]
    real = torch.rand(1, 3, 3, H, W) * 2 - 1
    gen = SequenceGenerator(G)(labels, None, None, 0, 3, real=real, regions=regions)
    # G's GAN term on D_I (LSGAN): the loss G minimises
    out = D_I(gen.x[0], labels[0])
    loss = sum(((scale[-1] - 1) ** 2).mean() for scale in out)
    loss.backward()
    grads = [p.grad for p in G.E.parameters()]
    assert all(g is not None for g in grads)
    assert all(float(g.abs().sum()) > 0 for g in grads)


def test_a_generator_with_an_encoder_refuses_to_run_without_features():
    G, cfg = multimodal_generator()
    labels = torch.stack([street_frame(t).label for t in range(3)])[None]
    expected = r"feature encoder \(model.feat_nc = 3\): pass features \[1, 3, 3, 32, 64\]"
    with pytest.raises(ValueError, match=expected):
        G(labels)
    plain = Generator.from_config(get_preset("tiny"))
    with pytest.raises(ValueError, match="without a feature encoder"):
        plain(labels, features=torch.zeros(1, 3, 3, H, W))


# ---------------------------------------------------------------------------------------- inference
def test_one_seed_gives_identical_videos_and_another_seed_another():
    G, cfg = multimodal_generator()
    clusters = fabricated_clusters()
    a, b = ClusterFeatures(clusters, seed=0), ClusterFeatures(clusters, seed=1)
    video_a, again, video_b = run_video(G, cfg, a), run_video(G, cfg, ClusterFeatures(clusters, seed=0)), \
        run_video(G, cfg, b)
    assert torch.equal(video_a, again)
    assert a.choices != b.choices  # seed 1 drew other centres for some class ...
    assert (video_a - video_b).abs().max() > 1e-3  # ... and so rendered another video


def test_an_instance_keeps_its_features_in_every_frame():
    G, cfg = multimodal_generator()
    seen = []
    forward = G.forward

    def spy(labels, prev=None, m_B=None, features=None):
        seen.append(features[0, -1])  # frame t's feature map [F, H, W]
        return forward(labels, prev, m_B, features)

    G.forward = spy
    source = ClusterFeatures(fabricated_clusters(), seed=3, per_instance=True)
    run_video(G, cfg, source, n=6)
    assert len(seen) == 6
    per_region: dict[int, list[torch.Tensor]] = {}  # the feature of each region, frame by frame
    for t, f in enumerate(seen):
        frame = street_frame(t)  # the cars have moved 2 px per frame
        keys = region_keys(frame.label_ids, frame.inst)[0]
        for key in keys.unique().tolist():
            inside = f[:, keys == key]  # [F, pixels]
            assert bool((inside == inside[:, :1]).all())  # constant inside the region
            per_region.setdefault(key, []).append(inside[:, 0])
    assert len(per_region) == 4 and all(len(v) == 6 for v in per_region.values())
    for key, vectors in per_region.items():
        for v in vectors[1:]:
            assert torch.equal(v, vectors[0]), f"region {key} changed its feature between frames"
    # per instance: each car drew a centre of its own (from the same seed)
    car0, car1 = (region_keys(torch.tensor(CAR), torch.tensor(CAR * 1000 + k)).item() for k in (0, 1))
    assert source.choices[car0] is not None and source.choices[car1] is not None


def test_reconstruction_encodes_the_real_frames():
    G, cfg = multimodal_generator()
    frame = street_frame(0)
    real = torch.rand(1, 3, H, W) * 2 - 1
    keys = region_keys(frame.label_ids, frame.inst)[None]
    assert_close(RealFeatures()(G, keys, real), G.encode_features(real, keys))
    with pytest.raises(ValueError, match="reconstruction needs the real frames"):
        RealFeatures()(G, keys, None)


def test_chosen_features_override_the_draw_and_bad_ones_name_the_file(tmp_path):
    clusters = fabricated_clusters()
    good = tmp_path / "chosen.json"
    good.write_text(json.dumps({str(CAR): 2, str(ROAD): [0.5, -0.5, 0.25]}))
    chosen = load_chosen_features(good, 3, 35, clusters)
    assert_close(chosen[CAR], clusters.centres[CAR][2])
    source = ClusterFeatures(clusters, seed=0, chosen=chosen)
    assert_close(source.vector(region_keys(torch.tensor(ROAD), None).item()), torch.tensor([0.5, -0.5, 0.25]))
    for content, message in [({"26": [0.1, 0.2]}, "class 26 has a vector of 2 numbers, the generator expects "
                                                   "model.feat_nc = 3"),
                             ({"26": 9}, "class 26 asks for centre 9; it has centres 0..3"),
                             ({"99": 0}, "'99' is not a class id of the generator")]:
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps(content))
        with pytest.raises(ValueError, match=str(bad)) as err:
            load_chosen_features(bad, 3, 35, clusters)
        assert message in str(err.value)


# ---------------------------------------------------------------------------------------- K-means
def test_kmeans_finds_well_separated_clusters():
    g = torch.Generator().manual_seed(0)
    truth = torch.tensor([[0.8, 0.8, 0.8], [-0.8, 0.0, 0.5], [0.0, -0.8, -0.8]])
    sizes = (60, 40, 20)
    points = torch.cat([c + 0.05 * torch.randn(n, 3, generator=g) for c, n in zip(truth, sizes, strict=True)])
    centres, assign = kmeans(points, 3, seed=0)
    assert_close(centres, truth, atol=0.03, rtol=0)  # largest cluster first, as the truth is ordered
    assert assign.tolist() == [0] * 60 + [1] * 40 + [2] * 20
    again, _ = kmeans(points, 3, seed=0)
    assert torch.equal(centres, again)
    few, labels = kmeans(torch.tensor([[0.0, 0.0], [1.0, 1.0], [1.0, 1.0]]), 10)
    assert few.shape == (2, 2) and labels.tolist() == [1, 0, 0]  # at most as many centres as distinct points


# ---------------------------------------------------------------------------------------- files
def test_a_checkpoint_without_the_encoder_still_loads_and_runs(tmp_path):
    """Checkpoints written before model.feat_nc existed have no such key in their config."""
    cfg = get_preset("tiny")
    torch.manual_seed(0)
    G = Generator.from_config(cfg)
    path = export_generator(tmp_path / "generator.pt", cfg, G, 7)
    ckpt = safe_load(path)
    for key in ("feat_nc", "nef", "n_downsample_E"):
        del ckpt["config"]["model"][key]
    torch.save(ckpt, path)
    cfg2, G2, step = load_generator(path)
    assert step == 7 and cfg2.model.feat_nc == 0 and G2.E is None
    assert not any(k.startswith("E.") for k in G2.state_dict())
    frames = [street_frame(t) for t in range(3)]
    old = torch.stack([x for _, x in generate_frames(G.eval(), cfg, iter(frames))])
    new = torch.stack([x for _, x in generate_frames(G2, cfg2, iter(frames))])
    assert torch.equal(old, new)


def test_generator_checkpoint_carries_the_encoder(tmp_path):
    G, cfg = multimodal_generator()
    path = export_generator(tmp_path / "generator.pt", cfg, G, 1)
    cfg2, G2, _ = load_generator(path)
    assert cfg2.model.feat_nc == 3 and G2.E is not None
    for k, v in G.E.state_dict().items():
        assert torch.equal(v, G2.E.state_dict()[k])


def test_features_file_that_does_not_fit_the_model_is_refused_naming_the_file(tmp_path):
    _, cfg = multimodal_generator()
    path = tmp_path / "features.pt"
    fabricated_clusters(feat_nc=16).save(path)
    with pytest.raises(ConfigError, match=f"{path}: cluster centres of 16 feature channels, but the "
                                          "generator run/generator.pt expects model.feat_nc = 3"):
        FeatureClusters.load(path).check_fits(cfg, str(path), "run/generator.pt")
    other = fabricated_clusters()
    other.label_nc = 20
    other.save(path)
    with pytest.raises(ConfigError, match=f"{path}: centres for data.label_nc = 20 classes, but the "
                                          "generator run/generator.pt expects data.label_nc = 35"):
        FeatureClusters.load(path).check_fits(cfg, str(path), "run/generator.pt")
    torch.save({"centres": {}}, path)
    with pytest.raises(ValueError, match=f"{path}: not a feature-cluster file"):
        FeatureClusters.load(path)


def test_negative_feat_nc_is_a_config_error():
    with pytest.raises(ConfigError, match="model.feat_nc must be >= 0, got -1"):
        get_preset("tiny").override({"model.feat_nc": -1})
    with pytest.raises(ConfigError, match="divisible by 2\\^model.n_downsample_E = 64"):
        get_preset("tiny").override({"model.feat_nc": 3, "model.n_downsample_E": 6})


def test_multimodal_options_for_a_generator_without_encoder_are_refused(tmp_path, capsys):
    cfg = get_preset("tiny")
    ckpt = export_generator(tmp_path / "generator.pt", cfg, Generator.from_config(cfg), 1)
    labels = tmp_path / "labels"
    labels.mkdir()
    rc = main(["generate", "--checkpoint", str(ckpt), "--input", str(labels),
               "--out", str(tmp_path / "v.mp4"), "--feature-seed", "3"])
    assert rc == 2
    assert capsys.readouterr().err == (
        f"error: {ckpt}: --feature-seed needs a generator with a feature encoder (trained with "
        "model.feat_nc > 0, e.g. 3 for street scenes); this one has model.feat_nc = 0 and renders one "
        "video per label video\n")
    assert main(["features", "--checkpoint", str(tmp_path), "--data", str(tmp_path)]) == 2
    assert "this generator has no feature encoder (model.feat_nc = 0)" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------- end to end
def _frames(folder: Path) -> np.ndarray:
    return np.stack([read_rgb(folder / name) for name in list_frames(folder)])


def test_tiny_training_then_features_then_generate_with_seeds(tiny_data, tmp_path, capsys):
    from vid2vid.training.trainer import Trainer

    data = {"data.root": str(tiny_data), "data.synthetic_sequences": 0}
    cfg = get_preset("tiny").override({**data, **MULTIMODAL})
    trainer = Trainer(cfg, tmp_path / "run", max_steps=1, log_with=None, check_data=False)
    E0 = {k: v.clone() for k, v in trainer.G.E.state_dict().items()}
    trainer.fit()
    moved = [k for k, v in trainer.G.E.state_dict().items() if not torch.equal(v, E0[k])]
    assert moved, "training did not update the feature encoder"
    run = tmp_path / "run"
    assert any(k.startswith("E.") for k in safe_load(run / "generator.pt")["generator"])
    from safetensors import safe_open  # the training state (Accelerate) carries E too
    with safe_open(str(run / "checkpoints" / "step_00000001" / "model.safetensors"), "pt") as f:
        assert any(k.startswith("G.E.") for k in f.keys())

    assert main(["features", "--checkpoint", str(run), "--clusters", "2"]) == 0
    printed = capsys.readouterr().out
    assert f"to {run / 'features.pt'}" in printed and "class  26 car:" in printed
    clusters = FeatureClusters.load(run / "features.pt")
    assert clusters.feat_nc == 3 and all(v.shape[0] <= 2 for v in clusters.centres.values())
    assert CAR in clusters.centres and clusters.source["step"] == 1

    labels = tiny_data / "test_A" / "seq_0000"
    videos = {}
    for name, seed in (("a", "0"), ("again", "0"), ("b", "1")):
        out = tmp_path / name
        assert main(["generate", "--checkpoint", str(run / "generator.pt"), "--input", str(labels),
                     "--out", str(out), "--feature-seed", seed]) == 0
        assert f"feature seed {seed} per class from {run / 'features.pt'}" in capsys.readouterr().out
        videos[name] = _frames(out)
    assert videos["a"].shape[0] == 8
    assert np.array_equal(videos["a"], videos["again"])
    assert not np.array_equal(videos["a"], videos["b"])
