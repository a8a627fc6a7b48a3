"""Multimodal synthesis after training: cluster the instance features of the training set, then
render one label video in several ways (pix2pixHD's feature embedding, used by vid2vid).

A generator trained with ``model.feat_nc`` > 0 reads, beside every frame's labels, a feature map that
is constant inside each instance (:mod:`vid2vid.models.feature_encoder`). Where those features come
from at inference is a :class:`FeatureSource`:

- :class:`RealFeatures`: encode the real frames (reconstruction: the video that matches them);
- :class:`ClusterFeatures`: a cluster centre per class, or per instance, drawn with a seed from the
  centres of :func:`fit_clusters`, or chosen by the user (:func:`load_chosen_features`). A region
  keeps its centre in every frame, so the video stays consistent in time; the same seed gives the
  same video, another seed another (``python -m vid2vid generate --feature-seed N``).

The centres: :func:`encode_dataset` runs E on every training frame and averages its output inside
each instance (one sample per instance per frame), and :func:`fit_clusters` runs K-means per class
(:func:`kmeans`) on them (``python -m vid2vid features``). The paper's recipe uses 10 clusters per
class; the file (:class:`FeatureClusters`) keeps the centres of each class ordered by the number of
samples they gathered, largest first, so centre 0 is the commonest appearance.

What is ours: the per-class draw is keyed by ``(seed, class)`` (``(seed, class, instance)`` per
instance), not a sequence of draws, so an instance's centre does not depend on which other
instances appeared before it; K-means is a small torch implementation (k-means++ seeding, Lloyd
iterations) rather than scikit-learn's.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor

from vid2vid.config import Config, ConfigError
from vid2vid.models import Generator
from vid2vid.models.feature_encoder import CLASS_SHIFT, region_classes, region_keys, region_means
from vid2vid.models.io import atomic_save, safe_load

__all__ = ["FEATURES_FILE", "ClusterFeatures", "FeatureClusters", "FeatureSource", "RealFeatures",
           "encode_dataset", "fit_clusters", "frame_keys", "kmeans", "load_chosen_features"]

FEATURES_FILE = "features.pt"  # the centres' default name, next to the generator checkpoint
FORMAT = "vid2vid-feature-clusters"


# --------------------------------------------------------------------------------------- K-means
def kmeans(x: Tensor, k: int, seed: int = 0, iters: int = 100) -> tuple[Tensor, Tensor]:
    """K-means of the rows of ``x [N, D]``: k-means++ seeding, then Lloyd's iterations until no
    point changes cluster (at most ``iters``).

    Returns ``(centres [k', D], assignment int64 [N])`` with ``k' = min(k, distinct rows of x)``,
    centres ordered by cluster size, largest first. An emptied cluster restarts at the point
    farthest from its centre. ``seed`` makes the result reproducible.
    """
    if x.dim() != 2 or x.shape[0] < 1:
        raise ValueError(f"kmeans needs points [N >= 1, D], got {list(x.shape)}")
    if k < 1:
        raise ValueError(f"kmeans needs k >= 1 clusters, got {k}")
    x = x.detach().double().cpu()
    n = x.shape[0]
    k = min(k, torch.unique(x, dim=0).shape[0])
    g = torch.Generator().manual_seed(int(seed))
    # k-means++: each next centre drawn with probability proportional to the squared distance to
    # the nearest centre so far (distinct rows >= k, so the distances never all vanish early)
    chosen = [int(torch.randint(n, (1,), generator=g))]
    d2 = ((x - x[chosen[0]]) ** 2).sum(1)
    for _ in range(1, k):
        i = int(torch.multinomial(d2 / d2.sum(), 1, generator=g))
        chosen.append(i)
        d2 = torch.minimum(d2, ((x - x[i]) ** 2).sum(1))
    centres = x[chosen].clone()
    assign = torch.full((n,), -1, dtype=torch.long)
    for _ in range(iters):
        new = torch.cdist(x, centres).argmin(1)
        if torch.equal(new, assign):
            break
        assign = new
        sums = torch.zeros_like(centres).index_add_(0, assign, x)
        sizes = torch.bincount(assign, minlength=k)
        centres = torch.where(sizes[:, None] > 0, sums / sizes.clamp_min(1)[:, None], centres)
        for j in (sizes == 0).nonzero()[:, 0].tolist():
            far = int(((x - centres[assign]) ** 2).sum(1).argmax())
            centres[j], assign[far] = x[far], j
    assign = torch.cdist(x, centres).argmin(1)
    order = torch.argsort(torch.bincount(assign, minlength=k), descending=True, stable=True)
    rank = torch.empty_like(order)
    rank[order] = torch.arange(k)
    return centres[order].float(), rank[assign]


# --------------------------------------------------------------------------------------- the file
@dataclass
class FeatureClusters:
    """Cluster centres of the pooled instance features, per class: what ``python -m vid2vid features``
    writes (``features.pt``) and ``generate --feature-seed`` samples from."""

    centres: dict[int, Tensor]  # class id -> [k_c, feat_nc] centres, largest cluster first (k_c <= clusters)
    sizes: dict[int, Tensor]  # class id -> int64 [k_c]: the instance samples of each cluster
    feat_nc: int  # channels of a feature (the generator's model.feat_nc)
    label_nc: int  # the generator's data.label_nc (0: continuous inputs, whose regions are all class 0)
    clusters: int  # K asked for per class
    source: dict[str, Any] = field(default_factory=dict)  # checkpoint, step, data, split they came from

    def save(self, path: str | os.PathLike) -> Path:
        """Write the file atomically (plain tensors and built-in types: ``weights_only`` loads it)."""
        return atomic_save({"format": FORMAT, "version": 1, "feat_nc": self.feat_nc,
                            "label_nc": self.label_nc, "clusters": self.clusters, "centres": self.centres,
                            "sizes": self.sizes, "source": self.source}, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> FeatureClusters:
        """Read a file written by :meth:`save`; anything else raises ValueError naming it."""
        data = safe_load(path)
        keys = {"format", "feat_nc", "label_nc", "clusters", "centres", "sizes"}
        if not isinstance(data, dict) or data.get("format") != FORMAT or not keys <= set(data):
            raise ValueError(f"{path}: not a feature-cluster file of `python -m vid2vid features` (expected "
                             f"a dict with format {FORMAT!r} and keys {sorted(keys)})")
        centres = {int(c): v.float() for c, v in data["centres"].items()}
        for c, v in centres.items():
            if v.dim() != 2 or v.shape[1] != data["feat_nc"] or v.shape[0] < 1:
                raise ValueError(f"{path}: the centres of class {c} have shape {list(v.shape)}, expected "
                                 f"[k, feat_nc = {data['feat_nc']}]")
        return cls(centres=centres, sizes={int(c): v for c, v in data["sizes"].items()},
                   feat_nc=int(data["feat_nc"]), label_nc=int(data["label_nc"]),
                   clusters=int(data["clusters"]), source=dict(data.get("source", {})))

    def check_fits(self, cfg: Config, where: str, generator: str) -> None:
        """Raise :class:`~vid2vid.config.ConfigError` naming the file ``where`` when these centres do
        not fit the generator (``generator``: its file, for the message) of config ``cfg``."""
        hint = f"write this generator's centres with `python -m vid2vid features --checkpoint {generator}`"
        if self.feat_nc != cfg.model.feat_nc:
            raise ConfigError(f"{where}: cluster centres of {self.feat_nc} feature channels, but the "
                              f"generator {generator} expects model.feat_nc = {cfg.model.feat_nc}; {hint}")
        if self.label_nc != cfg.data.label_nc:
            raise ConfigError(f"{where}: centres for data.label_nc = {self.label_nc} classes, but the "
                              f"generator {generator} expects data.label_nc = {cfg.data.label_nc}; {hint}")
        bad = sorted(c for c in self.centres if not 0 <= c < max(1, cfg.data.label_nc))
        if bad:
            raise ConfigError(f"{where}: centres for class ids {bad[:8]}, outside the generator's classes "
                              f"0..{max(1, cfg.data.label_nc) - 1} ({generator}); {hint}")

    def describe(self, names: dict[int, str] | None = None) -> list[str]:
        """One line per class: its id (and name), samples, centres."""
        lines = []
        for c in sorted(self.centres):
            name = f" {names[c]}" if names and c in names else ""
            sizes = self.sizes.get(c, torch.zeros(0, dtype=torch.long)).tolist()
            lines.append(f"  class {c:>3}{name}: {sum(sizes)} instance samples -> {len(sizes)} centres "
                         f"(sizes {', '.join(map(str, sizes))})")
        return lines


# --------------------------------------------------------------------------------------- fitting
@torch.no_grad()
def encode_dataset(G: Generator, cfg: Config, root: str | os.PathLike, split: str = "train",
                   frame_step: int = 1, device: str | torch.device = "cpu", batch_size: int = 8,
                   progress: bool = True) -> dict[int, Tensor]:
    """E's output averaged inside every instance of every ``frame_step``-th frame of a split: per class
    the samples ``[n, feat_nc]`` (one per instance per frame). Frames are read at the model's size
    (the centre crop when the config crops) without flips."""
    from tqdm import tqdm

    from vid2vid.data.folder import VideoFolderDataset

    if G.E is None:
        raise ValueError("this generator has no feature encoder (model.feat_nc = 0)")
    d = cfg.data
    crop = (d.crop_height, d.crop_width) if d.crop_height and d.crop_width else None
    ds = VideoFolderDataset(root, split=split, n_frames=1, label_nc=d.label_nc, input_nc=d.input_nc,
                            use_instance=d.use_instance, load_size=(d.height, d.width), crop_size=crop,
                            flip=False, training=False)
    subset = torch.utils.data.Subset(ds, range(0, len(ds), frame_step))
    loader = torch.utils.data.DataLoader(subset, batch_size=batch_size, num_workers=d.num_workers)
    G = G.to(device).eval()
    samples: dict[int, list[Tensor]] = {}
    for batch in tqdm(loader, desc="encoding", unit="batch", disable=not progress):
        real = batch["image"][:, 0].to(device)  # [B, 3, H, W]
        ids, inst = batch.get("label_ids"), batch.get("inst")
        keys = region_keys(None if ids is None else ids[:, 0], None if inst is None else inst[:, 0],
                           like=real)
        _, _, key, means = region_means(G.E.encode(real), keys.to(device))
        classes = region_classes(key).cpu()
        for c in classes.unique().tolist():
            samples.setdefault(int(c), []).append(means[classes == c].cpu())
    return {c: torch.cat(v) for c, v in samples.items()}


def fit_clusters(samples: dict[int, Tensor], k: int, feat_nc: int, label_nc: int, seed: int = 0,
                 source: dict[str, Any] | None = None) -> FeatureClusters:
    """K-means with ``k`` clusters on each class's samples (:func:`kmeans`; fewer centres for a class
    with fewer distinct samples)."""
    centres, sizes = {}, {}
    for c in sorted(samples):
        cen, assign = kmeans(samples[c], k, seed=seed)
        centres[c], sizes[c] = cen, torch.bincount(assign, minlength=cen.shape[0])
    return FeatureClusters(centres=centres, sizes=sizes, feat_nc=feat_nc, label_nc=label_nc, clusters=k,
                           source=dict(source or {}))


# --------------------------------------------------------------------------------------- sources
class FeatureSource(Protocol):
    """Where a frame's feature map comes from at inference: ``source(G, keys, real)`` with the frame's
    region keys ``int64 [1, 1, H, W]`` and its real frame ``[1, 3, H, W]`` (or None) returns the
    feature map ``[1, feat_nc, H, W]``, constant inside each region."""

    def __call__(self, G: Generator, keys: Tensor, real: Tensor | None) -> Tensor: ...


class RealFeatures:
    """Reconstruction: E of the real frame, averaged per instance (what training feeds G).

    ``missing``: what a frame without its real image gets, ``"error"`` (ValueError) or ``"zeros"``
    (a zero feature map, the middle of E's tanh range, with one warning).
    """

    def __init__(self, missing: str = "error"):
        if missing not in ("error", "zeros"):
            raise ValueError(f"missing must be 'error' or 'zeros', got {missing!r}")
        self.missing, self._warned = missing, False

    def __call__(self, G: Generator, keys: Tensor, real: Tensor | None) -> Tensor:
        if real is not None:
            return G.encode_features(real, keys)
        if self.missing == "error":
            raise ValueError("the generator has a feature encoder (model.feat_nc = "
                             f"{G.feat_nc}): reconstruction needs the real frames (--real), else sample "
                             "features with --feature-seed")
        if not self._warned:
            warnings.warn(f"the generator has a feature encoder (model.feat_nc = {G.feat_nc}) but neither "
                          "real frames nor cluster centres were given: its feature maps are zero",
                          stacklevel=2)
            self._warned = True
        return keys.new_zeros((keys.shape[0], G.feat_nc, *keys.shape[-2:]), dtype=torch.float32)


class ClusterFeatures:
    """A feature vector per region: the user's choice for its class (``chosen``), else a centre of
    its class drawn with ``seed``, the same for every region of the class (``per_instance=False``)
    or one per instance. A class without centres or choice gets zeros (one warning).

    Every region keeps its vector in every frame; ``choices`` records the centre index drawn for
    each region key (None where chosen or zeros).
    """

    def __init__(self, clusters: FeatureClusters | None, seed: int = 0, per_instance: bool = False,
                 chosen: dict[int, Tensor] | None = None, feat_nc: int | None = None):
        if clusters is None and feat_nc is None:
            raise ValueError("ClusterFeatures needs cluster centres or feat_nc")
        if seed < 0:
            raise ValueError(f"the feature seed must be >= 0, got {seed}")
        self.clusters, self.seed, self.per_instance = clusters, int(seed), per_instance
        self.chosen = dict(chosen or {})
        self.feat_nc = clusters.feat_nc if clusters is not None else int(feat_nc)
        self.choices: dict[int, int | None] = {}
        self._vectors: dict[int, Tensor] = {}
        self._unknown: set[int] = set()

    def vector(self, key: int) -> Tensor:
        """The feature ``[feat_nc]`` of the region ``key``
        (:func:`~vid2vid.models.feature_encoder.region_keys`)."""
        if key in self._vectors:
            return self._vectors[key]
        cls, inst = key >> CLASS_SHIFT, key & 0xFFFFFFFF
        index = None
        if cls in self.chosen:
            v = self.chosen[cls]
        elif self.clusters is not None and cls in self.clusters.centres:
            centres = self.clusters.centres[cls]
            entropy = [self.seed, cls, inst] if self.per_instance else [self.seed, cls]
            index = int(np.random.default_rng(entropy).integers(centres.shape[0]))
            v = centres[index]
        else:
            if cls not in self._unknown:
                warnings.warn(f"no cluster centre or chosen feature for class {cls} (not in the training "
                              "set the centres came from?): its feature is zero", stacklevel=3)
                self._unknown.add(cls)
            v = torch.zeros(self.feat_nc)
        self._vectors[key], self.choices[key] = v.float(), index
        return self._vectors[key]

    def __call__(self, G: Generator, keys: Tensor, real: Tensor | None) -> Tensor:
        if G.feat_nc != self.feat_nc:
            raise ValueError(f"features of {self.feat_nc} channels for a generator with "
                             f"model.feat_nc = {G.feat_nc}")
        uniq, inverse = torch.unique(keys, return_inverse=True)
        table = torch.stack([self.vector(k) for k in uniq.tolist()]).to(keys.device)  # [U, F]
        return table[inverse[:, 0]].permute(0, 3, 1, 2)  # [B, H, W, F] -> [B, F, H, W]


def load_chosen_features(path: str | os.PathLike, feat_nc: int, label_nc: int,
                         clusters: FeatureClusters | None = None) -> dict[int, Tensor]:
    """A user's choice of features per class, from a JSON object ``{"<class id>": choice}``: a choice
    is the index of one of the class's centres in ``clusters`` (``2``) or a vector of ``feat_nc``
    numbers (``[0.1, -0.4, 0.3]``). Errors name the file and the class."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: chosen-features file not found")
    example = '{"26": 2, "7": [0.1, -0.4, 0.3]} (class id: centre index or a vector of feat_nc numbers)'
    try:
        data = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: not JSON ({err}); expected an object like {example}") from err
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object like {example}, got {type(data).__name__}")
    n_classes = max(1, label_nc)
    chosen: dict[int, Tensor] = {}
    for name, choice in data.items():
        try:
            cls = int(name)
        except ValueError:
            cls = -1
        if not 0 <= cls < n_classes:
            raise ValueError(f"{path}: {name!r} is not a class id of the generator (0..{n_classes - 1})")
        if isinstance(choice, int) and not isinstance(choice, bool):
            centres = None if clusters is None else clusters.centres.get(cls)
            if centres is None:
                where = "no cluster centres were given" if clusters is None else "the centres have none"
                raise ValueError(f"{path}: class {cls} asks for centre {choice}, but {where} "
                                 "(--features-file, or a vector instead of an index)")
            if not 0 <= choice < centres.shape[0]:
                raise ValueError(f"{path}: class {cls} asks for centre {choice}; it has centres "
                                 f"0..{centres.shape[0] - 1}")
            chosen[cls] = centres[choice]
        elif isinstance(choice, list) and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                              for v in choice):
            if len(choice) != feat_nc:
                raise ValueError(f"{path}: class {cls} has a vector of {len(choice)} numbers, the generator "
                                 f"expects model.feat_nc = {feat_nc}")
            chosen[cls] = torch.tensor(choice, dtype=torch.float32)
        else:
            raise ValueError(f"{path}: class {cls}: expected a centre index or a list of {feat_nc} numbers, "
                             f"got {choice!r}")
    return chosen


def frame_keys(label_ids: Tensor | None, inst: Tensor | None, like: Tensor) -> Tensor:
    """The region keys ``[1, 1, H, W]`` of one frame from its ``label_ids [1, H, W]``, ``inst [1, H, W]``
    (either may be None) and its labels ``like [C_s, H, W]``."""
    return region_keys(None if label_ids is None else label_ids[None],
                       None if inst is None else inst[None], like=like[None])
