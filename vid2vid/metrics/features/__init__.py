"""Video feature extractors for the video FID of the paper's Tables 1 and 3 (section 5), behind one interface.

The paper reports FID on features of I3D and of 3D ResNeXt-101, both pretrained on Kinetics, but
not the layer, clip length or resolution; so every extractor here states all four (plus where its
weights came from) in :meth:`VideoFeatureExtractor.describe`, and :func:`video_fid` returns them
next to every number.

All extractors take clips ``[N, T, 3, H, W]`` in ``[-1, 1]`` with ``T == clip_length``, resize each
frame to the network's resolution (bilinear, antialiased; the aspect ratio is *not* kept: street
frames of 1:2 are squeezed to the square Kinetics input rather than cropped, so the whole frame
counts) and apply the normalisation of their weights. Implementations:

============================  =========================================  ====  =======  =================
name                          features                                   clip  size     input
============================  =========================================  ====  =======  =================
``i3d``                       Mixed_5c average pool, 1024-d (or logits)  16    224x224  [-1, 1]
``i3d`` (a TorchScript file)  the module's output (StyleGAN-V: 400-d)    16    224x224  [-1, 1]
``resnext101``                global average pool, 2048-d                16    112x112  0..255 - mean
``r3d_18``, ``r2plus1d_18``   pool before ``fc``, 512-d                  16    112x112  Kinetics mean/std
``synthetic``                 global average pool, 128-d                 8     64x128   [-1, 1]
============================  =========================================  ====  =======  =================

Per-frame (image) features for :func:`vid2vid.metrics.temporal.per_frame_fid`:
:class:`InceptionImageFeatures` (Inception-v3, 2048-d) and :class:`StaticClipImageFeatures` (any video
extractor on still clips).

Weights are never downloaded in tests: ``weights=None`` builds random networks (meaningless
features, for shapes and plumbing only); a path loads a local file.

Where things are (everything is imported from ``vid2vid.metrics.features``):

    base.py       VideoFeatureExtractor (the interface, resizing, describe()), load_state_dict_file
    kinetics.py   I3DFeatures, TorchScriptFeatures, ResNeXtFeatures, TorchvisionVideoFeatures
    synthetic.py  SyntheticFeatures (the synthetic-domain 3D CNN)
    image.py      InceptionImageFeatures, StaticClipImageFeatures (per-frame features)
    fid.py        get_feature_extractor (by name), video_clips, extract_features, video_fid
"""

from vid2vid.metrics.features.base import VideoFeatureExtractor, load_state_dict_file
from vid2vid.metrics.features.fid import (
    FEATURE_EXTRACTORS,
    extract_features,
    get_feature_extractor,
    video_clips,
    video_fid,
)
from vid2vid.metrics.features.image import InceptionImageFeatures, StaticClipImageFeatures
from vid2vid.metrics.features.kinetics import (
    TORCHSCRIPT_LAYER,
    I3DFeatures,
    ResNeXtFeatures,
    TorchScriptFeatures,
    TorchvisionVideoFeatures,
)
from vid2vid.metrics.features.synthetic import SyntheticFeatures

__all__ = ["VideoFeatureExtractor", "I3DFeatures", "TorchScriptFeatures", "ResNeXtFeatures",
           "TorchvisionVideoFeatures", "SyntheticFeatures", "get_feature_extractor", "load_state_dict_file",
           "video_clips", "extract_features", "video_fid", "FEATURE_EXTRACTORS", "InceptionImageFeatures",
           "StaticClipImageFeatures", "TORCHSCRIPT_LAYER"]
