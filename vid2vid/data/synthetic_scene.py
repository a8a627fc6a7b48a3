"""Textures and shapes of the synthetic street scenes (used by :mod:`vid2vid.data.synthetic`).

Everything here lives in *layer coordinates* (the pixels of one layer's canvas); the
transforms that place layers into frames are in ``synthetic.py``. Three kinds of layer:

- the **sky** canvas: a colour gradient with soft clouds, always fully covering;
- the **scene** canvas: buildings (with windows), vegetation, sidewalk and road (with lane
  markings) and a label canvas where 0 means "transparent, the sky shows through";
- **sprites**: one small canvas per car or person, with a hard coverage mask.

Colours are never a function of the class alone: every sequence draws a fresh colour per
class and a fresh luminance texture cut from one of scikit-image's bundled photographs,
and every car and person gets its own colours. With ``palette`` the sprites' parts (car body,
windows and lights; people's clothes) take fixed colours instead (:data:`FOREGROUND_PALETTE`):
the foreground then looks as its class says.
"""

from __future__ import annotations

import colorsys
import functools

import cv2
import numpy as np

from vid2vid.data.labels import LABEL_ID

__all__ = ["FOREGROUND_PALETTE", "PALETTE_JITTER", "SceneLayout", "build_scene", "build_sky", "car_sprite",
           "person_sprite", "source_luminance"]

ROAD, SIDEWALK, BUILDING = LABEL_ID["road"], LABEL_ID["sidewalk"], LABEL_ID["building"]
VEGETATION, SKY = LABEL_ID["vegetation"], LABEL_ID["sky"]

# Photographs bundled with scikit-image (no download): the luminance sources of the textures.
_SOURCES = ("brick", "grass", "gravel", "camera", "moon", "text", "page",
            "rocket", "coffee", "astronaut", "chelsea")
# Which photographs may texture which class (any of them works; these look the part).
_CLASS_SOURCES = {
    ROAD: ("gravel", "moon"),
    SIDEWALK: ("brick", "gravel", "camera"),
    BUILDING: ("brick", "camera", "text", "page", "rocket", "coffee", "astronaut", "chelsea"),
    VEGETATION: ("grass", "chelsea", "moon"),
    SKY: ("moon", "coffee", "camera"),
}
_SURFACE_SOURCES = ("gravel", "brick", "camera", "grass")
# Colour ranges per class: hue in degrees, saturation and value in [0, 1]; contrast is the
# relative amplitude of the luminance texture around the class colour.
_CLASS_COLOURS = {
    ROAD: dict(hue=(0, 360), sat=(0.0, 0.15), val=(0.22, 0.45), contrast=0.22),
    SIDEWALK: dict(hue=(0, 360), sat=(0.0, 0.3), val=(0.45, 0.75), contrast=0.25),
    BUILDING: dict(hue=(0, 360), sat=(0.05, 0.5), val=(0.35, 0.8), contrast=0.3),
    VEGETATION: dict(hue=(60, 160), sat=(0.3, 0.8), val=(0.25, 0.6), contrast=0.4),
    SKY: dict(hue=(170, 250), sat=(0.1, 0.6), val=(0.65, 0.9), contrast=0.12),
}
# One colour per foreground part (hue in degrees, saturation, value) for ``palette`` sprites: a red
# car with dark blue-grey windows and amber lights, a person in a teal top and dark blue trousers.
# Skin and wheels keep their usual draws (skin: a narrow range; wheels: always black).
FOREGROUND_PALETTE = {
    "car_body": (355.0, 0.7, 0.7),
    "car_window": (210.0, 0.25, 0.2),
    "car_light": (40.0, 0.5, 0.9),
    "person_top": (170.0, 0.6, 0.55),
    "person_legs": (225.0, 0.5, 0.35),
}
PALETTE_JITTER = (4.0, 0.04, 0.04)  # largest deviation from a palette colour: hue degrees, saturation, value


@functools.cache
def source_luminance(name: str) -> np.ndarray:
    """A bundled scikit-image photograph as grey ``float32 [h, w]`` in ``[0, 1]`` (cached)."""
    import skimage.data  # imported here: only data generation needs scikit-image

    img = np.asarray(getattr(skimage.data, name)())
    if img.ndim == 3:
        img = cv2.cvtColor(img[..., :3], cv2.COLOR_RGB2GRAY)
    img = img.astype(np.float32) / 255.0
    img.setflags(write=False)
    return img


def _hsv_rgb(rng: np.random.Generator, hue, sat, val, fixed: tuple[float, float, float] | None = None
             ) -> np.ndarray:
    """A random RGB colour ``float32 [3]`` in ``[0, 1]`` with hue (degrees), saturation, value in ranges.

    With ``fixed`` (hue, saturation, value), that colour within :data:`PALETTE_JITTER` instead: the
    same three draws set the jitter, so everything drawn after it is as without ``fixed``."""
    u = rng.uniform(*hue)
    if fixed is None:
        return np.array(colorsys.hsv_to_rgb((u % 360.0) / 360.0, rng.uniform(*sat), rng.uniform(*val)),
                        dtype=np.float32)
    hsv = []
    for x, (lo, hi), centre, jitter in zip((u, rng.uniform(*sat), rng.uniform(*val)), (hue, sat, val), fixed,
                                           PALETTE_JITTER, strict=True):
        f = (x - lo) / (hi - lo) if hi > lo else 0.5  # where the draw fell in its range, [0, 1)
        hsv.append(centre + jitter * (2.0 * f - 1.0))
    h, s, v = hsv
    return np.array(colorsys.hsv_to_rgb((h % 360.0) / 360.0, min(max(s, 0.0), 1.0), min(max(v, 0.0), 1.0)),
                    dtype=np.float32)


def _luminance_tile(rng: np.random.Generator, names: tuple[str, ...], shape: tuple[int, int],
                    scale: float) -> np.ndarray:
    """A zero-mean, unit-variance texture ``float32 [h, w]`` cut from a random photograph.

    The photograph is rescaled by ``scale`` times a random factor, flipped at random and
    mirror-tiled when the canvas is larger than it (mirroring leaves no seams).
    """
    src = source_luminance(names[rng.integers(len(names))])
    f = scale * rng.uniform(0.5, 1.3)
    img = cv2.resize(src, None, fx=f, fy=f, interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR)
    if rng.random() < 0.5:
        img = img[:, ::-1]
    h, w = shape
    img = np.pad(img, ((0, max(0, h - img.shape[0])), (0, max(0, w - img.shape[1]))), mode="symmetric")
    y0 = rng.integers(0, img.shape[0] - h + 1)
    x0 = rng.integers(0, img.shape[1] - w + 1)
    tile = img[y0:y0 + h, x0:x0 + w]
    tile = (tile - tile.mean()) / (tile.std() + 1e-3)
    return np.clip(tile, -2.5, 2.5).astype(np.float32)


def _textured(rng: np.random.Generator, names, shape, scale: float, colour: np.ndarray,
              contrast: float) -> np.ndarray:
    """``colour`` modulated by a photograph's luminance: ``float32 [h, w, 3]`` in ``[0, 1]``."""
    lum = _luminance_tile(rng, names, shape, scale)
    return np.clip(colour[None, None, :] * (1.0 + contrast * lum[..., None]), 0.0, 0.95)


class SceneLayout:
    """Rows of the street in scene-canvas pixels (the frame sees rows ``oy .. oy + H`` at zoom 1)."""

    def __init__(self, rng: np.random.Generator, frame_h: int, oy: float):
        self.sidewalk_top = oy + rng.uniform(0.5, 0.58) * frame_h  # foot of the buildings
        self.road_top = self.sidewalk_top + rng.uniform(0.08, 0.13) * frame_h
        self.bottom = oy + frame_h  # bottom row of the frame at zoom 1


def build_scene(rng: np.random.Generator, canvas_hw: tuple[int, int], frame_h: int,
                layout: SceneLayout, blur: float) -> tuple[np.ndarray, np.ndarray]:
    """The scene layer: label canvas ``uint8 [Ch, Cw]`` (0 = transparent) and ``float32 [Ch, Cw, 3]`` colours.

    Buildings of random widths and heights stand on the sidewalk with a grid of windows;
    trees fill some gaps and stand in front of some buildings; the road carries a dashed lane
    marking. The colour canvas is blurred by ``blur`` pixels (Gaussian sigma) so that bilinear
    resampling of a resampled frame stays close to a single resampling (warping is near-exact).
    """
    ch, cw = canvas_hw
    H = float(frame_h)
    label = np.zeros((ch, cw), np.uint8)
    yy = np.arange(ch)[:, None]
    xx = np.arange(cw)[None, :]
    sw, rt = int(round(layout.sidewalk_top)), int(round(layout.road_top))
    label[sw:rt] = SIDEWALK
    label[rt:] = ROAD
    windows = np.zeros((ch, cw), bool)

    trees: list[tuple[float, float]] = []  # (x centre, crown radius)
    x = -rng.uniform(0, 0.3) * H
    while x < cw:
        bw = rng.uniform(0.3, 0.8) * H
        x0, x1 = max(int(round(x)), 0), min(int(round(x + bw)), cw)
        top = int(round(layout.sidewalk_top - rng.uniform(0.15, 0.5) * H))
        top = max(top, 0)
        if x1 > x0:
            label[top:sw, x0:x1] = BUILDING
            # A grid of windows above the ground floor: darker, strong texture for the flow.
            px, py = rng.uniform(0.07, 0.12) * H, rng.uniform(0.08, 0.14) * H
            ww, wh = px * rng.uniform(0.35, 0.65), py * rng.uniform(0.35, 0.6)
            lo = int(layout.sidewalk_top - 0.1 * H)
            gx = ((xx[:, x0:x1] - x - 0.3 * px) % px) < ww
            gy = ((yy[top:lo] - top - 0.3 * py) % py) < wh
            if lo > top:
                windows[top:lo, x0:x1] |= gy & gx
                windows[top:top + max(1, int(0.03 * H)), x0:x1] = False
        if rng.random() < 0.3:
            trees.append((x + rng.uniform(0.2, 0.8) * bw, rng.uniform(0.07, 0.14) * H))
        x += bw
        if rng.random() < 0.4:  # a gap between buildings with a tree in it
            gap = rng.uniform(0.1, 0.3) * H
            trees.append((x + gap / 2, rng.uniform(0.08, 0.16) * H))
            x += gap

    for tx, r in trees:  # trunk and a crown of two or three discs, all labelled vegetation
        trunk_w = max(1, int(round(0.025 * H)))
        crown_y = layout.sidewalk_top - rng.uniform(0.18, 0.3) * H
        cv2.rectangle(label, (int(tx - trunk_w / 2), int(crown_y)), (int(tx + trunk_w / 2), sw),
                      VEGETATION, -1)
        for _ in range(rng.integers(2, 4)):
            cx, cy = tx + rng.uniform(-0.6, 0.6) * r, crown_y + rng.uniform(-0.5, 0.3) * r
            cv2.circle(label, (int(round(cx)), int(round(cy))), int(round(r * rng.uniform(0.7, 1.1))),
                       VEGETATION, -1)
    label[sw:rt] = SIDEWALK  # crowns never hang over the ground
    label[rt:] = ROAD

    scale = H / 128.0  # textures keep their look relative to the frame size
    rgb = np.zeros((ch, cw, 3), np.float32)
    for cls in (ROAD, SIDEWALK, BUILDING, VEGETATION):
        spec = _CLASS_COLOURS[cls]
        colour = _hsv_rgb(rng, spec["hue"], spec["sat"], spec["val"])
        tex = _textured(rng, _CLASS_SOURCES[cls], (ch, cw), scale, colour, spec["contrast"])
        sel = label == cls
        rgb[sel] = tex[sel]

    window_rgb = _hsv_rgb(rng, (180, 260), (0.1, 0.5), (0.08, 0.3))
    sel = windows & (label == BUILDING)
    if sel.any():  # windows keep the facade's texture, in their own darker colour
        shade = rgb[sel].mean(axis=-1, keepdims=True)
        rgb[sel] = window_rgb * shade / max(float(shade.mean()), 1e-3)
    # Dashed lane marking and a lighter kerb: high-contrast detail that moves with the road.
    lane_y = layout.road_top + rng.uniform(0.35, 0.6) * (layout.bottom - layout.road_top)
    thick = max(1.0, 0.02 * H)
    period, dash = rng.uniform(0.4, 0.7) * H, rng.uniform(0.4, 0.6)
    marking = (np.abs(yy - lane_y) < thick) & (((xx - rng.uniform(0, period)) % period) < dash * period)
    rgb[marking] = _hsv_rgb(rng, (40, 60), (0.0, 0.6), (0.8, 0.92))
    rgb[max(rt - max(1, int(0.02 * H)), 0):rt] *= 1.3
    rgb[label == 0] = rgb[label != 0].mean(axis=0)  # transparent pixels: never shown, kept neutral
    if blur > 0:
        rgb = cv2.GaussianBlur(rgb, (0, 0), blur)
    return label, np.clip(rgb, 0.0, 0.95)


def build_sky(rng: np.random.Generator, canvas_hw: tuple[int, int], frame_h: int,
              layout: SceneLayout, blur: float) -> np.ndarray:
    """The sky layer ``float32 [Ch, Cw, 3]``: a gradient that lightens toward the horizon, soft clouds."""
    ch, cw = canvas_hw
    spec = _CLASS_COLOURS[SKY]
    colour = _hsv_rgb(rng, spec["hue"], spec["sat"], spec["val"])
    clouds = _luminance_tile(rng, _CLASS_SOURCES[SKY], (ch, cw), frame_h / 128.0)
    clouds = cv2.GaussianBlur(clouds, (0, 0), 2.0 + frame_h / 64.0)
    clouds /= clouds.std() + 1e-3
    height = np.clip((layout.sidewalk_top - np.arange(ch, dtype=np.float32)) / frame_h, 0, 1)[:, None, None]
    white = np.ones(3, np.float32)
    base = colour + (white - colour) * 0.5 * (1.0 - height)  # paler near the horizon
    rgb = base * (1.0 + spec["contrast"] * clouds[..., None])
    if blur > 0:
        rgb = cv2.GaussianBlur(rgb, (0, 0), blur)
    return np.clip(rgb, 0.0, 0.95).astype(np.float32)


def _rounded_rect(mask: np.ndarray, x0: float, y0: float, x1: float, y1: float, r: float, value) -> None:
    """Fill a rectangle with rounded corners of radius ``r`` (pixel coordinates, inclusive)."""
    x0, y0, x1, y1 = (int(round(v)) for v in (x0, y0, x1, y1))
    r = int(max(0, min(round(r), (x1 - x0) // 2, (y1 - y0) // 2)))
    cv2.rectangle(mask, (x0 + r, y0), (x1 - r, y1), value, -1)
    cv2.rectangle(mask, (x0, y0 + r), (x1, y1 - r), value, -1)
    for cx, cy in ((x0 + r, y0 + r), (x1 - r, y0 + r), (x0 + r, y1 - r), (x1 - r, y1 - r)):
        cv2.circle(mask, (cx, cy), r, value, -1)


def _sprite_canvas(h: float, w: float, pad: int = 3) -> tuple[int, int, int]:
    return int(np.ceil(h)) + 2 * pad, int(np.ceil(w)) + 2 * pad, pad


def car_sprite(rng: np.random.Generator, length: float, blur: float, palette: bool = False
               ) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    """A car seen from the side, ``length`` pixels long; ``palette``: body, windows and lights in the
    colours of :data:`FOREGROUND_PALETTE` (the same draws, so the shape is the same either way).

    Returns the coverage mask ``uint8 [h, w]`` (1 = car), the colours ``float32 [h, w, 3]``
    and the anchor ``(x, y)``: the point between the wheels on the ground, about which the car
    scales when it approaches or recedes.
    """
    height = length * rng.uniform(0.36, 0.46)
    ch, cw, p = _sprite_canvas(height, length)
    mask = np.zeros((ch, cw), np.uint8)
    part = np.zeros((ch, cw), np.uint8)  # 1 body, 2 windows, 3 wheels, 4 lights
    body_top, body_bot = p + 0.42 * height, p + 0.86 * height
    _rounded_rect(mask, p, body_top, p + length, body_bot, 0.15 * height, 1)
    _rounded_rect(part, p, body_top, p + length, body_bot, 0.15 * height, 1)
    front = rng.uniform(0.15, 0.3)
    cabin = np.array([[p + front * length, body_top + 1], [p + (front + 0.12) * length, p + 0.05 * height],
                      [p + 0.72 * length, p + 0.05 * height], [p + 0.84 * length, body_top + 1]])
    cv2.fillConvexPoly(mask, np.round(cabin).astype(np.int32), 1)
    cv2.fillConvexPoly(part, np.round(cabin).astype(np.int32), 1)
    inner = cabin + np.array([[0.04, -0.02], [0.03, 0.06], [-0.03, 0.06], [-0.04, -0.02]]) * [length, height]
    cv2.fillConvexPoly(part, np.round(inner).astype(np.int32), 2)
    r = 0.15 * height
    for wx in (p + 0.2 * length, p + 0.8 * length):
        cv2.circle(mask, (int(round(wx)), int(round(body_bot))), int(round(r)), 1, -1)
        cv2.circle(part, (int(round(wx)), int(round(body_bot))), int(round(r)), 3, -1)
    light_x = p if rng.random() < 0.5 else p + length - 0.06 * length
    cv2.rectangle(part, (int(light_x), int(body_top + 0.1 * height)),
                  (int(light_x + 0.06 * length), int(body_top + 0.2 * height)), 4, -1)

    fixed = FOREGROUND_PALETTE if palette else {}
    body = _hsv_rgb(rng, (0, 360), (0.0, 0.9), (0.25, 0.9), fixed.get("car_body"))
    window = _hsv_rgb(rng, (180, 240), (0.1, 0.4), (0.1, 0.3), fixed.get("car_window"))
    light = _hsv_rgb(rng, (0, 60), (0.2, 0.8), (0.8, 0.95), fixed.get("car_light"))
    colours = np.stack([body, body, window, np.full(3, 0.08, np.float32), light])
    shade = 1.0 + 0.1 * _luminance_tile(rng, _SURFACE_SOURCES, (ch, cw), length / 64)
    rgb = colours[part] * shade[..., None]
    if blur > 0:
        rgb = cv2.GaussianBlur(rgb, (0, 0), blur)
    return mask, np.clip(rgb, 0, 0.95).astype(np.float32), (p + length / 2, body_bot + r)


def person_sprite(rng: np.random.Generator, height: float, blur: float, palette: bool = False
                  ) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    """A standing person ``height`` pixels tall: head, torso and two legs; ``palette``: clothes in the
    colours of :data:`FOREGROUND_PALETTE` (skin as without it).

    Returns the coverage mask ``uint8 [h, w]``, colours ``float32 [h, w, 3]`` and the anchor
    ``(x, y)`` between the feet.
    """
    width = 0.36 * height
    ch, cw, p = _sprite_canvas(height, width)
    mask = np.zeros((ch, cw), np.uint8)
    part = np.zeros((ch, cw), np.uint8)  # 1 torso, 2 head, 3 legs
    cx = p + width / 2
    legs_top = p + 0.52 * height
    for side in (-1, 1):
        x0 = cx + (0.015 * height if side > 0 else -0.135 * height)
        cv2.rectangle(mask, (int(round(x0)), int(round(legs_top))),
                      (int(round(x0 + 0.12 * height)), int(round(p + height))), 1, -1)
        cv2.rectangle(part, (int(round(x0)), int(round(legs_top))),
                      (int(round(x0 + 0.12 * height)), int(round(p + height))), 3, -1)
    for m, v in ((mask, 1), (part, 1)):
        _rounded_rect(m, cx - 0.16 * height, p + 0.18 * height, cx + 0.16 * height, p + 0.58 * height,
                      0.06 * height, v)
    for m, v in ((mask, 1), (part, 2)):
        cv2.ellipse(m, (int(round(cx)), int(round(p + 0.1 * height))),
                    (max(1, int(round(0.075 * height))), max(1, int(round(0.095 * height)))),
                    0, 0, 360, v, -1)

    skin = _hsv_rgb(rng, (15, 35), (0.25, 0.6), (0.3, 0.95))
    fixed = FOREGROUND_PALETTE if palette else {}
    colours = np.stack([np.zeros(3, np.float32),
                        _hsv_rgb(rng, (0, 360), (0.1, 0.9), (0.2, 0.9), fixed.get("person_top")), skin,
                        _hsv_rgb(rng, (0, 360), (0.0, 0.7), (0.1, 0.6), fixed.get("person_legs"))])
    colours[0] = colours[1]
    shade = 1.0 + 0.12 * _luminance_tile(rng, _SURFACE_SOURCES, (ch, cw), height / 64)
    rgb = colours[part] * shade[..., None]
    if blur > 0:
        rgb = cv2.GaussianBlur(rgb, (0, 0), blur)
    return mask, np.clip(rgb, 0, 0.95).astype(np.float32), (cx, p + height)
