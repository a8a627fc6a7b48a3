"""``prepare face``: edge-to-face input maps from 68 facial landmarks (paper section 4, FaceForensics).

Per video, in two passes over the frames:

1. dlib's frontal face detector (HOG) and its 68-point landmark predictor (the iBUG 300-W
   markup, shipped by ``face_recognition_models``) on every frame, following one face from frame
   to frame (:func:`detect_landmarks`, :func:`track_face`);
2. frames where no face was found get landmarks interpolated linearly in time, and the
   trajectories are smoothed with a Gaussian of ``smooth`` frames (:func:`fill_and_smooth`);
   a track of one face ends at a shot cut or when the face is lost for 10 frames, and nothing is
   interpolated or smoothed across tracks; frames outside every track are left out;
3. a crop box that follows the face: its centre and size come from the smoothed landmarks and are
   smoothed again, more strongly (``box_smooth`` frames), then kept inside the frame
   (:func:`face_boxes`); one box per frame, but no jumps from frame to frame;
4. each frame is cropped to its box and resized to the output size (:func:`crop_face`), and the
   input map is drawn from the landmarks in the crop (:func:`face_maps`).

The input map, ``uint8 [H, W, 15]`` (the ``face-512`` preset's ``input_nc``; stored as ``.npy``):

    channel 0        edges: the 14 part curves of :data:`CURVES` drawn as lines, plus the Canny
                     edges of the rest of the frame (hair, shoulders, background; the Canny edges
                     inside the face are removed, the curves stand for them); 0 or 255
    channels 1..14   the distance transform of each curve, in the order of :data:`CURVES`:
                     ``min(255, 255 * d / (max(H, W) / 4))`` with ``d`` the Euclidean distance in
                     pixels to the curve: 0 on the curve, 255 a quarter of the image away or more
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from scipy.ndimage import gaussian_filter1d

from vid2vid.data.layout import DataError
from vid2vid.prepare.dataset import Sample
from vid2vid.prepare.edges import canny
from vid2vid.prepare.source import CutDetector, FrameSource

__all__ = [
    "CURVES", "CHANNELS", "predictor_path", "load_dlib", "detect_landmarks", "fill_and_smooth",
    "FaceBox", "face_boxes", "crop_face", "to_crop", "face_maps", "FaceTrack", "track_face", "samples",
]

# The 14 curves drawn from the 68 landmarks (0-based iBUG 300-W indices): one per contour, each
# closed contour (eyes, lips) split into its upper and lower halves so that every curve is an open
# polyline with its own distance map.
CURVES: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("jaw", tuple(range(0, 17))),
    ("right eyebrow", tuple(range(17, 22))),
    ("left eyebrow", tuple(range(22, 27))),
    ("nose bridge", (27, 28, 29, 30)),
    ("nose base", (31, 32, 33, 34, 35)),
    ("nose tip", (31, 30, 35)),
    ("right eye, upper lid", (36, 37, 38, 39)),
    ("right eye, lower lid", (39, 40, 41, 36)),
    ("left eye, upper lid", (42, 43, 44, 45)),
    ("left eye, lower lid", (45, 46, 47, 42)),
    ("outer lip, upper", tuple(range(48, 55))),
    ("outer lip, lower", (54, 55, 56, 57, 58, 59, 48)),
    ("inner lip, upper", (60, 61, 62, 63, 64)),
    ("inner lip, lower", (64, 65, 66, 67, 60)),
)
CHANNELS: tuple[str, ...] = ("edges", *(f"distance to {name}" for name, _ in CURVES))  # 15
_DETECT_SIDE = 640  # frames are searched at most this large (longer side): HOG cost grows with area
_BROWS, _CHIN = list(range(17, 27)), 8


def predictor_path() -> Path:
    """The 68-point landmark model inside the installed ``face_recognition_models`` package, found
    through its import spec (its own ``pkg_resources`` lookup is not imported)."""
    spec = importlib.util.find_spec("face_recognition_models")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / "models" / "shape_predictor_68_face_landmarks.dat"
        if path.is_file():
            return path
    raise ValueError("prepare face needs dlib's 68-point landmark model: pip install dlib-bin "
                     "face-recognition-models (or pip install -e '.[face]')")


@functools.lru_cache(maxsize=1)
def load_dlib():
    """``(detector, predictor)``: dlib's frontal face detector and the 68-point shape predictor
    (loaded once per process: the predictor's 100 MB file takes seconds to read)."""
    try:
        import dlib
    except ImportError as err:
        raise ValueError("prepare face needs dlib: pip install dlib-bin face-recognition-models "
                         "(or pip install -e '.[face]')") from err
    return dlib.get_frontal_face_detector(), dlib.shape_predictor(str(predictor_path()))


@dataclass(frozen=True)
class FaceBox:
    """Where a detected face is: its box centre ``(x, y)`` and side, in frame pixels."""

    centre: tuple[float, float]
    side: float

    def follows(self, prev: FaceBox) -> bool:
        """Whether this face can be ``prev``'s one frame later: its centre within half of ``prev``'s
        side and its size within a factor 1.5 (not another face of the picture)."""
        moved = np.hypot(self.centre[0] - prev.centre[0], self.centre[1] - prev.centre[1])
        return bool(moved < 0.5 * prev.side and 1 / 1.5 < self.side / prev.side < 1.5)


def detect_landmarks(rgb: np.ndarray, detector, predictor, prev: FaceBox | None = None
                     ) -> tuple[np.ndarray, FaceBox] | None:
    """The 68 landmarks ``float [68, 2]`` (x, y pixels) of one face in ``rgb`` ``uint8 [H, W, 3]``
    with its :class:`FaceBox`, or ``None`` when no face is found. The search runs on a copy at most
    :data:`_DETECT_SIDE` pixels on its longer side, upsampled once by dlib when nothing is found at
    that size (small faces). Without ``prev`` the largest face is taken; with it (the face of the
    frame before), only a face that :meth:`FaceBox.follows` it, the nearest: when the tracked face
    turns away, another face in the picture is not taken for it."""
    import dlib

    h, w = rgb.shape[:2]
    s = min(1.0, _DETECT_SIDE / max(h, w))
    small = cv2.resize(rgb, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA) if s < 1 else rgb
    rects = detector(small, 0) or detector(small, 1)
    boxes = [(r, FaceBox(((r.left() + r.right()) / 2 / s, (r.top() + r.bottom()) / 2 / s),
                         max(r.width(), r.height()) / s)) for r in rects]
    if prev is not None:
        boxes = [(r, b) for r, b in boxes if b.follows(prev)]
    if not boxes:
        return None
    if prev is None:
        rect, box = max(boxes, key=lambda rb: rb[1].side)
    else:
        rect, box = min(boxes, key=lambda rb: np.hypot(rb[1].centre[0] - prev.centre[0],
                                                       rb[1].centre[1] - prev.centre[1]))
    full = dlib.rectangle(round(rect.left() / s), round(rect.top() / s),
                          round(rect.right() / s), round(rect.bottom() / s))
    shape = predictor(np.ascontiguousarray(rgb), full)
    return np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64), box


def fill_and_smooth(raw: np.ndarray, sigma: float) -> np.ndarray:
    """Landmark trajectories ``[N, 68, 2]`` with NaN where detection failed -> filled by linear
    interpolation in time (the first / last detection held at the ends), then smoothed along time
    with a Gaussian of ``sigma`` frames (0: not smoothed)."""
    n = raw.shape[0]
    ok = ~np.isnan(raw).any(axis=(1, 2))
    if not ok.any():
        raise ValueError("no frame has landmarks")
    t = np.arange(n)
    flat = raw.reshape(n, -1)
    filled = np.stack([np.interp(t, t[ok], flat[ok, j]) for j in range(flat.shape[1])], axis=1)
    if sigma > 0:
        filled = gaussian_filter1d(filled, sigma, axis=0, mode="nearest")
    return filled.reshape(raw.shape)


def face_boxes(landmarks: np.ndarray, frame_size: tuple[int, int], out_size: tuple[int, int],
               scale: float, sigma: float) -> np.ndarray:
    """Crop boxes ``float [N, 4]`` = ``(x0, y0, width, height)`` in frame pixels, one per frame.

    Height = ``scale`` x the landmarks' extent (brows to chin, or ear to ear), width from the output
    aspect ratio; the centre is the landmarks' box centre moved up by a tenth of the extent (towards
    the forehead, which has no landmarks). Centre and size are smoothed along time with a Gaussian
    of ``sigma`` frames, then the box is shrunk to fit the frame and shifted inside it.
    """
    (fh, fw), (H, W) = frame_size, out_size
    lo, hi = landmarks.min(axis=1), landmarks.max(axis=1)  # [N, 2]
    extent = (hi - lo).max(axis=1)  # [N]
    up = landmarks[:, _BROWS].mean(axis=1) - landmarks[:, _CHIN]  # chin -> brows, [N, 2]
    up /= np.maximum(np.linalg.norm(up, axis=1, keepdims=True), 1e-6)
    centre = (lo + hi) / 2 + 0.1 * extent[:, None] * up
    bh = scale * extent
    if sigma > 0:
        centre = gaussian_filter1d(centre, sigma, axis=0, mode="nearest")
        bh = gaussian_filter1d(bh, sigma, mode="nearest")
    bw = bh * W / H
    shrink = np.minimum(1.0, np.minimum(fh / bh, fw / bw))
    bh, bw = bh * shrink, bw * shrink
    cx = np.clip(centre[:, 0], bw / 2, fw - bw / 2)
    cy = np.clip(centre[:, 1], bh / 2, fh - bh / 2)
    return np.stack([cx - bw / 2, cy - bh / 2, bw, bh], axis=1)


def _box_map(box: np.ndarray, out_size: tuple[int, int]) -> np.ndarray:
    """The 2x3 affine matrix taking frame pixel indices into the crop's (pixel centres at
    integers: ``u = (x - x0) * s + (s - 1) / 2``)."""
    x0, y0, bw, bh = box
    H, W = out_size
    sx, sy = W / bw, H / bh
    return np.array([[sx, 0, -x0 * sx + (sx - 1) / 2], [0, sy, -y0 * sy + (sy - 1) / 2]])


def crop_face(rgb: np.ndarray, box: np.ndarray, out_size: tuple[int, int]) -> np.ndarray:
    """The ``box`` of ``rgb`` resized to ``out_size`` (height, width): ``uint8 [H, W, 3]``. Subpixel
    exact (a box moving by 0.3 pixels moves the picture by 0.3 pixels); a Gaussian blur before
    shrinking keeps it free of aliasing."""
    M = _box_map(box, out_size)
    s = min(M[0, 0], M[1, 1])
    if s < 1:
        rgb = cv2.GaussianBlur(rgb, (0, 0), sigmaX=(1 / s - 1) / 2)
    H, W = out_size
    return cv2.warpAffine(rgb, M, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def to_crop(points: np.ndarray, box: np.ndarray, out_size: tuple[int, int]) -> np.ndarray:
    """Frame pixel coordinates ``[..., 2]`` -> the crop's (the map of :func:`crop_face`)."""
    M = _box_map(box, out_size)
    return points @ M[:, :2].T + M[:, 2]


def face_maps(rgb: np.ndarray, points: np.ndarray, low: float, high: float) -> np.ndarray:
    """The 15-channel input map ``uint8 [H, W, 15]`` of a face crop ``rgb`` with its landmarks
    ``points`` ``[68, 2]`` (crop pixels); the channels are described in the module docstring
    (:data:`CHANNELS`). ``low`` / ``high``: Canny thresholds of the edges outside the face."""
    H, W = rgb.shape[:2]
    thickness = max(1, round(min(H, W) / 256))
    fixed = np.round(points * 16).astype(np.int32)  # 4 fractional bits: subpixel line positions
    curves = []
    for _, index in CURVES:
        img = np.zeros((H, W), np.uint8)
        cv2.polylines(img, [fixed[list(index)]], False, 255, thickness, cv2.LINE_8, shift=4)
        curves.append(img)
    # the face region: the convex hull of the landmarks and of the brows lifted towards the forehead
    up = points[_BROWS].mean(axis=0) - points[_CHIN]
    forehead = points[_BROWS] + 0.4 * up
    hull = cv2.convexHull(np.round(np.concatenate([points, forehead]) * 16).astype(np.int32))
    face = np.zeros((H, W), np.uint8)
    cv2.fillConvexPoly(face, hull, 255, cv2.LINE_8, shift=4)
    face = cv2.dilate(face, np.ones((2 * thickness + 3,) * 2, np.uint8))
    rest = canny(rgb, low, high)
    rest[face > 0] = 0
    edges = np.maximum(np.max(curves, axis=0), rest)
    reach = max(H, W) / 4  # distance that maps to 255
    maps = [edges]
    for img in curves:
        d = cv2.distanceTransform((img == 0).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
        maps.append(np.minimum(255, np.round(d * (255 / reach))).astype(np.uint8))
    return np.stack(maps, axis=-1)


@dataclass
class FaceTrack:
    """The face of one video of ``frames`` frames, as runs of frames (``segments``, ``[start,
    stop)``) that follow one face within one shot, from its first to its last detection; frames
    outside every segment (before the face appears, after it is lost, a shot without a face) are
    left out. ``raw`` landmarks ``[frames, 68, 2]`` as detected (NaN where no face was accepted),
    ``landmarks`` filled and smoothed per segment and ``boxes`` ``[frames, 4]`` (:func:`face_boxes`,
    per segment), both NaN outside the segments; ``failed``: the frames inside segments without a
    detection (their landmarks interpolated); ``frame_size`` (height, width)."""

    raw: np.ndarray
    landmarks: np.ndarray
    boxes: np.ndarray
    failed: list[int]
    frame_size: tuple[int, int]
    segments: list[tuple[int, int]]

    @property
    def frames(self) -> int:
        return len(self.raw)

    @property
    def left_out(self) -> list[int]:
        """Indices of the frames outside every segment (not written)."""
        inside = np.zeros(self.frames, bool)
        for a, b in self.segments:
            inside[a:b] = True
        return np.flatnonzero(~inside).tolist()


_LOST_AFTER = 10  # frames without the tracked face after which any face may start a new segment


def track_face(source: FrameSource, out_size: tuple[int, int], scale: float = 2.0, smooth: float = 1.0,
               box_smooth: float = 5.0, progress=None) -> FaceTrack:
    """Pass 1: landmarks of every frame of ``source``, the segments that follow one face, filled
    and smoothed landmarks, and the crop boxes.

    A segment ends at a shot cut (:class:`~vid2vid.prepare.source.CutDetector`) or when the face
    has not been found for :data:`_LOST_AFTER` frames; nothing is interpolated or smoothed across
    segments. ``progress``: a tqdm bar to advance per frame. No face in any frame raises a
    DataError naming the video."""
    detector, predictor = load_dlib()
    cuts = CutDetector()
    raw, track_of = [], []  # per frame: landmarks (NaN: none accepted), segment number (-1: none)
    prev: FaceBox | None = None
    segment, misses, size = -1, 0, None
    for frame in source:
        if size is None:
            size = frame.rgb.shape[:2]
        elif frame.rgb.shape[:2] != size:
            raise DataError(f"{source.path}, frame {frame.index}: frame size {frame.rgb.shape[:2]} differs "
                            f"from {size} of the first frame")
        if cuts(frame.rgb):
            prev, misses = None, 0
        found = detect_landmarks(frame.rgb, detector, predictor, prev)
        if found is None:
            misses += 1
            if misses >= _LOST_AFTER:
                prev = None
            raw.append(np.full((68, 2), np.nan))
            track_of.append(-1)
        else:
            if prev is None:
                segment += 1
            pts, prev, misses = found[0], found[1], 0
            raw.append(pts)
            track_of.append(segment)
        if progress is not None:
            progress.update(1)
    raw_arr = np.stack(raw) if raw else np.zeros((0, 68, 2))
    if segment < 0:
        raise DataError(f"{source.path}: no face found in any of its {len(raw)} frames (dlib's frontal "
                        f"face detector needs a face seen from the front, about 40 pixels or larger)")
    ids = np.asarray(track_of)
    landmarks = np.full_like(raw_arr, np.nan)
    boxes = np.full((len(raw_arr), 4), np.nan)
    segments, failed = [], []
    for k in range(segment + 1):
        where = np.flatnonzero(ids == k)
        a, b = int(where[0]), int(where[-1]) + 1
        segments.append((a, b))
        failed += [i for i in range(a, b) if ids[i] != k]
        landmarks[a:b] = fill_and_smooth(raw_arr[a:b], smooth)
        boxes[a:b] = face_boxes(landmarks[a:b], size, out_size, scale, box_smooth)
    return FaceTrack(raw_arr, landmarks, boxes, failed, size, segments)


def samples(source: FrameSource, track: FaceTrack, out_size: tuple[int, int], low: float, high: float
            ) -> Iterator[Sample]:
    """Pass 2: the face crops of the frames of ``track.segments`` (named by their index in the
    video) with their 15-channel input maps; each segment after the first starts a new shot."""
    starts = {a for a, _ in track.segments[1:]}
    n = 0
    for i, frame in enumerate(source):
        if i >= track.frames:
            break
        if np.isnan(track.boxes[i]).any():
            continue
        box, points = track.boxes[i], track.landmarks[i]
        b = crop_face(frame.rgb, box, out_size)
        yield Sample(f"{i:06d}", face_maps(b, to_crop(points, box, out_size), low, high), b, cut=i in starts)
        n += 1
    expected = sum(b - a for a, b in track.segments)
    if n != expected:
        raise DataError(f"{source.path}: decoded {n} frames with a face, but {expected} in the first pass")
