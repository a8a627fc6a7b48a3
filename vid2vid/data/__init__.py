"""Data: the official folder layout, the video-folder dataset and the built-in synthetic dataset."""

from vid2vid.data.layout import DataError

__all__ = ["DataError"]
