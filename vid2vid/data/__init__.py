"""Data: the official folder layout, the video-folder dataset and the built-in synthetic dataset."""

from vid2vid.data.check import DatasetCheck, check_dataset
from vid2vid.data.encoding import encode_labels, instance_edges, one_hot, semantic_channels
from vid2vid.data.folder import SpatialTransform, VideoFolderDataset
from vid2vid.data.layout import DataError
from vid2vid.data.synthetic import SyntheticConfig, generate_sequence, write_dataset

__all__ = ["DataError", "DatasetCheck", "check_dataset"]
__all__ += ["SpatialTransform", "VideoFolderDataset", "encode_labels", "instance_edges", "one_hot",
            "semantic_channels"]
__all__ += ["SyntheticConfig", "generate_sequence", "write_dataset"]
