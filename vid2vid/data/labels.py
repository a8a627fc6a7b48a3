"""Cityscapes label ids (``labelIds``), the vocabulary of the street-scene code paths.

The built-in synthetic dataset uses the same ids, so every Cityscapes code path
(one-hot encoding with ``label_nc = 35``, foreground classes, instance ids
``label_id * 1000 + k``) is exercised on it.
"""

from __future__ import annotations

# id: (name, has_instances)
CITYSCAPES_LABELS: dict[int, tuple[str, bool]] = {
    0: ("unlabeled", False), 1: ("ego vehicle", False), 2: ("rectification border", False),
    3: ("out of roi", False), 4: ("static", False), 5: ("dynamic", False), 6: ("ground", False),
    7: ("road", False), 8: ("sidewalk", False), 9: ("parking", False), 10: ("rail track", False),
    11: ("building", False), 12: ("wall", False), 13: ("fence", False), 14: ("guard rail", False),
    15: ("bridge", False), 16: ("tunnel", False), 17: ("pole", False), 18: ("polegroup", False),
    19: ("traffic light", False), 20: ("traffic sign", False), 21: ("vegetation", False),
    22: ("terrain", False), 23: ("sky", False), 24: ("person", True), 25: ("rider", True),
    26: ("car", True), 27: ("truck", True), 28: ("bus", True), 29: ("caravan", True),
    30: ("trailer", True), 31: ("train", True), 32: ("motorcycle", True), 33: ("bicycle", True),
    34: ("license plate", False),
}
CITYSCAPES_LABEL_NC = 35  # ids 0..34 (the paper's 35 semantic classes)
LABEL_ID = {name: i for i, (name, _) in CITYSCAPES_LABELS.items()}
# Classes that carry instances (person .. bicycle): the foreground, 1 - m_B.
CITYSCAPES_FOREGROUND: tuple[int, ...] = tuple(i for i, (_, inst) in CITYSCAPES_LABELS.items() if inst)
INSTANCE_DIVISOR = 1000  # instance id = label_id * 1000 + k for instance classes, else label_id

# A colour per id for drawing label maps (Cityscapes' palette for the common classes).
_PALETTE = {
    7: (128, 64, 128), 8: (244, 35, 232), 11: (70, 70, 70), 12: (102, 102, 156),
    13: (190, 153, 153), 17: (153, 153, 153), 19: (250, 170, 30), 20: (220, 220, 0),
    21: (107, 142, 35), 22: (152, 251, 152), 23: (70, 130, 180), 24: (220, 20, 60),
    25: (255, 0, 0), 26: (0, 0, 142), 27: (0, 0, 70), 28: (0, 60, 100), 31: (0, 80, 100),
    32: (0, 0, 230), 33: (119, 11, 32),
}


def label_palette(n: int = 256) -> list[tuple[int, int, int]]:
    """RGB colour for each label id ``0..n-1`` (unknown ids get a fixed pseudo-random colour)."""
    out = []
    for i in range(n):
        if i in _PALETTE:
            out.append(_PALETTE[i])
        else:
            out.append(((i * 37) % 256, (i * 91) % 256, (i * 53) % 256) if i else (0, 0, 0))
    return out
