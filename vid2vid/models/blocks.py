"""Building blocks of the generator: pix2pixHD-style encoders, residual blocks and decoders; and
what both networks share: :func:`make_norm` and the weight initialisation :func:`init_weights`.

Every convolution keeps its bias and every normalisation layer has an affine scale and shift, so
the parameter count does not depend on the choice of norm ("instance" with affine parameters, the
default here, or "batch", the reference default); running statistics are buffers, not parameters.
"""

from __future__ import annotations

from torch import Tensor, nn

__all__ = ["make_norm", "init_weights", "ConvNormReLU", "ResBlock", "Encoder", "Decoder", "Head"]


def make_norm(kind: str, channels: int, affine_instance: bool = True) -> nn.Module:
    """``"instance"`` (no running statistics; with a learned scale and shift unless
    ``affine_instance=False``, as pix2pixHD's discriminators), ``"batch"`` or ``"none"``."""
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=affine_instance)
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"norm must be 'instance', 'batch' or 'none', got {kind!r}")


def init_weights(module: nn.Module, norm_scale_std: float = 0.0) -> None:
    """pix2pixHD initialisation of every layer of ``module``, in place (generator and discriminators).

    Convolutions (``Conv2d``, ``ConvTranspose2d``): weights N(0, 0.02), biases 0. Normalisation
    layers with an affine scale and shift (``BatchNorm2d``, ``InstanceNorm2d(affine=True)``): shifts 0,
    scales exactly 1 when ``norm_scale_std == 0`` (the generator) or N(1, ``norm_scale_std``)
    otherwise (the discriminators pass 0.02, pix2pixHD's ``weights_init`` for batch norm; their
    instance norms have no affine parameters, so by default only their convolutions are drawn).

    Layers are drawn in ``module.modules()`` order (leaves in definition order): seeded runs repeat.
    """
    for mod in module.modules():
        if isinstance(mod, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(mod.weight, 0.0, 0.02)
            if mod.bias is not None:
                nn.init.zeros_(mod.bias)
        elif isinstance(mod, (nn.BatchNorm2d, nn.InstanceNorm2d)) and mod.weight is not None:
            if norm_scale_std > 0:
                nn.init.normal_(mod.weight, 1.0, norm_scale_std)
            else:  # ones_, not normal_(std=0): draws nothing, so later layers' numbers do not shift
                nn.init.ones_(mod.weight)
            nn.init.zeros_(mod.bias)


class ConvNormReLU(nn.Sequential):
    """Convolution (``kernel`` x ``kernel``, stride 1 or 2), norm, ReLU.

    7x7 stems pad by reflection (no dark border in the output); stride-2 3x3 convolutions pad zeros.
    ``upsample`` gives the 2x upsampling layer of the decoders (output exactly 2H x 2W):

    - ``"transposed"``: a stride-2 3x3 transposed convolution (the reference). Its kernel overlaps
      unevenly (output pixels of even and odd positions sum 4, 2 or 1 taps), which leaves a 2x2
      checkerboard in the output unless training removes it.
    - ``"resize"``: nearest-neighbour 2x resize, then a 3x3 convolution (reflection padding). Every
      output pixel sees the same number of taps, so no checkerboard is built in; the weights have
      the same number of parameters as the transposed convolution's.
    """

    def __init__(self, c_in: int, c_out: int, kernel: int = 3, stride: int = 1, norm: str = "instance",
                 upsample: str | None = None):
        if upsample == "transposed":
            conv: nn.Module = nn.ConvTranspose2d(c_in, c_out, 3, stride=2, padding=1, output_padding=1)
        elif upsample == "resize":
            conv = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                                 nn.Conv2d(c_in, c_out, 3, padding=1, padding_mode="reflect"))
        elif upsample is not None:
            raise ValueError(f"upsample must be 'transposed' or 'resize', got {upsample!r}")
        else:
            pad_mode = "reflect" if stride == 1 else "zeros"
            conv = nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, padding_mode=pad_mode)
        super().__init__(conv, make_norm(norm, c_out), nn.ReLU(inplace=True))


class ResBlock(nn.Module):
    """``x + F(x)`` with F = conv3x3, norm, ReLU, conv3x3, norm (reflection padding). ``[B, C, H, W]``."""

    def __init__(self, channels: int, norm: str = "instance"):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, padding_mode="reflect"),
            make_norm(norm, channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1, padding_mode="reflect"),
            make_norm(norm, channels),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class Encoder(nn.Sequential):
    """7x7 stem to ``ngf`` channels, ``n_down`` stride-2 3x3 convolutions doubling the channels,
    then ``n_blocks`` residual blocks.

    ``[B, c_in, H, W] -> [B, ngf * 2^n_down, H / 2^n_down, W / 2^n_down]``.
    """

    def __init__(self, c_in: int, ngf: int, n_down: int, n_blocks: int, norm: str = "instance"):
        layers: list[nn.Module] = [ConvNormReLU(c_in, ngf, kernel=7, norm=norm)]
        for i in range(n_down):
            layers.append(ConvNormReLU(ngf * 2**i, ngf * 2 ** (i + 1), kernel=3, stride=2, norm=norm))
        c = ngf * 2**n_down
        layers += [ResBlock(c, norm) for _ in range(n_blocks)]
        super().__init__(*layers)
        self.out_channels = c


class Decoder(nn.Module):
    """``n_blocks`` residual blocks (``res``), then ``n_up`` 2x upsampling layers halving the
    channels (``up``; ``upsample`` as in :class:`ConvNormReLU`):
    ``[B, c, h, w] -> [B, c / 2^n_up, h * 2^n_up, w * 2^n_up]``.

    The two parts are separate attributes so parameter counts can be reported per part.
    """

    def __init__(self, channels: int, n_blocks: int, n_up: int, norm: str = "instance",
                 upsample: str = "resize"):
        super().__init__()
        self.res = nn.Sequential(*[ResBlock(channels, norm) for _ in range(n_blocks)])
        self.up = nn.Sequential(*[
            ConvNormReLU(channels // 2**i, channels // 2 ** (i + 1), norm=norm, upsample=upsample)
            for i in range(n_up)
        ])
        self.out_channels = channels // 2**n_up

    def forward(self, x: Tensor) -> Tensor:
        return self.up(self.res(x))


class Head(nn.Module):
    """The last layer of one output: a 7x7 convolution (reflection padding) and an activation.

    ``activation``: ``"tanh"`` (images in ``[-1, 1]``), ``"sigmoid"`` (masks in ``(0, 1)``) or
    ``"none"`` (flow), after which the output is multiplied by ``scale``.
    """

    def __init__(self, c_in: int, c_out: int, activation: str = "tanh", scale: float = 1.0):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 7, padding=3, padding_mode="reflect")
        if activation not in ("tanh", "sigmoid", "none"):
            raise ValueError(f"activation must be 'tanh', 'sigmoid' or 'none', got {activation!r}")
        self.activation = activation
        self.scale = scale

    def forward(self, x: Tensor) -> Tensor:
        y = self.conv(x)
        if self.activation == "tanh":
            y = y.tanh()
        elif self.activation == "sigmoid":
            y = y.sigmoid()
        return y * self.scale if self.scale != 1.0 else y
