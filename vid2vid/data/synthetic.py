"""The built-in synthetic street-video dataset: street-like videos in seconds, with exact ground truth.

Design
------
A frame is a stack of **layers**, each a canvas in its own coordinates placed into the frame
by a similarity transform ``A_t`` (scale, tiny rotation, translation; 3x3 matrices that map
layer pixels to frame pixels):

- the **sky**, far away: it follows the camera with a parallax factor (it moves less);
- the **street** (road, sidewalk, buildings, vegetation): a canvas wider than the frame that
  the camera pans over, zooms into and rolls over; transparent where the sky shows;
- **cars and people**: one sprite each, moving along the street with their own velocity
  (cars also approach or recede: their scale changes), so they occlude each other and the
  street and enter and leave the view. Nearer objects (lower on the ground) are in front.

Each frame is rendered by *inverse mapping*: every output pixel ``p`` takes the front-most
layer that covers ``A_t^{-1} p`` (nearest sample of the layer's mask) and that layer's colour
there (bilinear sample; OpenCV resolves sample positions to 1/32 pixel). Because every pixel
knows its layer, the ground truth is exact:

- backward flow ``t -> t-1`` (the convention of :mod:`vid2vid.flow.warp`):
  ``w_t(p) = A_{t-1} A_t^{-1} p - p`` for the pixel's layer;
- occlusion: ``p`` is occluded when ``p + w_t(p)`` lies outside frame ``t-1`` or when any of
  the (up to) four pixels of its bilinear footprint in ``t-1`` shows another layer. The
  footprint rule marks a one-pixel rim at layer edges too, so that ``warp(x_{t-1}, w_t)``
  reproduces ``x_t`` wherever the mask is 0;
- labels (Cityscapes labelIds), instances (``label * 1000 + k`` for cars and people) and the
  foreground mask ``1 - m_B`` follow from the same layer map.

Appearance is *not* a function of the labels: every sequence draws new colours per class and
new textures cut from scikit-image's bundled photographs, every car and person has its own
colours, and a slow global illumination drift changes all colours over time. So a
generator that hallucinates each frame from the labels alone cannot know the colours and
flickers, while copying warped pixels from the previous frame (the paper's
``(1 - m~_t) * w~_{t-1}(x~_{t-1})`` term) is nearly exact wherever ``m_t`` is 0: this dataset
measures what flow warping, the occlusion mask and the foreground-background split buy.

Two options fit the paper's premises; off (the default) they draw nothing and change no pixel:

- ``foreground_palette``: the paper's foreground generator sees labels only, so it can only be
  right where the foreground looks as its class says. With this option every car has the same
  body, window and light colours and every person the same clothes (one colour per part,
  :data:`~vid2vid.data.synthetic_scene.FOREGROUND_PALETTE`, with a small jitter; skin and wheels as
  without it). One colour per class, not a few picked by instance: the generator sees instance
  *edges*, not ids, and the id's ``k`` is a depth rank that the labels do not show. The background
  stays unpredictable from the labels: its class colours and textures are drawn per sequence.
- ``still_camera``: the fraction of sequences whose camera neither pans, zooms nor rolls, so that
  the background's pixels are static (exact flow 0) and flicker on static pixels can be measured.
"""

from __future__ import annotations

import json
import numbers
import os
import shutil
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from vid2vid.data import layout
from vid2vid.data.labels import CITYSCAPES_LABEL_NC, INSTANCE_DIVISOR, LABEL_ID
from vid2vid.data.synthetic_scene import SceneLayout, build_scene, build_sky, car_sprite, person_sprite

if TYPE_CHECKING:
    from vid2vid.config.schema import DataConfig

__all__ = ["SYNTHETIC_VERSION", "SYNTHETIC_LABELS", "SYNTHETIC_FOREGROUND", "SyntheticConfig",
           "SyntheticSequence", "camera_is_still", "generate_sequence", "write_dataset"]

SYNTHETIC_VERSION = 1  # bump when the same seed no longer gives the same pixels
SYNTHETIC_LABELS = {name: LABEL_ID[name] for name in ("road", "sidewalk", "building", "vegetation", "sky",
                                                      "person", "car")}
SKY, PERSON, CAR = LABEL_ID["sky"], LABEL_ID["person"], LABEL_ID["car"]
SYNTHETIC_FOREGROUND = (PERSON, CAR)  # the instance classes: 1 - m_B
_WARP_LINEAR = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
_WARP_NEAREST = cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP


@dataclass
class SyntheticConfig:
    """Settings of the synthetic street videos (speeds in pixels per frame)."""

    height: int = 128  # frame height, pixels
    width: int = 256  # frame width, pixels
    frames: int = 30  # frames per sequence
    objects: int = 6  # cars + people per sequence; each is in view around a random time
    person_fraction: float = 0.4  # expected share of people among the objects
    camera_speed: float = 1.5  # largest camera pan; direction and size are drawn per sequence
    car_speed: float = 2.5  # largest car speed along the street
    person_speed: float = 0.6  # largest walking speed
    zoom: float = 0.004  # largest relative zoom (camera) or approach (cars) per frame
    roll_degrees: float = 0.5  # largest amplitude of the camera's roll
    parallax: float = 0.3  # sky motion as a fraction of the street's (0 = fixed sky, 1 = painted on)
    illumination: float = 0.06  # amplitude of the slow global gain drift (0 = constant light)
    illumination_period: float = 80.0  # frames per illumination cycle, about (drawn per sequence)
    texture_blur: float = 0.8  # Gaussian sigma of the textures, pixels: keeps bilinear warping near-exact
    foreground_palette: bool = False  # cars and clothes in one fixed colour per part: predictable from labels
    still_camera: float = 0.0  # fraction of sequences whose camera stays still (no pan, zoom or roll)

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type in ("bool", bool):
                if not isinstance(value, bool):
                    raise TypeError(f"SyntheticConfig.{f.name}: expected bool, found {value!r}")
                continue
            kind = numbers.Integral if f.type in ("int", int) else numbers.Real
            if isinstance(value, bool) or not isinstance(value, kind):
                name = "int" if kind is numbers.Integral else "float"
                raise TypeError(f"SyntheticConfig.{f.name}: expected {name}, found {value!r}")
        if self.height < 16 or self.width < 16:
            raise ValueError(f"SyntheticConfig: frames must be at least 16x16 pixels, "
                             f"found {self.height}x{self.width}")
        if self.frames < 1:
            raise ValueError(f"SyntheticConfig.frames: expected >= 1, found {self.frames}")
        if not 0 <= self.objects < INSTANCE_DIVISOR:
            raise ValueError(f"SyntheticConfig.objects: expected 0..{INSTANCE_DIVISOR - 1}, "
                             f"found {self.objects}")
        if not 0.0 <= self.person_fraction <= 1.0:
            raise ValueError(f"SyntheticConfig.person_fraction: expected in [0, 1], "
                             f"found {self.person_fraction}")
        if not 0.0 <= self.illumination < 0.5:
            raise ValueError(f"SyntheticConfig.illumination: expected in [0, 0.5), found {self.illumination}")
        if self.illumination_period <= 0:
            raise ValueError(f"SyntheticConfig.illumination_period: expected > 0, "
                             f"found {self.illumination_period}")
        for name in ("camera_speed", "car_speed", "person_speed", "zoom", "roll_degrees", "parallax",
                     "texture_blur"):
            if getattr(self, name) < 0:
                raise ValueError(f"SyntheticConfig.{name}: expected >= 0, found {getattr(self, name)}")
        if not 0.0 <= self.still_camera <= 1.0:
            raise ValueError(f"SyntheticConfig.still_camera: expected a fraction of the sequences in [0, 1], "
                             f"found {self.still_camera}")

    @classmethod
    def from_data_config(cls, data: DataConfig) -> SyntheticConfig:
        """The settings a run's ``data.synthetic_*`` keys ask for: motion, foreground palette, still camera.

        Sizes are not set here: :func:`write_dataset` takes them (``data.synthetic_frames``,
        ``data.height``, ``data.width``). A value out of range is a :class:`ConfigError` naming its key."""
        from vid2vid.config.schema import ConfigError

        keys = {"foreground_palette": "data.synthetic_foreground_palette",
                "still_camera": "data.synthetic_still_camera"}
        try:
            cfg = cls(**{name: getattr(data, key.split(".", 1)[1]) for name, key in keys.items()})
        except (TypeError, ValueError) as err:
            key = next((k for name, k in keys.items() if f"SyntheticConfig.{name}:" in str(err)), "data")
            raise ConfigError(f"{key}: {err}") from None
        return cfg.with_motion(data.synthetic_motion)

    @classmethod
    def of_model(cls, data: DataConfig, frames: int | None = None, panning: bool = False) -> SyntheticConfig:
        """The videos a model trained with ``data`` learnt from (motion, foreground palette, still
        cameras), at its frame size, ``frames`` frames long (default ``data.synthetic_frames``):
        what to show a trained generator, e.g. ``load_generator(path)[0].data``. ``panning`` keeps
        every camera moving, for pictures of the pan (where streaks and smearing show)."""
        return replace(cls.from_data_config(data), height=data.height, width=data.width,
                       frames=data.synthetic_frames if frames is None else frames,
                       still_camera=0.0 if panning else data.synthetic_still_camera)

    def settings_suffix(self) -> str:
        """``_palette`` and ``_still<F>`` where those options are on ("" where off): a folder name's
        tail that keeps videos of other settings apart."""
        return "_palette" * self.foreground_palette + f"_still{self.still_camera:g}" * bool(self.still_camera)

    def recorded_mismatch(self, recorded: dict) -> str | None:
        """How a dataset's recorded settings (``synthetic.json``'s ``"config"``) differ from these, in
        words naming the ``data.synthetic_*`` key that asks otherwise; ``None`` when they agree. A
        record written before the palette and still-camera options existed had them off."""
        speeds = {k: recorded.get(k) for k in ("camera_speed", "car_speed")}
        if speeds != {"camera_speed": self.camera_speed, "car_speed": self.car_speed}:
            neutral = SyntheticConfig()
            motion = self.camera_speed / neutral.camera_speed if neutral.camera_speed else float("nan")
            return (f"speeds {speeds}, but data.synthetic_motion={motion:g} asks for camera_speed "
                    f"{self.camera_speed} and car_speed {self.car_speed}")
        neutral = SyntheticConfig()
        for name in ("foreground_palette", "still_camera"):
            made, asked = recorded.get(name, getattr(neutral, name)), getattr(self, name)
            if made != asked:
                return f"{name}={made}, but data.synthetic_{name}={asked}"
        return None

    def with_motion(self, factor: float) -> SyntheticConfig:
        """A copy whose camera and car speeds are multiplied by ``factor`` (people keep theirs).

        Speeds are in pixels per frame, so the same speeds are relatively slower in larger frames;
        at 64 x 128 the defaults move about 1 pixel per frame, too little for a flow network to
        learn motion that generalises to new sequences, and ``factor`` 4 is what the ``synthetic``
        training preset uses."""
        if factor < 0:
            raise ValueError(f"motion factor must be >= 0, found {factor}")
        return replace(self, camera_speed=self.camera_speed * factor, car_speed=self.car_speed * factor)


@dataclass
class SyntheticSequence:
    """One generated sequence: numpy arrays over ``T`` frames, indexable like a dict (``seq["rgb"]``).

    Attributes:
        rgb: ``uint8 [T, H, W, 3]`` frames ``x_t``.
        label: ``uint8 [T, H, W]`` Cityscapes labelIds ``s_t``.
        instance: ``int32 [T, H, W]``: ``label * 1000 + k`` on cars and people, ``label`` elsewhere.
        flow: ``float32 [T, H, W, 2]`` backward flow ``t -> t-1`` in pixels (dx, dy); ``flow[0]`` is 0.
        occlusion: ``bool [T, H, W]``: pixel of ``t`` not visible in ``t-1`` (all true at ``t = 0``).
        foreground: ``bool [T, H, W]``: person or car, ``1 - m_B``.
        meta: what was drawn: camera velocity (street pixels per frame), zoom, roll, whether the camera
            is still (``still_camera``), gains ``[T, 3]`` and the objects (label, instance, velocity).
    """

    rgb: np.ndarray
    label: np.ndarray
    instance: np.ndarray
    flow: np.ndarray
    occlusion: np.ndarray
    foreground: np.ndarray
    meta: dict = field(default_factory=dict)

    KEYS = ("rgb", "label", "instance", "flow", "occlusion", "foreground")

    def __getitem__(self, key: str) -> np.ndarray:
        if key not in self.KEYS:
            raise KeyError(f"{key!r}: expected one of {self.KEYS}")
        return getattr(self, key)

    def keys(self) -> tuple[str, ...]:
        return self.KEYS

    def __len__(self) -> int:
        return self.rgb.shape[0]


def _similarity(scale: float = 1.0, angle: float = 0.0, tx: float = 0.0, ty: float = 0.0) -> np.ndarray:
    """``3x3`` matrix of ``p -> scale * R(angle) p + (tx, ty)``."""
    c, s = scale * np.cos(angle), scale * np.sin(angle)
    return np.array([[c, -s, tx], [s, c, ty], [0.0, 0.0, 1.0]])


@dataclass
class _Camera:
    """Street (world) pixels -> frame pixels: ``p = s_t R(theta_t) (u - cam_t) + centre``."""

    centre: tuple[float, float]  # frame centre, pixels
    cam0: tuple[float, float]  # street point seen at the frame centre at t = 0
    velocity: float  # pan, street pixels per frame (+x: the view slides right over the street)
    zoom_rate: float  # log-scale change per frame
    roll: np.ndarray  # [T] radians

    def matrix(self, t: int, parallax: float = 1.0) -> np.ndarray:
        # A far layer (parallax < 1) sees a fraction of the camera's translation and zoom.
        cam_x = self.cam0[0] + parallax * self.velocity * t
        scale = np.exp(parallax * self.zoom_rate * t)
        return (_similarity(tx=self.centre[0], ty=self.centre[1]) @ _similarity(scale, self.roll[t])
                @ _similarity(tx=-cam_x, ty=-self.cam0[1]))


@dataclass
class _Sprite:
    """A car or person: sprite pixels -> street pixels ``u = sigma_t (v - anchor) + pos_t``."""

    mask: np.ndarray  # uint8 [h, w], 1 = covered
    rgb: np.ndarray  # float32 [h, w, 3] in [0, 1]
    anchor: tuple[float, float]  # ground contact point in sprite pixels
    label: int
    x0: float  # street x of the anchor at t = 0
    ground: float  # street y of the anchor
    velocity: float  # street pixels per frame
    growth: float  # log-scale change per frame (approaching > 0)
    bob: tuple[float, float, float] = (0.0, 1.0, 0.0)  # walking bob: amplitude px, period frames, phase
    instance: int = 0

    def matrix(self, t: int) -> np.ndarray:
        amp, period, phase = self.bob
        y = self.ground - amp * abs(np.sin(np.pi * t / period + phase))
        return (_similarity(np.exp(self.growth * t), 0.0, self.x0 + self.velocity * t, y)
                @ _similarity(tx=-self.anchor[0], ty=-self.anchor[1]))


def _draw_objects(rng: np.random.Generator, cfg: SyntheticConfig, cam: _Camera, scene: SceneLayout
                  ) -> list[_Sprite]:
    """Cars on the road and people on the sidewalk, each in view around a random time; far to near."""
    H, W, T = cfg.height, cfg.width, cfg.frames
    n_people = int(rng.binomial(cfg.objects, cfg.person_fraction))
    ground_span = scene.bottom - scene.sidewalk_top
    sprites = []
    for i in range(cfg.objects):
        tau = rng.uniform(0, T - 1)  # the object is near frame column fx at time tau
        fx = rng.uniform(-0.1, 1.1) * W
        direction = rng.choice([-1.0, 1.0])
        if i < n_people:
            sidewalk_h = scene.road_top - scene.sidewalk_top
            ground = rng.uniform(scene.sidewalk_top + 0.25 * sidewalk_h, scene.road_top)
            depth = 0.6 + 0.6 * (ground - scene.sidewalk_top) / ground_span  # nearer is bigger
            mask, rgb, anchor = person_sprite(rng, rng.uniform(0.2, 0.26) * H * depth, cfg.texture_blur,
                                              cfg.foreground_palette)
            velocity = direction * rng.uniform(0.3, 1.0) * cfg.person_speed
            bob = (0.015 * mask.shape[0], rng.uniform(6, 10), rng.uniform(0, np.pi))
            sprite = _Sprite(mask, rgb, anchor, PERSON, 0.0, ground, velocity, 0.0, bob)
        else:
            road_h = scene.bottom - scene.road_top
            ground = rng.uniform(scene.road_top + 0.2 * road_h, scene.bottom + 0.05 * H)
            depth = 0.6 + 0.6 * (ground - scene.sidewalk_top) / ground_span
            mask, rgb, anchor = car_sprite(rng, rng.uniform(0.4, 0.55) * H * depth, cfg.texture_blur,
                                           cfg.foreground_palette)
            velocity = direction * rng.uniform(0.4, 1.0) * cfg.car_speed
            sprite = _Sprite(mask, rgb, anchor, CAR, 0.0, ground, velocity, rng.uniform(-1, 1) * cfg.zoom)
        t = int(round(tau))
        street_x = (np.linalg.inv(cam.matrix(t)) @ [fx, cam.centre[1], 1.0])[0]
        sprite.x0 = street_x - sprite.velocity * t
        sprites.append(sprite)
    sprites.sort(key=lambda s: s.ground)  # painter's order: far (high on the ground) first
    counts = {PERSON: 0, CAR: 0}
    for s in sprites:
        s.instance = s.label * INSTANCE_DIVISOR + counts[s.label]
        counts[s.label] += 1
    return sprites


def camera_is_still(seed: int | tuple[int, ...] | list[int], fraction: float) -> bool:
    """Whether the sequence of ``seed`` keeps its camera still when a ``fraction`` of sequences do.

    Decided by a stream of its own (a child of the seed's :class:`numpy.random.SeedSequence`), so the
    sequence's other draws are untouched and a fraction of 0 changes nothing; a larger fraction keeps
    the still sequences of a smaller one still."""
    if fraction <= 0:
        return False
    stream = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])
    return bool(stream.random() < fraction)


def generate_sequence(seed: int | tuple[int, ...] | list[int], cfg: SyntheticConfig | None = None
                      ) -> SyntheticSequence:
    """Generate one street sequence in memory with its exact ground truth.

    Args:
        seed: seeds ``numpy.random.default_rng``; the same seed and config give identical arrays.
            :func:`write_dataset` uses ``[seed, split_index, sequence_index]``.
        cfg: sizes and motion settings (defaults: 30 frames of 128x256).

    Returns:
        A :class:`SyntheticSequence` (arrays ``rgb, label, instance, flow, occlusion, foreground``).
    """
    cfg = cfg or SyntheticConfig()
    rng = np.random.default_rng(seed)
    H, W, T = cfg.height, cfg.width, cfg.frames
    ts = np.arange(T)

    # Camera: pan along the street, slow zoom, tiny roll; a still camera draws the same, then stops.
    still = camera_is_still(seed, cfg.still_camera)
    velocity = rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 1.0) * cfg.camera_speed
    zoom_rate = rng.uniform(-1, 1) * cfg.zoom
    roll_amp = np.radians(rng.uniform(0, 1) * cfg.roll_degrees)
    roll = roll_amp * np.sin(2 * np.pi * ts / rng.uniform(40, 80) + rng.uniform(0, 2 * np.pi))
    if still:
        velocity, zoom_rate, roll_amp, roll = 0.0, 0.0, 0.0, np.zeros(T)
    # Illumination: a slow gain common to all channels plus a weaker tint per channel.
    omega = 2 * np.pi / (cfg.illumination_period * rng.uniform(0.75, 1.5))
    phase = rng.uniform(0, 2 * np.pi, size=4)
    gains = ((1 + cfg.illumination * np.sin(omega * ts + phase[0]))[:, None]
             * (1 + 0.3 * cfg.illumination * np.sin(omega * ts[:, None] + phase[None, 1:])))  # [T, 3]

    # The street canvas covers the frame's footprint at every time, plus a margin.
    scale_min = float(np.exp(-abs(zoom_rate) * (T - 1)))
    half_w, half_h = W / 2 / scale_min, H / 2 / scale_min
    cos, sin = np.cos(roll_amp), np.sin(roll_amp)
    ext_x, ext_y = half_w * cos + half_h * sin, half_w * sin + half_h * cos
    margin = 4.0 + 3 * cfg.texture_blur
    canvas_w = int(np.ceil(2 * (ext_x + margin) + abs(velocity) * (T - 1)))
    canvas_h = int(np.ceil(2 * (ext_y + margin)))
    cam0 = (margin + ext_x + (abs(velocity) * (T - 1) if velocity < 0 else 0.0), canvas_h / 2)
    cam = _Camera(((W - 1) / 2, (H - 1) / 2), cam0, velocity, zoom_rate, roll)
    scene = SceneLayout(rng, H, cam0[1] - (H - 1) / 2)
    street_label, street_rgb = build_scene(rng, (canvas_h, canvas_w), H, scene, cfg.texture_blur)
    sky_rgb = build_sky(rng, (canvas_h, canvas_w), H, scene, cfg.texture_blur)
    sprites = _draw_objects(rng, cfg, cam, scene)

    # Layers: 0 sky, 1 street, 2.. sprites in painter's order.
    out = SyntheticSequence(
        rgb=np.empty((T, H, W, 3), np.uint8), label=np.empty((T, H, W), np.uint8),
        instance=np.empty((T, H, W), np.int32), flow=np.zeros((T, H, W, 2), np.float32),
        occlusion=np.ones((T, H, W), bool), foreground=np.empty((T, H, W), bool),
        meta=dict(seed=seed, camera_velocity=float(velocity), zoom_per_frame=float(zoom_rate),
                  roll_amplitude_degrees=float(np.degrees(roll_amp)), still_camera=still,
                  gains=gains.astype(np.float32),
                  objects=[dict(label=s.label, instance=s.instance, velocity=float(s.velocity))
                           for s in sprites]),
    )
    ys, xs = np.mgrid[0:H, 0:W].astype(np.float64)
    prev_layer, prev_A = None, None
    for t in range(T):
        A = [cam.matrix(t, cfg.parallax), cam.matrix(t)] + [cam.matrix(t) @ s.matrix(t) for s in sprites]
        A_inv = [np.linalg.inv(a) for a in A]
        # q = A_{t-1} A_t^{-1} p: where each layer's point at p sat in frame t-1 (identity at t = 0 and
        # for a layer that did not move, whose flow is then exactly 0).
        D = ([np.eye(3) if np.array_equal(pa, a) else pa @ ai
              for pa, a, ai in zip(prev_A, A, A_inv, strict=True)] if t > 0 else [np.eye(3)] * len(A))

        rgb = cv2.warpAffine(sky_rgb, A_inv[0][:2], (W, H), flags=_WARP_LINEAR,
                             borderMode=cv2.BORDER_REPLICATE)
        q = _apply(D[0], xs, ys)  # [2, H, W]
        label = cv2.warpAffine(street_label, A_inv[1][:2], (W, H), flags=_WARP_NEAREST,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        street = cv2.warpAffine(street_rgb, A_inv[1][:2], (W, H), flags=_WARP_LINEAR,
                                borderMode=cv2.BORDER_REPLICATE)
        covered = label > 0
        np.copyto(rgb, street, where=covered[..., None])
        np.copyto(q, _apply(D[1], xs, ys), where=covered)
        layer = covered.astype(np.int16)
        label[~covered] = SKY
        instance = label.astype(np.int32)  # stuff: instance id = label id
        for li, s in enumerate(sprites, start=2):
            box = _frame_box(A[li], s.mask.shape, H, W)
            if box is None:
                continue
            x0, y0, x1, y1 = box
            M = (A_inv[li] @ _similarity(tx=x0, ty=y0))[:2]  # box pixel -> sprite pixel
            m = cv2.warpAffine(s.mask, M, (x1 - x0, y1 - y0), flags=_WARP_NEAREST,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=0) > 0
            if not m.any():
                continue
            c = cv2.warpAffine(s.rgb, M, (x1 - x0, y1 - y0), flags=_WARP_LINEAR,
                               borderMode=cv2.BORDER_REPLICATE)
            rgb[y0:y1, x0:x1][m] = c[m]
            layer[y0:y1, x0:x1][m] = li
            label[y0:y1, x0:x1][m] = s.label
            instance[y0:y1, x0:x1][m] = s.instance
            np.copyto(q[:, y0:y1, x0:x1], _apply(D[li], xs[y0:y1, x0:x1], ys[y0:y1, x0:x1]), where=m)

        out.label[t], out.instance[t], out.foreground[t] = label, instance, layer >= 2
        rgb *= (255.0 * gains[t]).astype(np.float32)  # illumination drift
        np.clip(rgb + 0.5, 0, 255, out=rgb)
        out.rgb[t] = rgb
        if t > 0:
            out.flow[t, ..., 0] = q[0] - xs
            out.flow[t, ..., 1] = q[1] - ys
            out.occlusion[t] = _occlusion(q, layer, prev_layer)
        prev_layer, prev_A = layer, A
    return out


def _apply(D: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """``[2, h, w]``: the affine map ``D`` (3x3) applied to pixel coordinates ``xs, ys``."""
    return np.stack([D[0, 0] * xs + D[0, 1] * ys + D[0, 2], D[1, 0] * xs + D[1, 1] * ys + D[1, 2]])


def _frame_box(A: np.ndarray, shape: tuple[int, int], H: int, W: int) -> tuple[int, int, int, int] | None:
    """Frame pixel box ``(x0, y0, x1, y1)`` (end exclusive) that can show a sprite, or None if out of view."""
    h, w = shape
    corners = A @ np.array([[-1, w, -1, w], [-1, -1, h, h], [1, 1, 1, 1]], np.float64)
    x0, y0 = (max(int(np.floor(v)), 0) for v in corners[:2].min(axis=1))
    x1, y1 = (min(int(np.ceil(v)) + 1, n) for v, n in zip(corners[:2].max(axis=1), (W, H), strict=True))
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


def _occlusion(q: np.ndarray, layer: np.ndarray, prev_layer: np.ndarray) -> np.ndarray:
    """``bool [H, W]``: pixels of t whose source ``q`` (``[2, H, W]``, pixels of t-1) is not visible in t-1.

    Occluded when ``q`` is outside frame t-1 or when any pixel of the bilinear footprint of
    ``q`` (the up to four pixels with a non-zero weight) shows another layer than ``p`` does.
    """
    H, W = layer.shape
    eps = 1e-6  # a neighbour with a bilinear weight below eps does not count
    qx, qy = q
    occluded = (qx < -eps) | (qx > W - 1 + eps) | (qy < -eps) | (qy > H - 1 + eps)
    qx, qy = np.clip(qx, 0, W - 1), np.clip(qy, 0, H - 1)
    x0, x1 = np.floor(qx + eps).astype(np.intp), np.ceil(qx - eps).astype(np.intp)
    y0, y1 = np.floor(qy + eps).astype(np.intp) * W, np.ceil(qy - eps).astype(np.intp) * W
    np.clip(x1, 0, W - 1, out=x1)
    np.clip(y1, 0, (H - 1) * W, out=y1)
    prev, here = prev_layer.ravel(), layer.ravel()
    for yy, xx in ((y0, x0), (y0, x1), (y1, x0), (y1, x1)):  # flat indices: one take per neighbour
        occluded |= (np.take(prev, (yy + xx).ravel()) != here).reshape(H, W)
    return occluded


def write_dataset(
    root: str | os.PathLike,
    n_train: int = 8,
    n_test: int = 2,
    frames: int | None = None,
    height: int | None = None,
    width: int | None = None,
    seed: int = 0,
    *,
    config: SyntheticConfig | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> Path:
    """Write synthetic sequences in the official folder layout (:mod:`vid2vid.data.layout`).

    ``<root>/{train,test}_{A,B,inst}/seq_NNNN/NNNNN.png``, ``_flow/.../NNNNN.npy`` and
    ``_occ/.../NNNNN.png`` (no flow or occlusion file for frame 0), and ``<root>/synthetic.json``.
    Sequence ``i`` of split ``k`` (0 train, 1 test) is ``generate_sequence([seed, k, i], cfg)``:
    the same whatever the number of sequences.

    Args:
        frames, height, width: override the config's (defaults 30, 128, 256).
        config: the remaining settings (:class:`SyntheticConfig`).
        overwrite: replace an existing dataset; otherwise a non-empty ``root`` is refused.
        progress: show a tqdm progress bar.

    Returns:
        ``root`` as a :class:`~pathlib.Path`.
    """
    from tqdm import tqdm  # text, not a notebook widget: a saved notebook shows where it ended

    sizes = {k: v for k, v in (("frames", frames), ("height", height), ("width", width)) if v is not None}
    cfg = replace(config or SyntheticConfig(), **sizes)
    if n_train < 0 or n_test < 0:
        raise ValueError(f"sequence counts must be >= 0, found n_train={n_train}, n_test={n_test}")
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise NotADirectoryError(f"{root}: expected a folder for the dataset, found a file")
    if root.is_dir() and any(root.iterdir()):
        if not overwrite:
            raise FileExistsError(f"{root}: folder is not empty; choose an empty or new folder, or replace "
                                  "what is there with `python -m vid2vid synth --overwrite` "
                                  "(write_dataset(..., overwrite=True))")
        for split in ("train", "test"):  # remove only what this function writes
            for kind in layout.KINDS:
                shutil.rmtree(layout.kind_dir(root, split, kind), ignore_errors=True)
        (root / "synthetic.json").unlink(missing_ok=True)
    root.mkdir(parents=True, exist_ok=True)

    splits = (("train", n_train), ("test", n_test))
    bar = tqdm(total=(n_train + n_test) * cfg.frames, unit="frame", desc="synth", disable=not progress)
    for split_index, (split, n) in enumerate(splits):
        for i in range(n):
            seq = generate_sequence([seed, split_index, i], cfg)
            name = f"seq_{i:04d}"
            for t in range(cfg.frames):
                frame = f"{t:05d}"
                layout.write_label(layout.kind_dir(root, split, "A") / name / f"{frame}.png", seq.label[t])
                layout.write_rgb(layout.kind_dir(root, split, "B") / name / f"{frame}.png", seq.rgb[t])
                layout.write_instance(layout.kind_dir(root, split, "inst") / name / f"{frame}.png",
                                      seq.instance[t])
                if t > 0:
                    layout.write_flow(layout.kind_dir(root, split, "flow") / name / f"{frame}.npy",
                                      seq.flow[t])
                    layout.write_mask(layout.kind_dir(root, split, "occ") / name / f"{frame}.png",
                                      seq.occlusion[t])
                bar.update(1)
    bar.close()

    info = {
        "generator": "vid2vid.data.synthetic", "version": SYNTHETIC_VERSION, "seed": seed,
        "sequence_seed": "numpy.random.default_rng([seed, split_index, sequence_index]); "
                         "split_index 0 = train, 1 = test",
        "height": cfg.height, "width": cfg.width, "frames": cfg.frames,
        "train_sequences": n_train, "test_sequences": n_test,
        "labels": SYNTHETIC_LABELS, "label_nc": CITYSCAPES_LABEL_NC, "foreground": list(SYNTHETIC_FOREGROUND),
        "instance_ids": f"label * {INSTANCE_DIVISOR} + k for foreground classes, label elsewhere",
        "flow": "backward t -> t-1, pixels, float32 [H, W, 2] (dx, dy); no file for frame 0",
        "occlusion": "255 = pixel of t not visible in t-1; no file for frame 0",
        "config": asdict(cfg),
    }
    (root / "synthetic.json").write_text(json.dumps(info, indent=2) + "\n")
    return root
