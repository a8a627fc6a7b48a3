"""Evaluation metrics (paper section 5): the Fréchet distance on video features (Tables 1 and 3), video
feature extractors (I3D, 3D ResNeXt-101, torchvision video ResNets, a synthetic-domain 3D CNN),
temporal-consistency and per-frame metrics, and the human preference score with its interval."""

from vid2vid.metrics.features import (
    FEATURE_EXTRACTORS,
    I3DFeatures,
    InceptionImageFeatures,
    ResNeXtFeatures,
    StaticClipImageFeatures,
    SyntheticFeatures,
    TorchScriptFeatures,
    TorchvisionVideoFeatures,
    VideoFeatureExtractor,
    extract_features,
    get_feature_extractor,
    video_clips,
    video_fid,
)
from vid2vid.metrics.frechet import feature_statistics, frechet_distance, frechet_distance_from_features
from vid2vid.metrics.preference import make_ab_clips, preference_score, score_answers, wilson_interval
from vid2vid.metrics.temporal import (
    flicker,
    foreground_error,
    l1_error,
    per_frame_fid,
    psnr,
    static_mask_from_flow,
    warping_error,
)

__all__ = ["feature_statistics", "frechet_distance", "frechet_distance_from_features"]
__all__ += ["FEATURE_EXTRACTORS", "I3DFeatures", "InceptionImageFeatures", "ResNeXtFeatures",
            "StaticClipImageFeatures", "SyntheticFeatures", "TorchScriptFeatures", "TorchvisionVideoFeatures",
            "VideoFeatureExtractor", "extract_features", "get_feature_extractor", "video_clips", "video_fid"]
__all__ += ["flicker", "foreground_error", "l1_error", "per_frame_fid", "psnr", "static_mask_from_flow",
            "warping_error"]
__all__ += ["make_ab_clips", "preference_score", "score_answers", "wilson_interval"]
