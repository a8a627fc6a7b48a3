"""``prepare pose``: body keypoints rendered as OpenPose-style skeletons (pose-to-body, paper section 4).

Keypoints come from OpenPose JSON files the user already has (``--keypoints DIR``: one
``<name>_keypoints.json`` per source frame, ``people[i].pose_keypoints_2d`` = ``[x, y, c] * N``
with N = 25 (BODY_25) or 18 (COCO-18), in source-frame pixels), or from torchvision's Keypoint
R-CNN (COCO-17 keypoints, mapped onto BODY_25 by :func:`coco17_to_body25`).

The input map is the skeleton rendering ``uint8 [H, W, 3]`` (limbs as lines, keypoints as dots, in
OpenPose's colours; face and hand keypoints too when the JSON has them), stored as an RGB ``.png``;
with ``--densepose`` the DensePose IUV image comes first: ``[H, W, 6]`` = (I, U, V as stored in
the IUV file, then the skeleton's R, G, B), stored as ``.npy`` (the ``pose-*`` presets' 6 channels).
The keypoints themselves are written per frame, moved into output pixels, as OpenPose JSON
(``<split>_keypoints/<seq>/<frame>.json``), e.g. for a discriminator that crops around the face
(nose, eyes, ears: BODY_25 indices 0, 15-18; COCO-18 indices 0, 14-17).

Skeleton tables written from OpenPose's output documentation (doc/02_output.md, "Pose Output
Format"): the keypoint order and the limbs of its renderer, each limb coloured like its second
keypoint. OpenPose's palette is a walk around the hue wheel in steps of 85 (:func:`wheel`);
:data:`BODY_25_HUES` says which step each keypoint takes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vid2vid.data.layout import IMAGE_EXTENSIONS, DataError, read_rgb
from vid2vid.prepare.dataset import Sample
from vid2vid.prepare.face import CURVES
from vid2vid.prepare.source import Fit, FrameSource, fitted, per_frame_files

__all__ = [
    "BODY_25", "COCO_18", "Skeleton", "wheel", "read_openpose", "render", "coco17_to_body25",
    "KeypointRCNN", "samples",
]


def wheel(step: int) -> tuple[int, int, int]:
    """Step ``step`` (mod 18) of the hue wheel in steps of 85: red (0), yellow (3), green (6),
    cyan (9), blue (12), magenta (15); RGB."""
    seg, k = divmod(step % 18, 3)
    up, down = 85 * k, 255 - 85 * k
    return ((255, up, 0), (down, 255, 0), (0, 255, up), (0, down, 255), (up, 0, 255), (255, 0, down))[seg]


@dataclass(frozen=True)
class Skeleton:
    """A keypoint format: names in order, limbs (index pairs) and each keypoint's hue step."""

    name: str
    keypoints: tuple[str, ...]
    limbs: tuple[tuple[int, int], ...]
    hues: tuple[int, ...]

    def colour(self, k: int) -> tuple[int, int, int]:
        return wheel(self.hues[k])


BODY_25 = Skeleton(
    "BODY_25",
    ("Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist", "MidHip",
     "RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "REye", "LEye", "REar", "LEar",
     "LBigToe", "LSmallToe", "LHeel", "RBigToe", "RSmallToe", "RHeel"),
    ((1, 8), (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (8, 9), (9, 10), (10, 11), (8, 12),
     (12, 13), (13, 14), (1, 0), (0, 15), (15, 17), (0, 16), (16, 18), (14, 19), (19, 20), (14, 21),
     (11, 22), (22, 23), (11, 24)),
    (17, 0, 1, 2, 3, 4, 5, 6, 0, 7, 8, 9, 10, 11, 12, 16, 14, 15, 13, 12, 12, 12, 9, 9, 9),
)
BODY_25_HUES = BODY_25.hues

COCO_18 = Skeleton(
    "COCO-18",
    ("Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist", "RHip",
     "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "REye", "LEye", "REar", "LEar"),
    ((1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11), (11, 12),
     (12, 13), (1, 0), (0, 14), (14, 16), (0, 15), (15, 17)),
    (17, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 16, 14, 15, 13),
)
_BY_COUNT = {len(BODY_25.keypoints): BODY_25, len(COCO_18.keypoints): COCO_18}

# OpenPose hands: 21 keypoints, the wrist (0) then four per finger (thumb .. little finger)
_HAND_BONES = tuple((0 if j == 0 else 1 + 4 * f + j - 1, 1 + 4 * f + j) for f in range(5) for j in range(4))
_PARTS = ("pose_keypoints_2d", "face_keypoints_2d", "hand_left_keypoints_2d", "hand_right_keypoints_2d")

# COCO-17 (Keypoint R-CNN) index of each BODY_25 keypoint; Neck and MidHip are the midpoints of
# the shoulders and of the hips; the feet (19-24) have no COCO-17 counterpart.
_FROM_COCO17 = {0: 0, 2: 6, 3: 8, 4: 10, 5: 5, 6: 7, 7: 9, 9: 12, 10: 14, 11: 16, 12: 11, 13: 13, 14: 15,
                15: 2, 16: 1, 17: 4, 18: 3}
_MIDPOINTS = {1: (5, 6), 8: (11, 12)}


def _format_error(path: Path, found: str) -> DataError:
    return DataError(f"{path}: not an OpenPose keypoint file ({found}); expected JSON "
                     f'{{"people": [{{"pose_keypoints_2d": [x, y, c, ...]}}, ...]}} with 25 (BODY_25) '
                     f"or 18 (COCO-18) keypoints per person")


def read_openpose(path: str | os.PathLike) -> tuple[list[dict[str, np.ndarray]], Skeleton | None]:
    """The people of an OpenPose JSON file: per person ``{part: float [N, 3]}`` (x, y, confidence)
    for the parts present (pose, face, hands), and the body format (None when nobody is in it).
    A file of another format raises a :class:`DataError` naming it."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise _format_error(path, f"unreadable JSON: {err}") from err
    if not isinstance(doc, dict) or not isinstance(doc.get("people"), list):
        raise _format_error(path, "no 'people' list")
    people, skeleton = [], None
    for i, person in enumerate(doc["people"]):
        if not isinstance(person, dict) or "pose_keypoints_2d" not in person:
            raise _format_error(path, f"person {i} has no 'pose_keypoints_2d'")
        parts = {}
        for part in _PARTS:
            values = person.get(part)
            if values is None or (part != _PARTS[0] and len(values) == 0):
                continue
            try:
                arr = np.asarray(values, dtype=np.float64)
            except (TypeError, ValueError):
                raise _format_error(path, f"person {i}: {part} holds non-numbers") from None
            if arr.ndim != 1 or arr.size % 3 or not np.isfinite(arr).all():
                raise _format_error(path, f"person {i}: {part} is not a flat list of [x, y, c] triples")
            parts[part] = arr.reshape(-1, 3)
        n = len(parts["pose_keypoints_2d"])
        if n not in _BY_COUNT:
            raise _format_error(path, f"person {i} has {n} pose keypoints")
        if skeleton is not None and _BY_COUNT[n] is not skeleton:
            raise _format_error(path, "people with different keypoint formats")
        skeleton = _BY_COUNT[n]
        people.append(parts)
    return people, skeleton


def to_openpose(people: list[dict[str, np.ndarray]]) -> dict:
    """OpenPose's JSON document for ``people`` (coordinates rounded to 1/100 pixel)."""
    return {"version": 1.3, "people": [
        {part: [round(float(v), 3 if j % 3 == 2 else 2) for j, v in enumerate(kp.reshape(-1))]
         for part, kp in person.items()} for person in people]}


def _visible(kp: np.ndarray, threshold: float) -> np.ndarray:
    return (kp[:, 2] > threshold) & ~((kp[:, 0] == 0) & (kp[:, 1] == 0))


def render(people: list[dict[str, np.ndarray]], skeleton: Skeleton | None, size: tuple[int, int],
           threshold: float = 0.05) -> np.ndarray:
    """The skeleton picture ``uint8 [H, W, 3]`` of ``people`` (keypoints in output pixels) on black:
    limbs as lines in the colour of their second keypoint, keypoints as dots in their own colour;
    face keypoints as white curves (:data:`vid2vid.prepare.face.CURVES`), hands as lines with one
    colour per finger. Keypoints with confidence ``<= threshold`` (or at (0, 0)) are left out."""
    H, W = size
    img = np.zeros((H, W, 3), np.uint8)
    stick = max(1, round(min(H, W) / 128))

    def line(a, b, colour, width):
        cv2.line(img, tuple(np.round(a * 16).astype(int)), tuple(np.round(b * 16).astype(int)), colour,
                 width, cv2.LINE_AA, shift=4)

    for person in people:
        body = person["pose_keypoints_2d"]
        ok = _visible(body, threshold)
        if skeleton is not None:
            for a, b in skeleton.limbs:
                if ok[a] and ok[b]:
                    line(body[a, :2], body[b, :2], skeleton.colour(b), stick)
            for k in np.flatnonzero(ok):
                cv2.circle(img, tuple(np.round(body[k, :2] * 16).astype(int)), (stick + 1) * 16,
                           skeleton.colour(k), -1, cv2.LINE_AA, shift=4)
        face = person.get("face_keypoints_2d")
        if face is not None and len(face) >= 68:
            fok = _visible(face, threshold)
            for _, index in CURVES:
                for a, b in zip(index[:-1], index[1:], strict=True):
                    if fok[a] and fok[b]:
                        line(face[a, :2], face[b, :2], (255, 255, 255), 1)
        for part in ("hand_left_keypoints_2d", "hand_right_keypoints_2d"):
            hand = person.get(part)
            if hand is not None and len(hand) == 21:
                hok = _visible(hand, threshold)
                for i, (a, b) in enumerate(_HAND_BONES):
                    if hok[a] and hok[b]:
                        line(hand[a, :2], hand[b, :2], wheel(round(i // 4 * 18 / 5)), 1)
    return img


def coco17_to_body25(kp: np.ndarray) -> np.ndarray:
    """COCO-17 keypoints ``[17, 3]`` (x, y, confidence) -> BODY_25 ``[25, 3]`` (missing: zeros)."""
    out = np.zeros((25, 3))
    for b, c in _FROM_COCO17.items():
        out[b] = kp[c]
    for b, (i, j) in _MIDPOINTS.items():
        if kp[i, 2] > 0 and kp[j, 2] > 0:
            out[b, :2] = (kp[i, :2] + kp[j, :2]) / 2
            out[b, 2] = min(kp[i, 2], kp[j, 2])
    return out


class KeypointRCNN:
    """torchvision's Keypoint R-CNN (ResNet-50 FPN) as a keypoint source: ``self(rgb)`` -> the
    people of one frame in BODY_25 (:func:`coco17_to_body25`), confidence = sigmoid of the
    keypoint score; people whose box score is below ``min_score`` are left out.

    ``weights``: a name of ``KeypointRCNN_ResNet50_FPN_Weights`` (``DEFAULT``, ``COCO_V1``,
    downloaded by torchvision once), a path to a saved state dict, or ``"none"`` (random
    weights: meaningless keypoints, for tests). ``min_size``: the shorter side the detector
    resizes frames to (it was trained at 800; smaller is faster and misses small people).
    ``max_people``: the most people kept per frame (the most confident).
    """

    def __init__(self, weights: str = "DEFAULT", device: str = "cpu", min_size: int = 800,
                 min_score: float = 0.5, max_people: int = 10) -> None:
        import torch
        from torchvision.models.detection import KeypointRCNN_ResNet50_FPN_Weights, keypointrcnn_resnet50_fpn

        sizes = {"min_size": min_size, "max_size": max(min_size, round(min_size * 1333 / 800)),
                 "box_detections_per_img": max_people}  # the keypoint head's cost grows with it
        if weights.lower() == "none":
            model = keypointrcnn_resnet50_fpn(weights=None, weights_backbone=None, **sizes)
        elif Path(weights).suffix in (".pth", ".pt"):
            if not Path(weights).is_file():
                raise FileNotFoundError(f"{weights}: Keypoint R-CNN weights file not found")
            model = keypointrcnn_resnet50_fpn(weights=None, weights_backbone=None, **sizes)
            try:
                state = torch.load(weights, map_location="cpu", weights_only=True)
                model.load_state_dict(state.get("model", state) if isinstance(state, dict) else state)
            except (RuntimeError, OSError, KeyError) as err:
                reason = type(err).__name__
                raise ValueError(f"{weights}: not a Keypoint R-CNN state dict ({reason})") from err
        else:
            try:
                enum = KeypointRCNN_ResNet50_FPN_Weights[weights.upper()] if weights.upper() != "DEFAULT" \
                    else KeypointRCNN_ResNet50_FPN_Weights.DEFAULT
            except KeyError:
                names = ["DEFAULT", *KeypointRCNN_ResNet50_FPN_Weights.__members__]
                raise ValueError(f"--weights {weights!r}: expected one of {names}, a .pth file, or "
                                 f"none") from None
            try:
                model = keypointrcnn_resnet50_fpn(weights=enum, **sizes)
            except (OSError, RuntimeError) as err:  # URLError is an OSError: offline, no cached file
                reason = " ".join(str(err).split())[:200]
                raise ValueError(f"Keypoint R-CNN weights {enum.name} could not be loaded ({reason}); "
                                 f"torchvision downloads {enum.url} into ~/.cache/torch/hub/checkpoints "
                                 f"once: do it on a machine with network access, or pass --weights "
                                 f"FILE.pth, or --keypoints with OpenPose JSON files") from err
        self.model = model.eval().to(device)
        self.device, self.min_score = device, min_score

    def __call__(self, rgb: np.ndarray) -> list[dict[str, np.ndarray]]:
        import torch

        x = torch.from_numpy(rgb).to(self.device).permute(2, 0, 1).float() / 255  # [3, H, W] in [0, 1]
        with torch.no_grad():
            (out,) = self.model([x])
        people = []
        for score, kp, kp_score in zip(out["scores"], out["keypoints"], out["keypoints_scores"], strict=True):
            if float(score) < self.min_score:
                continue
            coco = torch.cat([kp[:, :2], torch.sigmoid(kp_score)[:, None]], dim=1).cpu().numpy()
            people.append({"pose_keypoints_2d": coco17_to_body25(coco.astype(np.float64))})
        return people


def _moved(people: list[dict[str, np.ndarray]], fit: Fit) -> list[dict[str, np.ndarray]]:
    """Keypoints in source pixels -> output pixels (missing keypoints stay zeros)."""
    out = []
    for person in people:
        moved = {}
        for part, kp in person.items():
            kp = kp.copy()
            present = ~((kp[:, 0] == 0) & (kp[:, 1] == 0) & (kp[:, 2] == 0))
            kp[present, :2] = fit.points(kp[present, :2])
            moved[part] = kp
        out.append(moved)
    return out


def samples(source: FrameSource, size: tuple[int, int], resize: str, keypoints: str | None = None,
            detector: KeypointRCNN | None = None, densepose: str | None = None,
            threshold: float = 0.05) -> Iterator[Sample]:
    """The frames of ``source`` at ``size`` with their skeleton renderings (and DensePose IUV).

    Exactly one of ``keypoints`` (a folder of OpenPose JSON files, one per source frame) and
    ``detector`` gives the keypoints. ``densepose``: a folder of IUV images, one per source frame.
    """
    if (keypoints is None) == (detector is None):
        raise ValueError("give either an OpenPose keypoint folder or a detector")
    json_files = per_frame_files(keypoints, (".json",), "OpenPose keypoint", source) if keypoints else None
    iuv_files = per_frame_files(densepose, IMAGE_EXTENSIONS, "DensePose IUV", source) if densepose else None
    for i, (frame, fit) in enumerate(fitted(source, size, resize)):
        b = fit.image(frame.rgb)
        if json_files is not None:
            people, skeleton = read_openpose(json_files[frame.index])
            people = _moved(people, fit)
        else:
            people, skeleton = detector(b), BODY_25
        a = render(people, skeleton, size, threshold)
        if iuv_files is not None:
            iuv = read_rgb(iuv_files[frame.index])
            if abs(iuv.shape[0] / iuv.shape[1] - fit.src[0] / fit.src[1]) > 0.01:
                raise DataError(f"{iuv_files[frame.index]}: IUV size {iuv.shape[:2]} has another aspect "
                                f"ratio than the frames {fit.src}")
            a = np.concatenate([Fit(iuv.shape[:2], size, resize).image(iuv, nearest=True), a], axis=-1)
        yield Sample(f"{i:06d}", a, b, keypoints=to_openpose(people))
