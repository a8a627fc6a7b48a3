"""The baselines of the paper's Table 1, built from this package's parts.

- **pix2pixHD** (Wang et al. 2018): frame-by-frame image-to-image translation. Here: the same
  generator backbone with no previous frames (``model.n_prev = 0``: no image encoder, no flow, no
  mask), the same conditional multi-scale ``D_I``, feature matching (and VGG when enabled), no
  ``D_V`` and no temporal losses. Configuration: ``reproduce/configs/tables/pix2pixHD.yaml``.
- **COVST** (Chen et al., "Coherent Online Video Style Transfer", ICCV 2017) applied to the
  pix2pixHD outputs, as in the vid2vid paper. Chen et al. train a stabilisation network that
  propagates the previous stylised frame along optical flow where the flow is reliable and keeps
  the current per-frame result where it is not (occlusions, flow errors). :func:`stabilize`
  implements that short-term propagation rule without a learned network: the flow between
  consecutive per-frame outputs is estimated online (OpenCV DIS, no ground truth), the previous
  stabilised frame is warped along it, a per-pixel confidence mask marks where the warped frame
  agrees with the current output (the squared error averaged over the colour channels below a
  threshold; the paper's flow confidence, :func:`vid2vid.flow.flow_confidence`, sums it over
  the channels instead), and there the two are blended. It needs no training data and uses no
  information that vid2vid does not have at test time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import torch

from vid2vid.flow import DISFlow, FlowEstimator, warp

__all__ = ["stabilize"]


@torch.no_grad()
def stabilize(frames: Iterable[torch.Tensor], alpha: float = 0.8, threshold: float = 0.02,
              estimator: FlowEstimator | None = None) -> Iterator[torch.Tensor]:
    """Temporal stabilisation of a per-frame video (the COVST baseline, see the module docstring).

    ``y_1 = x_1``; for ``t > 1``, with ``w = flow(x_t -> y_{t-1})`` and ``y' = warp(y_{t-1}, w)``,
    ``c = [mean_channels (x_t - y')^2 < threshold]`` and ``y_t = c * (alpha * y' + (1 - alpha) * x_t)
    + (1 - c) * x_t``.

    Args:
        frames: per-frame outputs, each ``[3, H, W]`` in ``[-1, 1]``, in time order.
        alpha: weight of the propagated frame where the flow is confident.
        threshold: confidence threshold on the squared error in the ``[-1, 1]`` range.
        estimator: backward-flow estimator (default: OpenCV DIS, medium preset).

    Yields:
        the stabilised frames ``[3, H, W]``, one per input frame (streaming, constant memory).
    """
    estimator = estimator or DISFlow()
    prev = None
    for x in frames:
        if prev is None:
            y = x
        else:
            w = estimator(x[None], prev[None])  # [1, 2, H, W], t -> t-1
            warped = warp(prev[None], w)[0]
            conf = ((x - warped).pow(2).mean(0, keepdim=True) < threshold).to(x.dtype)
            y = conf * (alpha * warped + (1 - alpha) * x) + (1 - conf) * x
        prev = y
        yield y
