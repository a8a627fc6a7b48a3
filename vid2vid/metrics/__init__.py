"""Evaluation metrics (paper section 5): the Fréchet distance on video features (Tables 1 and 3), video
feature extractors (I3D, 3D ResNeXt-101, torchvision video ResNets, a synthetic-domain 3D CNN),
temporal-consistency and per-frame metrics, and the human preference score with its interval; for the
benchmark of Tables 1-2: KID and feature projections, checks that a temporal win is not bought with blur,
and the hierarchical bootstrap over seeds and videos with its verdict."""

from vid2vid.metrics.bootstrap import hierarchical_bootstrap, paired_differences, verdict
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
from vid2vid.metrics.kid import (
    distances_without,
    kernel_inception_distance,
    mmd2_unbiased,
    polynomial_kernel,
    principal_direction,
    project_out,
)
from vid2vid.metrics.preference import (
    comparison_rng,
    make_ab_clips,
    preference_score,
    score_answers,
    wilson_interval,
)
from vid2vid.metrics.temporal import (
    flicker,
    foreground_error,
    l1_error,
    per_frame_fid,
    psnr,
    static_mask_from_flow,
    warping_error,
)
from vid2vid.metrics.validity import (
    excess,
    gradient_energy,
    low_frequency_warping_error,
    sharpness_ratio,
    temporal_win_is_valid,
)

__all__ = ["feature_statistics", "frechet_distance", "frechet_distance_from_features"]
__all__ += ["FEATURE_EXTRACTORS", "I3DFeatures", "InceptionImageFeatures", "ResNeXtFeatures",
            "StaticClipImageFeatures", "SyntheticFeatures", "TorchScriptFeatures", "TorchvisionVideoFeatures",
            "VideoFeatureExtractor", "extract_features", "get_feature_extractor", "video_clips", "video_fid"]
__all__ += ["flicker", "foreground_error", "l1_error", "per_frame_fid", "psnr", "static_mask_from_flow",
            "warping_error"]
__all__ += ["comparison_rng", "make_ab_clips", "preference_score", "score_answers", "wilson_interval"]
__all__ += ["distances_without", "kernel_inception_distance", "mmd2_unbiased", "polynomial_kernel",
            "principal_direction", "project_out"]
__all__ += ["excess", "gradient_energy", "low_frequency_warping_error", "sharpness_ratio",
            "temporal_win_is_valid"]
__all__ += ["hierarchical_bootstrap", "paired_differences", "verdict"]
