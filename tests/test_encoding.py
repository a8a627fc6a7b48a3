"""The per-frame source encoding s_t: one-hot labels, instance edges, and the way back."""

import numpy as np
import pytest
import torch

from vid2vid.data.encoding import (
    decode_labels,
    encode_labels,
    image_to_tensor,
    instance_edges,
    one_hot,
    semantic_channels,
)
from vid2vid.data.labels import CITYSCAPES_LABEL_NC, LABEL_ID
from vid2vid.video import to_uint8


def _edges_by_loop(inst: np.ndarray) -> np.ndarray:
    """Reference: a pixel is an edge when any 4-neighbour has another id."""
    h, w = inst.shape
    out = np.zeros((h, w), np.float32)
    for y in range(h):
        for x in range(w):
            for ny, nx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
                if 0 <= ny < h and 0 <= nx < w and inst[ny, nx] != inst[y, x]:
                    out[y, x] = 1
    return out


def test_one_hot_has_one_channel_per_class_and_a_single_one_per_pixel():
    torch.manual_seed(0)
    ids = torch.randint(0, 7, (2, 5, 6))
    enc = one_hot(ids, 7)
    assert enc.shape == (2, 7, 5, 6) and enc.dtype == torch.float32
    torch.testing.assert_close(enc.sum(dim=1), torch.ones(2, 5, 6))
    assert torch.equal(enc.argmax(dim=1), ids)
    assert torch.equal(decode_labels(enc, 7), ids)


def test_one_hot_rejects_ids_outside_the_class_range_and_names_them():
    with pytest.raises(ValueError, match=r"\[0, 34\].*label_nc = 35.*found 35, 40"):
        one_hot(torch.tensor([[0, 35], [40, 3]]), 35)
    with pytest.raises(ValueError, match="found -1"):
        one_hot(torch.tensor([[-1, 2]]), 35)
    with pytest.raises(ValueError, match="integer label ids"):
        one_hot(torch.zeros(2, 2), 35)


def test_instance_edges_match_a_four_neighbour_loop():
    rng = np.random.default_rng(0)
    inst = rng.integers(0, 3, (6, 7))
    got = instance_edges(torch.from_numpy(inst))
    assert got.shape == (1, 6, 7)
    np.testing.assert_array_equal(got[0].numpy(), _edges_by_loop(inst))


def test_instance_edges_mark_both_sides_of_a_boundary_and_nothing_inside_a_region():
    inst = torch.zeros(1, 4, 6, dtype=torch.long)
    inst[..., 3:] = 26001  # a second car right of a first one (same class, other instance)
    edges = instance_edges(inst)[0, 0]
    assert edges[:, 2:4].eq(1).all()  # the two columns that meet
    assert edges[:, :2].eq(0).all() and edges[:, 4:].eq(0).all()
    assert instance_edges(torch.full((3, 5, 5), 7)).eq(0).all()  # one region: no edges


def test_encode_labels_appends_the_edge_channel_that_separates_touching_instances():
    label = torch.full((2, 4, 6), LABEL_ID["car"])
    inst = torch.full((2, 4, 6), 26000)
    inst[:, :, 3:] = 26001
    s = encode_labels(label, CITYSCAPES_LABEL_NC, inst)
    assert s.shape == (2, 36, 4, 6)  # the paper's 35 + 1 channels per frame
    assert torch.equal(s[:, :35], one_hot(label, 35))
    assert torch.equal(s[:, 35:], instance_edges(inst))
    assert s[:, 35].sum() > 0  # the labels alone are one uniform region; the edge map is not
    no_inst = encode_labels(label, CITYSCAPES_LABEL_NC, use_instance=False)
    assert no_inst.shape == (2, 35, 4, 6)


def test_encode_labels_requires_the_instance_map_when_asked_to_use_it():
    with pytest.raises(ValueError, match="needs an instance map"):
        encode_labels(torch.zeros(4, 4, dtype=torch.long), 35)
    with pytest.raises(ValueError, match="shape of the label map"):
        encode_labels(torch.zeros(4, 4, dtype=torch.long), 35, torch.zeros(4, 5, dtype=torch.long))


def test_semantic_channels_follow_the_reference_arithmetic():
    assert semantic_channels(35, True) == 36  # Cityscapes
    assert semantic_channels(35, False) == 35
    assert semantic_channels(0, False, input_nc=15) == 15  # face: continuous edge maps
    assert semantic_channels(0, True, input_nc=3) == 4


def test_images_round_trip_through_the_signed_range():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (5, 4, 3), dtype=np.uint8)
    x = image_to_tensor(rgb)
    assert x.shape == (3, 5, 4) and x.min() >= -1 and x.max() <= 1
    np.testing.assert_array_equal(to_uint8(x), rgb)
    grey = image_to_tensor(rgb[..., 0])
    assert grey.shape == (1, 5, 4)
    assert to_uint8(grey).shape == (5, 4, 3)
