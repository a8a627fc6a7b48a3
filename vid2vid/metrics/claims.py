"""The paper's claims on Tables 1-2, each with its direction fixed in advance, decided by intervals.

A claim says that one model scores lower (or higher) than a reference model on one metric, e.g.
"vid2vid has a lower video FID than pix2pixHD". It is decided on the per-video differences, model
minus reference on the same test videos, of every training seed both models have
(:func:`vid2vid.metrics.bootstrap.paired_differences`), by the hierarchical bootstrap over seeds,
then videos (:func:`vid2vid.metrics.bootstrap.hierarchical_bootstrap`): **reproduced** when the 95%
interval excludes 0 on the claimed side, **not reproduced** when it excludes 0 on the other side,
**inconclusive** when it contains 0. The minimum detectable effect of the interval is reported with
it: an inconclusive claim whose true effect is well below it could not have been decided with these
seeds and videos.

A set-level metric (FID) has no per-video value; :func:`jackknife_pseudo_values` gives it one: the
jackknife pseudo-value of each video (leave its clips out of the generated set), whose mean is the
bias-corrected FID and whose spread is the FID's sampling spread.

A claim on a temporal metric (warping error, flicker) also checks that the winner's lower error is
not bought with blur or lost appearance (:func:`vid2vid.metrics.validity.temporal_win_is_valid`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from vid2vid.metrics.bootstrap import hierarchical_bootstrap, paired_differences, verdict
from vid2vid.metrics.validity import temporal_win_is_valid

__all__ = ["Claim", "PAPER_CLAIMS", "VERDICTS", "claim_verdict", "decide_claim", "format_interval",
           "jackknife_pseudo_values"]

# bootstrap.verdict's words -> the words of the tables
VERDICTS = {"reproduced": "reproduced", "contradicted": "not reproduced", "inconclusive": "inconclusive"}


@dataclass(frozen=True)
class Claim:
    """One claim of the paper: ``model`` scores ``direction`` (``"lower"`` / ``"higher"``) than
    ``reference`` on the per-video ``metric``; ``paper`` is the paper's number it reads; ``temporal``
    marks a temporal-consistency metric, whose win is checked for blur (:func:`decide_claim`)."""

    text: str
    model: str
    reference: str
    metric: str
    direction: str
    paper: str
    temporal: bool = False

    def __post_init__(self) -> None:
        if self.direction not in ("lower", "higher"):
            raise ValueError(f"claim {self.text!r}: direction must be 'lower' or 'higher'; "
                             f"got {self.direction!r}")


# The claims of the paper's Tables 1-2, fixed before any result was seen. Table 1 (Cityscapes): vid2vid
# has a lower video FID than pix2pixHD and COVST (I3D / ResNeXt 4.66 / 0.15 against 5.57 / 0.18 and
# 5.55 / 0.18) and is preferred to both, for temporally consistent video; Table 2: people prefer the full
# model to each ablation. On the synthetic benchmark the preference is read as the metric each removed
# part is built for: the background-foreground prior for the foreground and the realism of the video,
# the video discriminator for the video's realism (video FID) and, as the paper builds it for temporally
# consistent output, for flicker where nothing moves; the flow for consistency along the motion.
# "COVST" is the flow-guided smoothing of pix2pixHD's output (vid2vid.baselines), not Chen et al. 2017.
PAPER_CLAIMS: tuple[Claim, ...] = (
    Claim("vid2vid has a lower video FID than pix2pixHD", "vid2vid", "pix2pixHD", "video_fid_pseudo",
          "lower", "FID 4.66 vs 5.57 (I3D), 0.15 vs 0.18 (ResNeXt)"),
    Claim("vid2vid has a lower video FID than pix2pixHD, camera-pan axis projected out", "vid2vid",
          "pix2pixHD", "video_fid_no_pan_pseudo", "lower", "FID 4.66 vs 5.57 (I3D)"),
    Claim("vid2vid has a lower video FID than flow-guided smoothing (COVST-like)", "vid2vid", "COVST",
          "video_fid_pseudo", "lower", "FID 4.66 vs 5.55 (I3D), COVST"),
    Claim("vid2vid has a lower warping error than pix2pixHD", "vid2vid", "pix2pixHD", "warping_error",
          "lower", "preference for vid2vid 0.87 / 0.83 (short / long)", temporal=True),
    Claim("vid2vid has a lower low-frequency warping error than pix2pixHD", "vid2vid", "pix2pixHD",
          "lf_warping_error", "lower", "preference for vid2vid 0.87 / 0.83", temporal=True),
    Claim("vid2vid flickers less than pix2pixHD on static pixels", "vid2vid", "pix2pixHD", "static_flicker",
          "lower", "preference for vid2vid 0.87 / 0.83", temporal=True),
    Claim("removing the background-foreground prior raises video FID", "no-fg-prior", "vid2vid",
          "video_fid_pseudo", "higher", "preference for the full model 0.80"),
    Claim("removing the background-foreground prior raises the foreground L1", "no-fg-prior", "vid2vid",
          "fg_error", "higher", "preference for the full model 0.80"),
    Claim("removing the video discriminator raises video FID", "no-video-D", "vid2vid", "video_fid_pseudo",
          "higher", "preference for the full model 0.84"),
    Claim("removing the video discriminator raises the flicker on static pixels", "no-video-D", "vid2vid",
          "static_flicker", "higher", "preference for the full model 0.84; D_V for temporal consistency "
          "(section 3)", temporal=True),
    Claim("removing the flow warping raises the warping error", "no-flow", "vid2vid", "warping_error",
          "higher", "preference for the full model 0.67", temporal=True),
)


def claim_verdict(interval: Mapping[str, float] | Sequence[float], direction: str) -> str:
    """``"reproduced"`` (the interval of model minus reference excludes 0 on the claimed ``direction``'s
    side), ``"not reproduced"`` (it excludes 0 on the other side) or ``"inconclusive"`` (it contains 0);
    :func:`vid2vid.metrics.bootstrap.verdict` in the tables' words."""
    return VERDICTS[verdict(interval, direction)]


def jackknife_pseudo_values(
    real: np.ndarray,
    fake: np.ndarray,
    groups: Sequence[int] | np.ndarray,
    distance: Callable[[np.ndarray, np.ndarray], float],
) -> np.ndarray:
    """Per-video jackknife pseudo-values of a set-level distance between real and generated features.

    Args:
        real: ``[N_real, d]`` features of the real videos (kept whole).
        fake: ``[N, d]`` features of the generated clips.
        groups: ``[N]``: the video index of each generated clip (0 .. n-1, every video present).
        distance: ``distance(real, fake) -> float``, e.g. ``frechet_distance_from_features``.

    Returns:
        ``[n]``: ``n D(all) - (n - 1) D(without video i)``. Their mean is the jackknife's bias-corrected
        distance; two models' pseudo-values of the same video are paired.
    """
    groups = np.asarray(groups)
    if groups.shape != (len(fake),):
        raise ValueError(f"groups must give the video of each of the {len(fake)} clips; "
                         f"got shape {groups.shape}")
    videos = np.unique(groups)
    n = len(videos)
    if n < 2 or not np.array_equal(videos, np.arange(n)):
        raise ValueError(f"jackknife needs the clips of at least 2 videos numbered 0 .. n-1; got videos "
                         f"{videos.tolist()}")
    whole = distance(real, fake)
    return np.array([n * whole - (n - 1) * distance(real, fake[groups != i]) for i in range(n)])


def _finite_pairs(model: Mapping[object, Sequence[float]], reference: Mapping[object, Sequence[float]],
                  where: str) -> tuple[dict, dict, int]:
    """Per seed, the videos whose value is finite for both models (e.g. flicker is NaN on a video with no
    static pixel); seeds left without one are dropped. Returns both mappings and the videos dropped."""
    kept_m, kept_r, dropped = {}, {}, 0
    for s in model:
        a, b = np.asarray(model[s], dtype=np.float64), np.asarray(reference[s], dtype=np.float64)
        if a.shape != b.shape:
            raise ValueError(f"{where}, seed {s!r}: {a.size} videos against {b.size}; a paired difference "
                             "needs the same test videos")
        ok = np.isfinite(a) & np.isfinite(b)
        dropped += int((~ok).sum())
        if ok.any():
            kept_m[s], kept_r[s] = a[ok], b[ok]
    return kept_m, kept_r, dropped


def decide_claim(
    claim: Claim,
    per_video: Mapping[str, Mapping[object, Mapping[str, Sequence[float]]]],
    frame_fid: Mapping[str, float] | None = None,
    sharpness: Mapping[str, float] | None = None,
    n_boot: int = 10000,
    seed: int = 0,
) -> dict:
    """Decide one claim on per-video numbers.

    Args:
        per_video: model -> seed -> metric -> per-video values (the same test videos, in one order, for
            every model and seed). The claim uses the seeds both of its models have (at least 2).
        frame_fid, sharpness: model -> per-frame FID and sharpness ratio (means over seeds), for the
            validity check of a temporal claim; required when ``claim.temporal``.
        n_boot, seed: of :func:`vid2vid.metrics.bootstrap.hierarchical_bootstrap`.

    Returns:
        The claim's fields, ``"seeds"`` used, ``"dropped_videos"`` (non-finite values left out), the
        bootstrap's ``mean, lo, hi, se, mde, n_seeds, n_videos`` (``None`` when no seed had a finite
        pair), ``"verdict"``, and for a decided temporal claim ``"winner"``, ``"win_valid"`` and
        ``"win_check"`` (the reason of :func:`vid2vid.metrics.validity.temporal_win_is_valid`).
    """
    where = f"claim {claim.text!r}"
    for name in (claim.model, claim.reference):
        if name not in per_video:
            raise KeyError(f"{where}: no per-video results for model {name!r} (have {sorted(per_video)})")
    seeds = sorted(set(per_video[claim.model]) & set(per_video[claim.reference]))
    if len(seeds) < 2:
        raise ValueError(f"{where}: {claim.model} and {claim.reference} share {len(seeds)} seed(s) "
                         f"({seeds}); a claim is decided over at least 2 seeds of each")

    def values(model: str) -> dict:
        out = {}
        for s in seeds:
            if claim.metric not in per_video[model][s]:
                raise KeyError(f"{where}: model {model!r}, seed {s!r} has no per-video {claim.metric!r}")
            out[s] = per_video[model][s][claim.metric]
        return out

    kept_m, kept_r, dropped = _finite_pairs(values(claim.model), values(claim.reference), where)
    result = {**asdict(claim), "seeds": seeds, "dropped_videos": dropped}
    if len(kept_m) < 2:
        return {**result, **dict.fromkeys(("mean", "lo", "hi", "se", "mde", "n_seeds", "n_videos")),
                "verdict": "inconclusive",
                "note": f"fewer than 2 seeds have a video with a finite {claim.metric} for both models"}
    interval = hierarchical_bootstrap(paired_differences(kept_m, kept_r), n_boot=n_boot, seed=seed)
    result.update({k: interval[k] for k in ("mean", "lo", "hi", "se", "mde", "n_seeds", "n_videos")})
    result["verdict"] = claim_verdict(interval, claim.direction)
    if claim.temporal and result["verdict"] != "inconclusive":
        if frame_fid is None or sharpness is None:
            raise ValueError(f"{where}: a temporal claim needs frame_fid and sharpness to check the win")
        winner, loser = ((claim.model, claim.reference) if interval["mean"] < 0
                         else (claim.reference, claim.model))
        valid, reason = temporal_win_is_valid(sharpness[winner], frame_fid[winner], frame_fid[loser])
        result.update({"winner": winner, "win_valid": valid, "win_check": reason})
    return result


def format_interval(result: Mapping[str, object], digits: int = 3) -> str:
    """``"mean [lo, hi]"`` of a decided claim, ``"-"`` when it had no finite pair."""
    if result.get("lo") is None:
        return "-"

    def f(x: float) -> str:
        return "nan" if not math.isfinite(x) else f"{x:.{digits}g}"

    return f"{f(result['mean'])} [{f(result['lo'])}, {f(result['hi'])}]"
