"""The generator's per-frame input ``s_t``: one-hot labels plus the instance-boundary map.

For street scenes the paper conditions on semantic label maps (Cityscapes: 35 ids) and, as in
pix2pixHD, on an instance *edge* map that separates touching objects of one class (two cars
side by side share a label but not an instance id). One frame of ``s_t`` is therefore

    s_t = [ one_hot(label_t) (label_nc channels), edges(inst_t) (1 channel) ]   # 35 + 1 = 36

Without instances (``use_instance=False``, e.g. edge-to-face, pose) the edge channel is left out,
so the number of channels is ``label_nc + int(use_instance)`` (:func:`semantic_channels`),
the same arithmetic as the reference code.

:func:`decode_labels` goes back from ``s_t`` to ids, :func:`image_to_tensor` from an RGB frame to
the generator's ``[-1, 1]`` range. All functions accept any number of leading dimensions (``..``).
Pictures for display (ids in colour, tensors back to ``uint8``) are drawn by :mod:`vid2vid.video`
(``label_to_color``, ``to_uint8``), the display module; nothing in ``vid2vid.data`` needs them.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "semantic_channels", "one_hot", "instance_edges", "encode_labels", "decode_labels",
    "image_to_tensor",
]


def semantic_channels(label_nc: int, use_instance: bool, input_nc: int = 3) -> int:
    """Channels of one frame of ``s_t``: ``label_nc`` one-hot maps (or ``input_nc`` continuous
    maps when ``label_nc == 0``) plus one instance-edge channel when ``use_instance``."""
    return (label_nc if label_nc > 0 else input_nc) + int(use_instance)


def one_hot(label: torch.Tensor, label_nc: int) -> torch.Tensor:
    """One-hot encode label ids.

    Args:
        label: integer ids ``[.., H, W]`` in ``[0, label_nc)``.
        label_nc: number of classes (Cityscapes: 35).

    Returns:
        ``float32 [.., label_nc, H, W]`` in ``{0, 1}``, exactly one 1 per pixel.

    Raises:
        ValueError: naming the offending ids when some lie outside ``[0, label_nc)``
            (callers that know the file add it to the message).
    """
    if label_nc < 1:
        raise ValueError(f"label_nc must be >= 1 for one-hot labels, got {label_nc}")
    if label.is_floating_point() or label.dtype == torch.bool:
        raise ValueError(f"one_hot expects integer label ids, got dtype {label.dtype}")
    if label.numel():
        bad = (label < 0) | (label >= label_nc)
        if bool(bad.any()):
            ids = torch.unique(label[bad]).tolist()
            shown = ", ".join(str(i) for i in ids[:8]) + (", ..." if len(ids) > 8 else "")
            raise ValueError(f"label ids must lie in [0, {label_nc - 1}] (label_nc = {label_nc}); "
                             f"found {shown}")
    # F.one_hot appends the class axis last: move it in front of H, W.
    return F.one_hot(label.long(), label_nc).movedim(-1, -3).float()


def instance_edges(inst: torch.Tensor) -> torch.Tensor:
    """The instance-boundary map of pix2pixHD / vid2vid.

    A pixel is an edge pixel when its instance id differs from one of its 4-neighbours; both
    pixels of such a pair are marked, so a boundary is two pixels thick and symmetric.

    Args:
        inst: instance ids ``[.., H, W]`` (any dtype; ids are compared for equality).

    Returns:
        ``float32 [.., 1, H, W]`` in ``{0, 1}``.
    """
    edge = torch.zeros(inst.shape, dtype=torch.bool, device=inst.device)
    horizontal = inst[..., :, 1:] != inst[..., :, :-1]  # [.., H, W-1]: x differs from x+1
    vertical = inst[..., 1:, :] != inst[..., :-1, :]  # [.., H-1, W]: y differs from y+1
    edge[..., :, 1:] |= horizontal
    edge[..., :, :-1] |= horizontal
    edge[..., 1:, :] |= vertical
    edge[..., :-1, :] |= vertical
    return edge.unsqueeze(-3).float()


def encode_labels(
    label: torch.Tensor,
    label_nc: int,
    inst: torch.Tensor | None = None,
    use_instance: bool = True,
) -> torch.Tensor:
    """One frame (or many) of the semantic input ``s_t``: one-hot labels plus instance edges.

    Args:
        label: integer ids ``[.., H, W]`` in ``[0, label_nc)``.
        label_nc: number of classes.
        inst: instance ids ``[.., H, W]``; required when ``use_instance``.
        use_instance: append the instance-edge channel (the paper's Cityscapes input). When
            false no edge channel is added at all (not a channel of zeros), so the result has
            ``label_nc`` channels, as the reference code's ``no_instance`` option.

    Returns:
        ``float32 [.., label_nc + int(use_instance), H, W]`` in ``{0, 1}``.
    """
    maps = one_hot(label, label_nc)
    if not use_instance:
        return maps
    if inst is None:
        raise ValueError("use_instance=True needs an instance map (inst); pass use_instance=False "
                         "to encode labels without the instance-edge channel")
    if inst.shape != label.shape:
        raise ValueError(f"instance map {tuple(inst.shape)} must have the shape of the label map "
                         f"{tuple(label.shape)}")
    return torch.cat([maps, instance_edges(inst)], dim=-3)


def decode_labels(semantic: torch.Tensor, label_nc: int) -> torch.Tensor:
    """Back from one-hot (or per-class scores) to ids: argmax over the first ``label_nc``
    channels of ``[.., C, H, W]`` (an instance-edge channel after them is ignored).

    Returns:
        ``int64 [.., H, W]``.
    """
    if semantic.shape[-3] < label_nc:
        raise ValueError(f"expected at least label_nc = {label_nc} channels in dim -3, "
                         f"got shape {tuple(semantic.shape)}")
    return semantic[..., :label_nc, :, :].argmax(dim=-3)


def image_to_tensor(image: np.ndarray) -> torch.Tensor:
    """``uint8 [H, W, C]`` (or ``[H, W]``) to ``float32 [C, H, W]`` in ``[-1, 1]``
    (back: :func:`vid2vid.video.to_uint8`)."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got {image.dtype}")
    if image.ndim == 2:
        image = image[..., None]
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float() / 127.5 - 1.0
