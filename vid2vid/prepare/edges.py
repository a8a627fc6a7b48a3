"""``prepare edges``: each frame's Canny edge map is its input map (edge-to-video).

One channel, ``uint8 [H, W]`` in ``{0, 255}`` (255 = edge), computed on the frame after resizing,
so the edges are as thin at every output size. ``label_nc 0, input_nc 1`` in ``train.yaml``.
"""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np

from vid2vid.prepare.dataset import Sample
from vid2vid.prepare.source import FrameSource, fitted

__all__ = ["canny", "samples"]


def canny(rgb: np.ndarray, low: float, high: float) -> np.ndarray:
    """Canny edges of an RGB frame ``uint8 [H, W, 3]`` -> ``uint8 [H, W]`` in ``{0, 255}``.

    ``low`` / ``high``: the hysteresis thresholds on the gradient magnitude of the grey image
    (OpenCV's 3x3 Sobel, L1 norm): pixels above ``high`` start edges, which continue through
    pixels above ``low``."""
    if not 0 <= low <= high:
        raise ValueError(f"Canny thresholds need 0 <= low <= high, got low={low}, high={high}")
    return cv2.Canny(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), low, high)


def samples(source: FrameSource, size: tuple[int, int], resize: str, low: float, high: float
            ) -> Iterator[Sample]:
    """The source's frames at ``size`` (height, width) with their edge maps."""
    for i, (frame, fit) in enumerate(fitted(source, size, resize)):
        b = fit.image(frame.rgb)
        yield Sample(f"{i:06d}", canny(b, low, high), b)
