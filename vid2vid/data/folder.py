"""The video-folder dataset: windows of T frames ``(s_1^T, x_1^T)`` over the official layout.

The layout (``vid2vid.data.layout``) pairs, frame for frame, a source map ``s_t`` (``_A``: label
ids, or an edge map / pose rendering, or a ``.npy`` map of ``C`` channels), a real frame ``x_t``
(``_B``), optionally an instance map (``_inst``), a precomputed backward flow ``w_t`` (``_flow``,
t -> t-1, no file for the first frame of a sequence) and an occlusion mask (``_occ``, likewise).
Frames are in natural order of the A
file names (``8.png`` before ``10.png``) and the files of one frame are paired by name
(:func:`vid2vid.data.layout.frame_key`: the stem without trailing non-numeric ``_`` tags, so
Cityscapes' ``*_gtFine_labelIds.png`` pairs with ``*_leftImg8bit.png``), never by position: a frame
missing from one kind, or a name found in one kind only, raises :class:`DataError`. A flow /
occlusion file carries the name of the frame ``t`` it belongs to (flow ``t -> t-1``), none the first.

Every window gets one random spatial transform (:class:`SpatialTransform`) shared by all its
frames and maps, so temporal structure survives augmentation: scaling multiplies flow vectors by
the scale, a horizontal flip mirrors every map and negates dx.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from vid2vid.data.encoding import image_to_tensor, instance_edges, one_hot, semantic_channels
from vid2vid.data.layout import (
    SOURCE_EXTENSIONS,
    DataError,
    DataWarning,
    file_shape,
    frame_key,
    kind_dir,
    list_frames,
    list_sequences,
    read_flow,
    read_input_map,
    read_instance,
    read_label,
    read_mask,
    read_rgb,
)
from vid2vid.flow.warp import compose_flows, warp

__all__ = ["FACE_KEYPOINTS", "SpatialTransform", "VideoFolderDataset", "face_boxes", "keypoints_dir",
           "read_face_points", "read_source"]


@dataclass(frozen=True)
class SpatialTransform:
    """One spatial augmentation, applied identically to every frame and map of a window.

    Order: resize the whole map to ``resize``, keep the ``crop`` window, then mirror left-right
    if ``flip``. Resizing is pixel-centre aligned (``align_corners=False``): position ``x`` maps
    to ``(x + 0.5) * s - 0.5``, so a displacement scales by exactly ``s = out / in`` per axis.
    """

    resize: tuple[int, int]  # (H, W) every map is resized to, before cropping
    crop: tuple[int, int, int, int]  # (top, left, height, width) kept of the resized map
    flip: bool = False  # mirror horizontally after cropping

    def __post_init__(self) -> None:
        top, left, h, w = self.crop
        if top < 0 or left < 0 or h < 1 or w < 1 or top + h > self.resize[0] or left + w > self.resize[1]:
            raise ValueError(f"crop (top, left, h, w) = {self.crop} does not fit in the resized "
                             f"map {self.resize}")

    @property
    def out_size(self) -> tuple[int, int]:
        """``(H, W)`` of every transformed map."""
        return self.crop[2], self.crop[3]

    @classmethod
    def identity(cls, size: tuple[int, int]) -> SpatialTransform:
        """The transform that changes nothing for maps of ``size`` ``(H, W)``."""
        return cls(tuple(size), (0, 0, *size), False)

    @classmethod
    def sample(
        cls,
        size: tuple[int, int],
        rng: np.random.Generator | None = None,
        load_size: tuple[int, int] | None = None,
        crop_size: tuple[int, int] | None = None,
        scale_range: tuple[float, float] = (1.0, 1.0),
        flip: bool = False,
    ) -> SpatialTransform:
        """Draw the transform for maps of native ``size`` ``(H, W)``.

        ``load_size`` ``(H, W)`` is the base size (default: native); a scale ``s`` drawn
        uniformly from ``scale_range`` multiplies it; a ``crop_size`` window (default: the base
        size, so every item has one size and batches collate) is cut at a uniform position; the
        result is mirrored with probability 1/2 when ``flip``. ``s`` is raised where needed so the
        crop fits (without ``crop_size`` the scale only zooms in). ``rng=None`` gives the
        deterministic evaluation transform: ``s = 1``, centre crop, no flip.
        """
        base_h, base_w = load_size or size
        crop_h, crop_w = crop_size or (base_h, base_w)
        if crop_h > base_h or crop_w > base_w:
            raise ValueError(f"crop_size {(crop_h, crop_w)} is larger than the load size {(base_h, base_w)}")
        low, high = scale_range
        s = 1.0 if rng is None else float(rng.uniform(low, high))
        s = max(s, crop_h / base_h, crop_w / base_w)
        rh, rw = max(crop_h, round(base_h * s)), max(crop_w, round(base_w * s))
        if rng is None:
            return cls((rh, rw), ((rh - crop_h) // 2, (rw - crop_w) // 2, crop_h, crop_w), False)
        top = int(rng.integers(0, rh - crop_h + 1))
        left = int(rng.integers(0, rw - crop_w + 1))
        flipped = bool(flip and rng.random() < 0.5)
        return cls((rh, rw), (top, left, crop_h, crop_w), flipped)

    def _resize(self, x: torch.Tensor, smooth: bool) -> torch.Tensor:
        if tuple(x.shape[-2:]) == tuple(self.resize):
            return x
        lead = x.shape[:-3]
        x4 = x.reshape(-1, *x.shape[-3:])
        if smooth:  # antialias: area-like averaging when shrinking, plain bilinear when enlarging
            out = F.interpolate(x4, size=self.resize, mode="bilinear", align_corners=False, antialias=True)
        else:  # "nearest-exact" is pixel-centre aligned like the bilinear path ("nearest" is not)
            out = F.interpolate(x4, size=self.resize, mode="nearest-exact")
        return out.reshape(*lead, *out.shape[-3:])

    def _crop_flip(self, x: torch.Tensor) -> torch.Tensor:
        top, left, h, w = self.crop
        x = x[..., top:top + h, left:left + w]
        return x.flip(-1) if self.flip else x

    def image(self, x: torch.Tensor) -> torch.Tensor:
        """Smooth maps (frames, continuous source maps) ``float [.., C, H, W]``: bilinear."""
        return self._crop_flip(self._resize(x, smooth=True))

    def nearest(self, x: torch.Tensor) -> torch.Tensor:
        """Discrete maps (label ids, instance ids, masks) ``[.., C, H, W]`` of any dtype: nearest."""
        if x.is_floating_point():
            y = self._resize(x, smooth=False)
        elif x.dtype == torch.bool:
            y = self._resize(x.float(), smooth=False) > 0.5
        else:  # float64 holds integer ids exactly
            y = self._resize(x.double(), smooth=False).round().to(x.dtype)
        return self._crop_flip(y)

    def flow(self, flow: torch.Tensor) -> torch.Tensor:
        """Backward flows ``[.., 2, H, W]`` (pixels, dx then dy): resized values with their vectors
        scaled by ``out / in`` per axis; a flip mirrors the field and negates dx (pixel ``x`` of the
        mirrored frame is ``W-1-x``, so a source ``dx`` to the right becomes ``dx`` to the left)."""
        h, w = flow.shape[-2:]
        scale = torch.tensor([self.resize[1] / w, self.resize[0] / h], dtype=flow.dtype)
        out = self._crop_flip(self._resize(flow, smooth=True) * scale.view(2, 1, 1))
        if self.flip:
            out = torch.cat([-out[..., :1, :, :], out[..., 1:, :, :]], dim=-3)
        return out

    def points(self, xy: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """Pixel positions ``[N, 2]`` (x, y; pixel centres at integers) in maps of native ``size``
        ``(H, W)`` -> their positions in the transformed maps, which may lie outside them: the
        resize's ``(x + 0.5) * s - 0.5``, less the crop's corner, mirrored to ``W - 1 - x`` by a flip."""
        h, w = size
        scale = torch.tensor([self.resize[1] / w, self.resize[0] / h], dtype=xy.dtype)
        corner = torch.tensor([self.crop[1], self.crop[0]], dtype=xy.dtype)
        out = (xy + 0.5) * scale - 0.5 - corner
        if self.flip:
            out = torch.stack([self.crop[3] - 1 - out[:, 0], out[:, 1]], dim=1)
        return out


# The face keypoints of OpenPose's two body layouts, by keypoint count: nose, right and left eye,
# right and left ear (the face discriminator's crop is centred on them).
FACE_KEYPOINTS = {18: (0, 14, 15, 16, 17), 25: (0, 15, 16, 17, 18)}  # COCO-18, BODY_25


def keypoints_dir(root: str | os.PathLike, split: str) -> Path:
    """``<root>/<split>_keypoints``: one OpenPose JSON file per frame, named after the frame."""
    return Path(root) / f"{split}_keypoints"


def read_face_points(path: str | os.PathLike) -> np.ndarray:
    """The visible face keypoints of one OpenPose JSON file, ``float32 [k, 2]`` (x, y) in the file's
    pixels, ``k`` in 0..5.

    The file: ``{"people": [{"pose_keypoints_2d": [x, y, c, ...]}, ...]}`` with 18 (COCO-18) or 25
    (BODY_25) keypoints per person (:data:`FACE_KEYPOINTS` says which are the face's); a keypoint is
    visible when its confidence ``c > 0``. The first person listed with a visible face keypoint
    counts; none (or nobody) gives ``[0, 2]``. Anything else raises :class:`DataError` naming the file.
    """
    path = Path(path)
    expected = ('expected OpenPose JSON {"people": [{"pose_keypoints_2d": [x, y, c, ...]}]} with 18 '
                "(COCO-18) or 25 (BODY_25) keypoints per person")
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataError(f"{path}: unreadable keypoint file ({err}); {expected}") from err
    people = data.get("people") if isinstance(data, dict) else None
    if not isinstance(people, list):
        raise DataError(f"{path}: no list \"people\" found; {expected}")
    faces = []
    for i, person in enumerate(people):
        flat = person.get("pose_keypoints_2d") if isinstance(person, dict) else None
        numbers = isinstance(flat, list) and all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in flat)
        if not numbers or len(flat) not in (54, 75) or not np.isfinite(flat).all():
            found = f"{len(flat)} values" if isinstance(flat, list) else repr(type(flat).__name__)
            raise DataError(f"{path}: person {i}: pose_keypoints_2d must be 54 or 75 finite numbers, "
                            f"found {found}; {expected}")
        keypoints = np.asarray(flat, dtype=np.float32).reshape(-1, 3)  # [K, 3] x, y, c
        face = keypoints[list(FACE_KEYPOINTS[len(keypoints)])]
        faces.append(face[face[:, 2] > 0, :2])
    return next((f for f in faces if len(f)), np.zeros((0, 2), np.float32))


def face_boxes(faces: list[np.ndarray], transform: SpatialTransform, size: tuple[int, int]
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """The face box of every frame after ``transform``: ``float32 [T, 4]`` ``(x0, y0, x1, y1)``, the
    extent of the frame's face keypoints (:func:`read_face_points` of native maps of ``size``) that
    the transform keeps inside the frame, and ``bool [T]``, whether any does; a frame without one
    gets the box ``(0, 0, 0, 0)``."""
    h, w = transform.out_size
    boxes, valid = torch.zeros(len(faces), 4), torch.zeros(len(faces), dtype=torch.bool)
    for t, face in enumerate(faces):
        xy = transform.points(torch.from_numpy(face).double(), size)
        inside = (xy[:, 0] >= -0.5) & (xy[:, 0] < w - 0.5) & (xy[:, 1] >= -0.5) & (xy[:, 1] < h - 0.5)
        xy = xy[inside]
        if len(xy):
            boxes[t] = torch.cat([xy.min(dim=0).values, xy.max(dim=0).values]).float()
            valid[t] = True
    return boxes, valid


@dataclass(frozen=True)
class _Sequence:
    name: str
    a: tuple[Path, ...]  # source maps, one per frame
    b: tuple[Path, ...] | None  # real frames
    inst: tuple[Path, ...] | None  # instance maps
    flow: tuple[Path, ...] | None  # flow[k] is the flow of frame k + 1 (t -> t-1)
    occ: tuple[Path, ...] | None  # occ[k] is the occlusion mask of frame k + 1
    keypoints: tuple[Path, ...] | None = None  # OpenPose JSON files, one per frame

    def __len__(self) -> int:
        return len(self.a)


def read_source(path: str | os.PathLike, label_nc: int, input_nc: int) -> np.ndarray:
    """One A file as the dataset reads it: label ids ``uint8 [H, W]`` in ``[0, label_nc)`` when
    ``label_nc > 0``, else a continuous map: from an image ``uint8 [H, W]`` (``input_nc == 1``) or
    ``[H, W, 3]`` (``input_nc == 3``), from a ``.npy`` file ``uint8 [H, W, input_nc]`` (any count).

    A file that does not fit the settings raises :class:`DataError` naming the file and the config
    key to change (``data.label_nc``, ``data.input_nc``)."""
    path = Path(path)
    if path.suffix.lower() == ".npy":
        if label_nc > 0:
            raise DataError(f"{path}: a .npy A file is a continuous input map, not label ids, but "
                            f"label_nc = {label_nc}; set data.label_nc=0 and data.input_nc to its channel "
                            f"count")
        a = read_input_map(path)
        if a.shape[2] != input_nc:
            raise DataError(f"{path}: input map of {a.shape[2]} channels (shape {a.shape}), but "
                            f"data.input_nc={input_nc}; set data.input_nc={a.shape[2]} or rewrite the map")
        return a
    if label_nc > 0:
        a = read_label(path)
        if a.size and a.max() >= label_nc:
            bad = sorted(int(v) for v in np.unique(a[a >= label_nc]))
            raise DataError(f"{path}: label ids must lie in [0, {label_nc - 1}] "
                            f"(label_nc = {label_nc}), found {bad[:8]}{_continuous_hint(a, label_nc)}")
        return a
    if input_nc not in (1, 3):
        raise DataError(f"{path}: an image input map has 1 or 3 channels, but data.input_nc={input_nc}; "
                        f"store maps of {input_nc} channels as .npy files, uint8 [H, W, {input_nc}]")
    return read_label(path, ids=False) if input_nc == 1 else read_rgb(path)


def _continuous_hint(a: np.ndarray, label_nc: int) -> str:
    """Why a map with ids out of range may hold no ids at all: only 0 and 255 (a binary edge map),
    or more distinct values than there are ids (grey levels); "" when it may just be a bad id."""
    values = np.unique(a)
    if set(values.tolist()) <= {0, 255}:
        return ("; the map holds only the values 0 and 255, which looks like an edge map, not label "
                "ids: for edge maps set data.label_nc=0 and data.input_nc=1 (a continuous input map)")
    if values.size > label_nc:
        return (f"; it holds {values.size} distinct values, more than label_nc: if the A files hold a "
                f"continuous map (edges, a rendering) rather than label ids, set data.label_nc=0 and "
                f"data.input_nc to its channel count")
    return ""


# What to do when a folder of one kind is missing (the first check a new dataset meets).
_FIXES = {
    "B": "the real frames x_t, one image per A frame",
    "inst": ("instance maps (16-bit PNG, one per A frame) because use_instance is on; for a dataset "
             "without instance maps set data.use_instance=false"),
    "flow": ("the backward flow t -> t-1 of every frame but the first (float32 .npy [H, W, 2]); write "
             "it with `python -m vid2vid flow --data {root}`, or estimate it during training with "
             "data.flow_source=dis (or raft)"),
    "occ": ("occlusion masks (255 = not visible in t-1) because loss.mask_target is occlusion; for a "
            "dataset without them set loss.mask_target=confidence"),
    "keypoints": ("the body keypoints of every frame (OpenPose JSON, one file per A frame, as `python -m "
                  "vid2vid prepare pose` writes them) because the face discriminator is on; without "
                  "them set model.use_face_D=false"),
}


def _index_frames(folder: Path, files: list[str]) -> dict[str, str]:
    """``{frame_key: file name}`` of one sequence folder, in the order of ``files`` (time order);
    two files of one frame (``0007.png`` and ``0007.jpg``) raise :class:`DataError`."""
    by_key: dict[str, str] = {}
    for f in files:
        key = frame_key(f)
        if key in by_key:
            raise DataError(f"{folder}: {by_key[key]!r} and {f!r} are both frame {key!r} (files of one "
                            f"frame are paired by name; keep one file per frame)")
        by_key[key] = f
    return by_key


def _mismatch(kind: str, absent: list[tuple[str, str]], stray: list[tuple[str, str]], first: str,
              per_frame: bool) -> str:
    """What differs between the frames of A and the files of ``kind``: the first few of each side."""
    parts = []
    if absent:
        shown = ", ".join(f"{k!r} (A file {a!r})" for k, a in absent[:3])
        more = f" and {len(absent) - 3} more" if len(absent) > 3 else ""
        parts.append(f"no {kind} file for frame {shown}{more}")
    if stray:
        shown = ", ".join(repr(f) for _, f in stray[:3])
        more = f" and {len(stray) - 3} more" if len(stray) > 3 else ""
        parts.append(f"{kind} file {shown}{more} matches no A frame")
        if not per_frame and any(k == first for k, _ in stray):
            parts.append(f"the first frame {first!r} has no {kind} file (there is no frame t-1 before it)")
    return "; ".join(parts)


class VideoFolderDataset(Dataset):
    """Windows of ``T`` frames from ``<root>/<split>_{A,B,inst,flow,occ}/<sequence>/``.

    Sampling. ``sample_starts="random"`` (default when ``training``): item ``i`` is sequence
    ``i % n_sequences`` with a random start and, when ``max_stride > stride``, a random frame stride
    in ``[stride, max_stride]`` (among those the sequence is long enough for); ``len`` is
    ``n_sequences * repeat``. ``sample_starts="all"`` (default otherwise): one item per window
    start at stride ``stride``, in order. ``n_frames=None``: one item per whole sequence
    (frames ``0, stride, 2*stride, ..``; lengths differ, so batch size 1). A sequence shorter than
    the window (``(T - 1) * stride + 1`` frames) is skipped with a warning
    (``short_sequences="skip"``, because video lengths vary and the temporal curriculum grows ``T``)
    or raises :class:`DataError` (``"error"``); none left always raises.

    Augmentation (``training`` only): :class:`SpatialTransform` with ``load_size``, ``crop_size``,
    ``scale_range`` and ``flip``, one draw per item for all of its frames. Evaluation resizes to
    ``load_size`` and centre-crops to ``crop_size``. Randomness: with ``seed`` every item is a
    function of ``(seed, epoch, index)`` (call :meth:`set_epoch`); without, it follows torch's
    global generator (which the DataLoader seeds per worker).

    Validation. Construction checks names and counts (cheap): missing folders, empty folders or
    sequences, A/B/inst sequences differing in names or frame counts, frame files of one kind
    whose names do not pair with the A frames (a missing frame is named), flow / occlusion counts.
    Loading checks files: unreadable or truncated images, label ids ``>= label_nc``, label or
    instance maps stored as JPEG (lossy: wrong ids), 16-bit frames holding 8-bit values, sizes that
    differ within a sequence or between the maps of one frame, flow arrays of the wrong shape or
    with NaN / Inf, ``.npy`` maps that are not ``uint8 [H, W, input_nc]``. All raise
    :class:`DataError` naming the file, the sequence and the frame, and, where a setting is the likely
    cause, the config key to change (a missing ``_inst`` folder: ``data.use_instance=false``; a missing
    ``_flow`` folder: ``python -m vid2vid flow``; ids of 255 in a 0/255 map: ``data.label_nc=0``).
    :func:`vid2vid.data.check.check_dataset` runs these checks on every file up front. Construction
    also reads the first A file and warns (:class:`~vid2vid.data.layout.DataWarning`) when grey maps
    would be copied into ``input_nc = 3`` channels or the frames' aspect ratio differs from
    ``load_size``'s (they would be squashed).

    Item (a dict; the default ``collate`` adds a batch dimension ``B`` in front):
        ``label``: ``float32 [T, C_s, H, W]``, ``C_s = semantic_nc``. With ``label_nc > 0``: one-hot
            ids in ``{0, 1}`` (``label_nc`` channels) then, with ``use_instance``, the instance-edge
            map in ``{0, 1}`` (Cityscapes: 35 + 1 = 36). With ``label_nc == 0``: the A maps as
            they are (edge maps, pose renderings: ``input_nc`` = 1 or 3 channels from images, any
            ``input_nc`` from ``.npy`` maps) in ``[-1, 1]``, resized bilinearly like the frames,
            then the edge channel if ``use_instance``.
        ``label_ids``: ``int64 [T, 1, H, W]`` raw ids in ``[0, label_nc)`` (for the foreground
            mask ``1 - m_B``); only when ``label_nc > 0``.
        ``image``: ``float32 [T, 3, H, W]`` RGB in ``[-1, 1]``; when ``load_image``.
        ``inst``: ``int64 [T, 1, H, W]`` instance ids; when ``use_instance``.
        ``flow``: ``float32 [T, 2, H, W]`` backward flow from window frame ``t`` to window frame
            ``t-1`` in pixels of the output size (dx, dy; chained over the skipped frames when the
            stride exceeds 1); entry 0 is zeros. ``flow_valid``: ``bool [T]``, false for entry 0
            only. Both when ``load_flow``.
        ``occlusion``: ``float32 [T, 1, H, W]`` in ``{0, 1}``, 1 where a pixel of frame ``t`` is
            not visible in window frame ``t-1``; entry 0 is zeros. When ``load_occlusion``.
        ``face_box``: ``float32 [T, 4]`` ``(x0, y0, x1, y1)``, the extent in output pixels of the
            frame's face keypoints (nose, eyes, ears of ``<split>_keypoints/<sequence>/<frame>.json``,
            :func:`read_face_points`) that remain inside the transformed frame; ``face_valid``:
            ``bool [T]``, false (box zeros) for a frame without such a keypoint. When ``load_keypoints``.
        ``sequence``: the sequence (folder) name, ``str``.
        ``frame_indices``: ``int64 [T]`` indices of the frames within the sequence.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        split: str = "train",
        n_frames: int | None = 3,
        label_nc: int = 35,
        input_nc: int = 3,
        use_instance: bool | None = None,
        load_image: bool = True,
        load_flow: bool = False,
        load_occlusion: bool = False,
        load_keypoints: bool = False,
        stride: int = 1,
        max_stride: int | None = None,
        load_size: tuple[int, int] | None = None,
        crop_size: tuple[int, int] | None = None,
        scale_range: tuple[float, float] = (1.0, 1.0),
        flip: bool = True,
        training: bool = True,
        sample_starts: str | None = None,
        repeat: int = 1,
        short_sequences: str = "skip",
        seed: int | None = None,
    ) -> None:
        """
        Args:
            root, split: the dataset folder and ``"train"`` / ``"test"``.
            n_frames: window length ``T``; ``None`` for whole sequences.
            label_nc: number of label ids in A (Cityscapes 35); 0 when A holds continuous maps.
            input_nc: channels of continuous A maps (1 = grey edge maps, 3 = RGB renderings; any
                count for ``.npy`` maps).
            use_instance: add ``inst`` and the instance-edge channel; ``None``: when ``_inst`` exists.
            load_image: load the real frames (B); false for inference on source maps only.
            load_flow, load_occlusion: load ``_flow`` / ``_occ`` (occlusion with strides > 1 is
                chained along the flow, so it needs ``load_flow``).
            load_keypoints: read ``<split>_keypoints`` (OpenPose JSON per frame) for ``face_box``.
            stride, max_stride: frame step inside a window (random in between while sampling
                randomly; ``stride`` otherwise).
            load_size, crop_size, scale_range, flip: the augmentation, see :class:`SpatialTransform`.
            training: random augmentation; evaluation is deterministic.
            sample_starts: ``"random"`` or ``"all"``, see above; default from ``training``.
            repeat: items per sequence per epoch with random starts.
            short_sequences: ``"skip"`` (warn) or ``"error"``.
            seed: makes items reproducible, see above.
        """
        if n_frames is not None and n_frames < 1:
            raise ValueError(f"n_frames must be >= 1 or None, got {n_frames}")
        if label_nc < 0:
            raise ValueError(f"label_nc must be >= 0, got {label_nc}")
        if label_nc == 0 and input_nc < 1:
            raise ValueError(f"continuous source maps (label_nc = 0) need input_nc >= 1, got {input_nc}")
        max_stride = stride if max_stride is None else max_stride
        if stride < 1 or max_stride < stride:
            raise ValueError(f"need 1 <= stride <= max_stride, got stride {stride}, max_stride {max_stride}")
        if load_occlusion and max_stride > 1 and not load_flow:
            raise ValueError("occlusion masks for frame strides > 1 are chained along the flow: "
                             "set load_flow=True")
        sample_starts = sample_starts or ("random" if training else "all")
        if sample_starts not in ("random", "all"):
            raise ValueError(f"sample_starts must be 'random' or 'all', got {sample_starts!r}")
        if short_sequences not in ("skip", "error"):
            raise ValueError(f"short_sequences must be 'skip' or 'error', got {short_sequences!r}")
        if repeat < 1:
            raise ValueError(f"repeat must be >= 1, got {repeat}")
        if not 0 < scale_range[0] <= scale_range[1]:
            raise ValueError(f"scale_range must satisfy 0 < low <= high, got {scale_range}")

        self.root, self.split = Path(root), split
        self.label_nc, self.input_nc = label_nc, input_nc
        if use_instance is None:
            use_instance = kind_dir(root, split, "inst").is_dir()
        self.use_instance, self.load_image = use_instance, load_image
        self.load_flow, self.load_occlusion = load_flow, load_occlusion
        self.load_keypoints = load_keypoints
        self.stride, self.max_stride = stride, max_stride
        self.load_size, self.crop_size = load_size, crop_size
        self.scale_range, self.flip = scale_range, flip
        self.training, self.sample_starts, self.repeat = training, sample_starts, repeat
        self.short_sequences, self.seed, self.epoch = short_sequences, seed, 0
        self._all_sequences = self._scan()
        self._by_name = {s.name: s for s in self._all_sequences}
        self._sizes: dict[str, tuple[tuple[int, int], Path]] = {}  # first size seen per sequence
        self.set_n_frames(n_frames)
        self._warn_about_first_frame()

    # ----------------------------------------------------------------- construction checks
    @property
    def semantic_nc(self) -> int:
        """Channels ``C_s`` of ``label`` (one frame of the generator's source input)."""
        return semantic_channels(self.label_nc, self.use_instance, self.input_nc)

    @property
    def sequences(self) -> list[str]:
        """Names of the sequences long enough for the window (those items are drawn from)."""
        return [s.name for s in self._sequences]

    def _scan(self) -> list[_Sequence]:
        a_dir = kind_dir(self.root, self.split, "A")
        if not self.root.is_dir():
            raise DataError(f"{self.root}: dataset root not found (data.root; expected {a_dir}/<sequence>/"
                            f"<frame>.png and the other {self.split}_* folders there)")
        names = list_sequences(a_dir)
        if not names:
            raise DataError(f"{a_dir}: no sequence folders (expected {a_dir}/<sequence>/<frame>.png)")
        a_files, a_keys = {}, {}
        for name in names:
            frames = list_frames(a_dir / name, SOURCE_EXTENSIONS)
            if not frames:
                raise DataError(f"{a_dir / name}: sequence {name!r} holds no frames (png/jpg/bmp/npy)")
            self._check_source_kind(a_dir / name, frames)
            a_keys[name] = list(_index_frames(a_dir / name, frames))
            a_files[name] = tuple(a_dir / name / f for f in frames)
        kinds = {"B": self.load_image, "inst": self.use_instance, "flow": self.load_flow,
                 "occ": self.load_occlusion, "keypoints": self.load_keypoints}
        found: dict[str, dict[str, tuple[Path, ...]] | None] = {}
        for kind, wanted in kinds.items():
            found[kind] = self._scan_kind(kind, a_dir, a_files, a_keys) if wanted else None
        return [
            _Sequence(name, a_files[name], *(found[k][name] if found[k] is not None else None
                                             for k in ("B", "inst", "flow", "occ", "keypoints")))
            for name in names
        ]

    def _scan_kind(self, kind: str, a_dir: Path, a_files: dict[str, tuple[Path, ...]],
                   a_keys: dict[str, list[str]]) -> dict:
        folder = keypoints_dir(self.root, self.split) if kind == "keypoints" else \
            kind_dir(self.root, self.split, kind)
        fix = _FIXES[kind].format(root=self.root)
        if not folder.is_dir():
            raise DataError(f"{folder}: folder not found ({a_dir} exists); expected {fix}")
        per_frame = kind in ("B", "inst", "keypoints")  # flow and occlusion have no file for frame 0
        names = set(list_sequences(folder))
        missing = [n for n in a_files if n not in names and (per_frame or len(a_files[n]) > 1)]
        if missing:
            also = f"; {fix}" if kind == "flow" else ""
            raise DataError(f"{folder}: missing sequence folder(s) {missing} found in {a_dir} "
                            f"(every A sequence needs its {kind} sequence){also}")
        extra = sorted(names - set(a_files))
        if extra and per_frame:
            raise DataError(f"{folder}: sequence folder(s) {extra} have no counterpart in {a_dir} "
                            f"(A, B and inst must hold the same sequences)")
        out = {}
        extensions = {"flow": (".npy",), "keypoints": (".json",)}.get(kind)
        for name, a in a_files.items():
            seq_dir = folder / name
            files = (list_frames(seq_dir, extensions) if extensions else list_frames(seq_dir)) \
                if seq_dir.is_dir() else []
            by_key = _index_frames(seq_dir, files)
            keys = a_keys[name] if per_frame else a_keys[name][1:]
            wanted = set(keys)
            absent = [(k, a[i if per_frame else i + 1].name) for i, k in enumerate(keys) if k not in by_key]
            stray = [(k, f) for k, f in by_key.items() if k not in wanted]
            if absent or stray:
                rule = ("A, B and inst must agree frame for frame" if per_frame
                        else "one file per frame after the first, named after its frame")
                expected = len(keys)
                if len(files) != expected:
                    head = (f"sequence {name!r}: {a_dir / name} has {len(a)} frames but {seq_dir} has "
                            f"{len(files)} {kind} files, expected {expected} ({rule})")
                else:
                    head = (f"sequence {name!r}: the {kind} file names in {seq_dir} do not match the "
                            f"frames of {a_dir / name} ({rule}; files are paired by name, not by position)")
                also = (f"; `python -m vid2vid flow --data {self.root}` writes the missing files"
                        if kind == "flow" and absent else "")
                raise DataError(head + "; " + _mismatch(kind, absent, stray, a_keys[name][0], per_frame)
                                + also)
            out[name] = tuple(seq_dir / by_key[k] for k in keys)
        return out

    def _check_source_kind(self, folder: Path, frames: list[str]) -> None:
        """The A files' kind against the settings, from their names: ``.npy`` maps are continuous
        (``label_nc == 0``), and maps of other than 1 or 3 channels must be ``.npy``."""
        arrays = [f for f in frames if f.lower().endswith(".npy")]
        images = [f for f in frames if not f.lower().endswith(".npy")]
        if arrays and self.label_nc > 0:
            raise DataError(f"{folder / arrays[0]}: a .npy A file is a continuous input map, not label ids, "
                            f"but label_nc = {self.label_nc}; set data.label_nc=0 and data.input_nc to its "
                            f"channel count")
        if images and self.label_nc == 0 and self.input_nc not in (1, 3):
            raise DataError(f"{folder / images[0]}: an image input map has 1 or 3 channels, but "
                            f"data.input_nc={self.input_nc}; store maps of {self.input_nc} channels as .npy "
                            f"files, uint8 [H, W, {self.input_nc}]")

    def _warn_about_first_frame(self) -> None:
        """Warn (:class:`DataWarning`, once per dataset) about what the first A file shows would be
        read other than meant: a grey map copied into ``input_nc = 3`` identical channels, or frames
        whose aspect ratio differs from ``load_size``'s by more than 5 %, squashed by the resize.
        A file that cannot be read is left to the loading checks, which name it."""
        first = self._all_sequences[0].a[0]
        try:
            h, w, c = file_shape(first)
        except DataError:
            return
        a_dir = kind_dir(self.root, self.split, "A")
        if self.label_nc == 0 and self.input_nc == 3 and c == 1 and first.suffix.lower() != ".npy":
            warnings.warn(f"{a_dir}: the A maps are single-channel (grey) images (e.g. {first}) but "
                          f"data.input_nc=3: each is copied into 3 identical channels; set "
                          f"data.input_nc=1", DataWarning, stacklevel=3)
        if self.load_size is not None:
            load_h, load_w = self.load_size
            if abs((w / h) / (load_w / load_h) - 1) > 0.05:
                keep = round(load_h * w / h)
                warnings.warn(f"{a_dir}: frames of {w} x {h} (width x height, e.g. {first}) are resized to "
                              f"{load_w} x {load_h} (data.width x data.height), another aspect ratio "
                              f"({w / h:.2f} vs {load_w / load_h:.2f}): they are squashed. Set data.height "
                              f"and data.width to the frames' aspect ratio, e.g. data.height={load_h} and "
                              f"data.width about {keep} (each side divisible by 2^(model.n_downsample + "
                              f"model.n_scales - 1))", DataWarning, stacklevel=3)

    # ----------------------------------------------------------------- sampling
    def set_n_frames(self, n_frames: int | None) -> None:
        """Change the window length ``T`` (temporal curriculum) and rebuild the index."""
        if n_frames is not None and n_frames < 1:
            raise ValueError(f"n_frames must be >= 1 or None, got {n_frames}")
        self.n_frames = n_frames
        span = 1 if n_frames is None else (n_frames - 1) * self.stride + 1
        short = [s for s in self._all_sequences if len(s) < span]
        if short:
            listing = ", ".join(f"{s.name!r} ({len(s)})" for s in short)
            message = (f"{kind_dir(self.root, self.split, 'A')}: sequence(s) {listing} have fewer "
                       f"frames than a window of {n_frames} frames at stride {self.stride} ({span})")
            if self.short_sequences == "error" or len(short) == len(self._all_sequences):
                raise DataError(message + ("" if len(short) < len(self._all_sequences)
                                           else "; no sequence is long enough"))
            warnings.warn(message + "; skipped", stacklevel=2)
        self._sequences = [s for s in self._all_sequences if len(s) >= span]
        self._windows = [(i, start) for i, s in enumerate(self._sequences)
                         for start in range(len(s) - span + 1)]

    def set_epoch(self, epoch: int) -> None:
        """With a ``seed``, items of different epochs differ (and each epoch is reproducible)."""
        self.epoch = epoch

    def __len__(self) -> int:
        if self.n_frames is None:
            return len(self._sequences)
        if self.sample_starts == "all":
            return len(self._windows)
        return len(self._sequences) * self.repeat

    def _rng(self, index: int) -> np.random.Generator:
        if self.seed is None:  # follows torch.manual_seed and the DataLoader's per-worker seeds
            return np.random.default_rng(int(torch.randint(0, 2**62, ()).item()))
        return np.random.default_rng([self.seed, self.epoch, index])

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} items")
        random_start = self.n_frames is not None and self.sample_starts == "random"
        rng = self._rng(index) if (self.training or random_start) else None
        if self.n_frames is None:
            seq = self._sequences[index]
            frames = list(range(0, len(seq), self.stride))
        elif random_start:
            seq = self._sequences[index % len(self._sequences)]
            longest = self.max_stride if self.n_frames == 1 else \
                min(self.max_stride, (len(seq) - 1) // (self.n_frames - 1))
            stride = int(rng.integers(self.stride, longest + 1))
            start = int(rng.integers(0, len(seq) - (self.n_frames - 1) * stride))
            frames = [start + k * stride for k in range(self.n_frames)]
        else:
            i, start = self._windows[index]
            seq = self._sequences[i]
            frames = [start + k * self.stride for k in range(self.n_frames)]
        return self.load_window(seq.name, frames, rng=rng if self.training else None)

    # ----------------------------------------------------------------- loading
    def load_window(
        self,
        sequence: str,
        frames: list[int],
        transform: SpatialTransform | None = None,
        rng: np.random.Generator | None = None,
    ) -> dict:
        """Load ``frames`` (increasing indices) of ``sequence`` as one item (see the class docstring).

        ``transform`` forces a spatial transform (given in terms of the native frame size); else
        one is drawn with ``rng`` (``None``: the deterministic evaluation transform).
        """
        seq = self._by_name.get(sequence)
        if seq is None:
            raise KeyError(f"no sequence {sequence!r} in {kind_dir(self.root, self.split, 'A')}")
        if not frames or any(b <= a for a, b in pairwise(frames)) or frames[0] < 0 \
                or frames[-1] >= len(seq):
            raise ValueError(f"frames must increase within [0, {len(seq)}) for sequence "
                             f"{sequence!r}, got {frames}")
        raw = [self._read_frame(seq, j) for j in frames]
        size = raw[0]["size"]
        if transform is None:
            transform = SpatialTransform.sample(size, rng, self.load_size, self.crop_size,
                                                self.scale_range, self.flip)
        item: dict = {}
        if self.label_nc > 0:
            ids = transform.nearest(torch.from_numpy(np.stack([r["A"] for r in raw])).long()[:, None])
            item["label_ids"] = ids  # [T, 1, H, W]
            label = one_hot(ids[:, 0], self.label_nc)  # [T, label_nc, H, W]
        else:
            label = transform.image(torch.stack([image_to_tensor(r["A"]) for r in raw]))  # [T, C, H, W]
        if self.use_instance:
            inst = transform.nearest(torch.from_numpy(np.stack([r["inst"] for r in raw])).long()[:, None])
            item["inst"] = inst  # [T, 1, H, W]
            label = torch.cat([label, instance_edges(inst[:, 0])], dim=1)
        item["label"] = label
        if self.load_image:
            item["image"] = transform.image(torch.stack([image_to_tensor(r["B"]) for r in raw]))
        if self.load_keypoints:  # [T, 4] and [T]
            item["face_box"], item["face_valid"] = face_boxes([r["face"] for r in raw], transform, size)
        if self.load_flow or self.load_occlusion:
            flows, occs = [torch.zeros(2, *size)], [torch.zeros(1, *size)]
            for prev, cur in pairwise(frames):
                flow, occ = self._chain(seq, prev, cur, size)
                flows.append(flow)
                occs.append(occ)
            if self.load_flow:
                item["flow"] = transform.flow(torch.stack(flows))  # [T, 2, H, W]
                item["flow_valid"] = torch.arange(len(frames)) > 0
            if self.load_occlusion:
                item["occlusion"] = transform.nearest(torch.stack(occs))  # [T, 1, H, W]
        item["sequence"] = seq.name
        item["frame_indices"] = torch.tensor(frames, dtype=torch.long)
        return item

    def _where(self, seq: _Sequence, j: int) -> str:
        return f"(sequence {seq.name!r}, frame {j})"

    def _read_frame(self, seq: _Sequence, j: int) -> dict:
        """The raw arrays of frame ``j``, with every size checked against the A map."""
        where = self._where(seq, j)
        try:
            a = read_source(seq.a[j], self.label_nc, self.input_nc)
            size = a.shape[:2]
            first = self._sizes.setdefault(seq.name, (size, seq.a[j]))
            if first[0] != size:
                raise DataError(f"{seq.a[j]}: size {size[0]}x{size[1]} differs from {first[1]} "
                                f"({first[0][0]}x{first[0][1]}) of the same sequence {where}")
            out = {"A": a, "size": size}
            if self.load_image:
                out["B"] = self._same_size(read_rgb(seq.b[j]), seq.b[j], seq.a[j], size, where)
            if self.use_instance:
                out["inst"] = self._same_size(read_instance(seq.inst[j]), seq.inst[j], seq.a[j], size,
                                              where)
            if self.load_keypoints:
                out["face"] = read_face_points(seq.keypoints[j])
        except DataError as err:
            if where in str(err):
                raise
            raise DataError(f"{err} {where}") from err
        return out

    @staticmethod
    def _same_size(x: np.ndarray, path: Path, a_path: Path, size: tuple[int, int], where: str) -> np.ndarray:
        if x.shape[:2] != size:
            raise DataError(f"{path}: size {x.shape[0]}x{x.shape[1]} differs from its A map {a_path} "
                            f"({size[0]}x{size[1]}) {where}")
        return x

    def _read_step(self, seq: _Sequence, j: int, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Flow ``[2, H, W]`` (zeros unless loaded) and occlusion ``[1, H, W]`` of frame ``j >= 1``."""
        where = self._where(seq, j)
        flow, occ = torch.zeros(2, *size), torch.zeros(1, *size)
        try:
            if self.load_flow:
                path = seq.flow[j - 1]
                array = read_flow(path)
                if array.shape != (*size, 2):
                    raise DataError(f"{path}: expected flow of shape ({size[0]}, {size[1]}, 2) matching "
                                    f"the frame, found {array.shape} {where}")
                flow = torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1)
            if self.load_occlusion:
                path = seq.occ[j - 1]
                occ = torch.from_numpy(self._same_size(read_mask(path), path, seq.a[j], size, where))
                occ = occ.float()[None]
        except DataError as err:
            if where in str(err):
                raise
            raise DataError(f"{err} {where}") from err
        return flow, occ

    def _chain(self, seq: _Sequence, prev: int, cur: int, size: tuple[int, int]):
        """Flow and occlusion from frame ``cur`` back to frame ``prev`` (``prev < cur``).

        For ``cur - prev > 1`` the per-frame backward flows are chained (``compose_flows``) and a
        pixel counts as occluded when it is occluded at any step along its path.
        """
        flow, occ = self._read_step(seq, cur, size)
        for j in range(cur - 1, prev, -1):  # flow is now cur -> j; extend it to j - 1
            step_flow, step_occ = self._read_step(seq, j, size)
            if self.load_occlusion:
                seen = warp(step_occ[None], flow[None], mode="nearest")[0]
                occ = torch.maximum(occ, (seen > 0.5).float())
            flow = compose_flows(flow[None], step_flow[None])[0]
        return flow, occ
