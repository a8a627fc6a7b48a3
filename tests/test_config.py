"""Config: presets follow the reference recipes, YAML round trip, checked overrides."""

from pathlib import Path

import pytest
import yaml

from vid2vid.config import PRESETS, Config, ConfigError, apply_overrides, get_preset
from vid2vid.data.labels import CITYSCAPES_FOREGROUND, CITYSCAPES_LABEL_NC


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_builds_and_validates(name):
    cfg = get_preset(name)
    assert cfg.preset == name
    h, w = cfg.data.frame_size
    factor = 2 ** (cfg.model.n_downsample + cfg.model.n_scales - 1)
    assert h % factor == 0 and w % factor == 0


def test_default_foreground_is_the_cityscapes_instance_classes():
    cfg = get_preset("cityscapes-512")
    assert tuple(cfg.data.foreground_ids) == CITYSCAPES_FOREGROUND
    assert cfg.data.label_nc == CITYSCAPES_LABEL_NC


def test_cityscapes_presets_follow_the_reference_recipe():
    c512, c1024, c2048 = (get_preset(f"cityscapes-{s}") for s in (512, 1024, 2048))
    for c in (c512, c1024, c2048):
        m = c.model
        assert (m.ngf, m.n_downsample, m.n_blocks_enc, m.n_blocks_dec, m.n_prev) == (128, 3, 5, 4, 2)
        assert m.use_fg_prior and m.fg_ngf == 64 and m.fg_n_blocks == 9
        assert c.data.label_channels == 36  # 35 labels + instance edges; x 3 frames = 108 channels
        assert (m.ndf, m.n_layers_D, m.n_frames_D) == (64, 3, 3)
        assert c.loss.lambda_vgg == 10 and c.loss.vgg_weights == "imagenet"
        assert c.train.beta1 == 0.5 and c.train.beta2 == 0.999
    assert [(c.model.n_scales, c.model.num_D, c.train.lr) for c in (c512, c1024, c2048)] == [
        (1, 2, 2e-4), (2, 3, 1e-4), (3, 4, 5e-5)]
    assert [c.data.width for c in (c512, c1024, c2048)] == [512, 1024, 2048]
    assert c1024.train.niter_fix_global > 0 and c2048.train.niter_fix_global > 0


def test_face_and_pose_presets_use_continuous_inputs_without_the_fg_prior():
    face = get_preset("face-512")
    assert (face.data.label_nc, face.data.input_nc, face.data.label_channels) == (0, 15, 15)
    assert not face.model.use_fg_prior and face.model.num_D == 3
    assert (face.train.niter, face.train.niter_decay, face.train.n_frames_start) == (20, 20, 12)
    poses = [get_preset(f"pose-{s}") for s in (256, 512, 1024)]
    assert [p.data.label_channels for p in poses] == [6, 6, 6]
    assert [(p.model.n_scales, p.model.num_D) for p in poses] == [(1, 2), (2, 3), (3, 4)]
    assert [p.data.crop_height for p in poses] == [256, 512, 1024]
    assert all(not p.model.use_fg_prior and not p.data.flip for p in poses)


@pytest.mark.parametrize("name", ["tiny", "synthetic"])
def test_cpu_presets_are_small_and_skip_vgg(name):
    cfg = get_preset(name)
    assert cfg.loss.lambda_vgg == 0 and cfg.loss.vgg_weights == "none"
    assert cfg.model.ngf <= 16 and cfg.data.frame_size[0] <= 64
    assert cfg.data.label_channels == 36 and cfg.model.use_fg_prior  # the street code path


def test_yaml_round_trip_is_exact(tmp_path):
    cfg = get_preset("pose-512").override(["model.ngf=64", "train.lr=3e-5", "data.root=/x/y"])
    path = tmp_path / "cfg" / "run.yaml"
    text = cfg.to_yaml(path)
    assert path.read_text() == text
    back = Config.from_yaml(path)
    assert back == cfg
    assert back.to_dict() == cfg.to_dict()


def test_yaml_with_a_preset_and_a_few_keys_fills_the_rest_from_the_preset(tmp_path):
    path = tmp_path / "short.yaml"
    path.write_text(yaml.safe_dump({"preset": "cityscapes-1024", "train": {"lr": 1e-5}}))
    cfg = Config.from_yaml(path)
    ref = get_preset("cityscapes-1024")
    assert cfg.train.lr == 1e-5
    assert cfg.model == ref.model and cfg.data == ref.data


def test_yaml_with_an_unknown_key_names_the_file_and_a_close_match(tmp_path):
    path = tmp_path / "typo.yaml"
    path.write_text(yaml.safe_dump({"model": {"ngff": 32}}))
    with pytest.raises(ConfigError, match=r"typo\.yaml.*'model\.ngff'.*did you mean 'model\.ngf'"):
        Config.from_yaml(path)


def test_overrides_parse_values_and_return_a_copy():
    base = get_preset("tiny")
    cfg = base.override([
        "model.ngf=32", "train.lr=1", "loss.lambda_flow=2e-1", "train.ttur=true",
        "model.norm=batch", "data.foreground_ids=[26, 27]", "train.mixed_precision=no", "data.root=2024",
    ])
    assert cfg.model.ngf == 32 and isinstance(cfg.model.ngf, int)
    assert cfg.train.lr == 1.0 and isinstance(cfg.train.lr, float)  # an int is fine for a float
    assert cfg.loss.lambda_flow == pytest.approx(0.2)
    assert cfg.train.ttur is True and cfg.model.norm == "batch"
    assert cfg.data.foreground_ids == [26, 27]
    assert cfg.train.mixed_precision == "no"  # YAML would read "no" as False
    assert cfg.data.root == "2024"
    assert base.model.ngf == 8 and base.train.ttur is False  # the original is untouched
    assert apply_overrides(base, {"model.ngf": 32}).model.ngf == 32


def test_unknown_keys_are_rejected_with_close_matches():
    with pytest.raises(ConfigError, match=r"unknown config key 'model\.ngff'.*'model\.ngf'"):
        get_preset("tiny").override(["model.ngff=4"])
    with pytest.raises(ConfigError, match=r"unknown config key 'ngf'.*'model\.ngf'"):
        get_preset("tiny").override(["ngf=4"])
    with pytest.raises(ConfigError, match="expected 'section.key=value'"):
        get_preset("tiny").override(["model.ngf"])


@pytest.mark.parametrize("item, pattern", [
    ("model.ngf=abc", r"'model\.ngf' expects int, got str 'abc'"),
    ("model.ngf=3.5", r"'model\.ngf' expects int, got float 3\.5"),
    ("train.lr=fast", r"'train\.lr' expects float, got str 'fast'"),
    ("model.use_flow=1", r"'model\.use_flow' expects bool, got int 1"),
    ("model.norm=layer", r"'model\.norm' expects one of \['instance', 'batch', 'none'\], got 'layer'"),
    ("data.foreground_ids=[24, car]", r"'data\.foreground_ids\[1\]' expects int, got str 'car'"),
    ("data.foreground_ids=24", r"'data\.foreground_ids' expects list, got int 24"),
])
def test_wrong_types_name_the_key_the_expected_type_and_the_value(item, pattern):
    with pytest.raises(ConfigError, match=pattern):
        get_preset("tiny").override([item])


def test_inconsistent_combinations_are_rejected():
    with pytest.raises(ConfigError, match="use_fg_prior needs semantic labels"):
        get_preset("tiny").override(["data.label_nc=0"])
    with pytest.raises(ConfigError, match=r"frame size 30 x 64 must be divisible by .* = 4"):
        get_preset("tiny").override(["data.height=30"])
    with pytest.raises(ConfigError, match=r"foreground_ids \[40\]"):
        get_preset("tiny").override(["data.foreground_ids=[40]"])
    with pytest.raises(ConfigError, match="n_frames_start=9 exceeds"):
        get_preset("tiny").override(["train.n_frames_start=9"])


def test_unknown_preset_suggests_a_name():
    with pytest.raises(ConfigError, match=r"unknown preset 'cityscape-512'.*'cityscapes-512'"):
        get_preset("cityscape-512")


def test_the_synthetic_preset_trains_in_bf16_where_native_and_the_tables_stay_fp32():
    """The synthetic preset picks its precision by the CPU; the committed Tables were trained in fp32
    and their configs keep it, so that rerunning them repeats what was measured."""
    assert get_preset("synthetic").train.mixed_precision == "auto"
    assert get_preset("tiny").train.mixed_precision == "no"  # the same numbers on every CPU
    tables = sorted((Path(__file__).resolve().parents[1] / "reproduce" / "configs" / "tables").glob("*.yaml"))
    assert len(tables) == 5
    for path in tables:
        assert Config.from_yaml(path).train.mixed_precision == "no", path.name


def test_the_synthetic_preset_checks_the_warp_and_the_tables_keep_it_unchecked():
    """``model.label_occlusion`` is the synthetic preset's default (one-hot labels); the Tables' models
    that warp keep the committed tables' unchecked warp, and a continuous input must turn it off."""
    assert get_preset("synthetic").model.label_occlusion
    assert not get_preset("tiny").model.label_occlusion
    assert not get_preset("cityscapes-512").model.label_occlusion
    tables = Path(__file__).resolve().parents[1] / "reproduce" / "configs" / "tables"
    for name in ("vid2vid", "no-fg-prior", "no-video-D"):
        assert not Config.from_yaml(tables / f"{name}.yaml").model.label_occlusion, name
    with pytest.raises(ConfigError, match="model.label_occlusion=false"):
        get_preset("synthetic").override(["data.label_nc=0", "data.input_nc=1", "model.use_fg_prior=false"])
