"""The networks of vid2vid: the generator F (W, M, H_F, H_B and their composition), D_I and D_V.

``vid2vid.models.compose`` is the composition function (the paper's equation or the reference
variant); its module's other functions are imported from ``vid2vid.models.compose`` as usual.
``vid2vid.models.io`` writes and reads the generator checkpoint (``export_generator``,
``load_generator``): what inference and evaluation need, without the trainer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vid2vid.models.compose import (
    COMPOSITIONS,
    background_mask,
    background_mask_from_onehot,
    compose,
    hallucination,
)
from vid2vid.models.generator import Generator, GeneratorOutput

if TYPE_CHECKING:
    from torch import nn

    from vid2vid.config import Config

__all__ = [
    "COMPOSITIONS", "Generator", "GeneratorOutput", "background_mask", "background_mask_from_onehot",
    "build_discriminators", "build_generator", "compose", "hallucination",
]


def build_generator(cfg: Config) -> Generator:
    """The generator G of a configuration (``Generator.from_config``)."""
    return Generator.from_config(cfg)


def build_discriminators(cfg: Config) -> tuple[nn.Module, nn.Module | None]:
    """``(D_I, D_V)`` of a configuration; ``D_V`` is None when ``model.use_video_discriminator`` is off.

    D_I sees frame t with its semantic input (``C_s + 3`` channels); D_V sees K frames and the K - 1
    ground-truth flows between them, at ``n_temporal_scales`` temporal scales.
    """
    from vid2vid.models.discriminators import ImageDiscriminator, VideoDiscriminator

    m = cfg.model
    D_I = ImageDiscriminator(
        label_channels=cfg.data.label_channels, image_channels=3, ndf=m.ndf, n_layers=m.n_layers_D,
        num_D=m.num_D, norm=m.norm_D,
    )
    D_V = None
    if m.use_video_discriminator:
        D_V = VideoDiscriminator(
            n_frames=m.n_frames_D, image_channels=3, ndf=m.ndf, n_layers=m.n_layers_D, num_D=m.num_D,
            n_temporal_scales=m.n_temporal_scales, norm=m.norm_D,
        )
    return D_I, D_V
