"""Typed settings of a vid2vid run, YAML load / save, checked overrides and named presets.

A :class:`Config` has four sections, each a dataclass with a one-line comment per field:

    data    what is read from disk and at what size          (``cfg.data.label_nc``)
    model   the generator G and the discriminators D_I, D_V  (``cfg.model.ngf``)
    loss    the GAN form and the weights of every term       (``cfg.loss.lambda_flow``)
    train   optimiser, epochs, curricula, precision, seeds   (``cfg.train.lr``)

The defaults are the reference recipe for Cityscapes at 512 x 256 (NVIDIA/vid2vid's training options). Named
presets (``get_preset("tiny")``, ``PRESETS``) change what their recipe changes. Settings are
changed with dotted overrides that are checked against the field types::

    cfg = get_preset("synthetic").override(["model.ngf=32", "train.lr=1e-4"])

Where things are (everything is imported from ``vid2vid.config``):

    schema.py     the fields: Config, DataConfig, ModelConfig, LossConfig, TrainConfig, ConfigError
    coerce.py     from_dict / from_yaml / to_yaml and overrides, checked against the field types
    validate.py   the ranges and combinations the field types cannot express (Config.validate)
    presets.py    the named presets: PRESETS, get_preset

This package imports nothing else of vid2vid (it sits at the bottom of the layers).
"""

from vid2vid.config.coerce import apply_overrides
from vid2vid.config.presets import PRESETS, get_preset
from vid2vid.config.schema import (
    CITYSCAPES_FOREGROUND_IDS,
    SECTIONS,
    Config,
    ConfigError,
    DataConfig,
    LossConfig,
    ModelConfig,
    TrainConfig,
)

__all__ = [
    "ConfigError", "DataConfig", "ModelConfig", "LossConfig", "TrainConfig", "Config",
    "PRESETS", "get_preset", "apply_overrides", "CITYSCAPES_FOREGROUND_IDS", "SECTIONS",
]
