"""The composition equation (paper and reference variants) and the background mask m_B."""

import pytest
import torch
from torch.testing import assert_close

from vid2vid.models.compose import (
    background_mask,
    background_mask_from_onehot,
    compose,
    hallucination,
)


def full(v: float, c: int = 3) -> torch.Tensor:
    return torch.full((1, c, 2, 2), v)


# warped = 0.2, h_F = -0.6, h_B = 0.8, m = 0.25 everywhere; m_B varies.
WARPED, H_F, H_B, M = full(0.2), full(-0.6), full(0.8), full(0.25, 1)


@pytest.mark.parametrize("m_B, paper, official", [
    # paper:    0.75 * 0.2 + 0.25 * ((1 - m_B) * -0.6 + m_B * 0.8)
    # official: (1 - m_B) * -0.6 + m_B * (0.75 * 0.2 + 0.25 * 0.8)
    (1.0, 0.15 + 0.25 * 0.8, 0.35),
    (0.0, 0.15 - 0.25 * 0.6, -0.6),
    (0.5, 0.15 + 0.25 * 0.1, -0.3 + 0.5 * 0.35),
])
def test_compose_matches_hand_computed_values(m_B, paper, official):
    mb = full(m_B, 1)
    assert_close(compose(WARPED, M, H_B, H_F, mb, "paper"), full(paper))
    assert_close(compose(WARPED, M, H_B, H_F, mb, "official"), full(official))


def test_mask_zero_copies_the_warped_frame_and_mask_one_hallucinates():
    warped, h_F, h_B = torch.rand(2, 3, 4, 4), torch.rand(2, 3, 4, 4), torch.rand(2, 3, 4, 4)
    m_B = (torch.rand(2, 1, 4, 4) > 0.5).float()
    zeros, ones = torch.zeros(2, 1, 4, 4), torch.ones(2, 1, 4, 4)
    h = (1 - m_B) * h_F + m_B * h_B
    assert_close(compose(warped, zeros, h_B, h_F, m_B, "paper"), warped)  # pure warp
    # the reference variant never warps the foreground
    assert_close(compose(warped, zeros, h_B, h_F, m_B, "official"), (1 - m_B) * h_F + m_B * warped)
    for variant in ("paper", "official"):
        assert_close(compose(warped, ones, h_B, h_F, m_B, variant), h)  # pure hallucination


def test_background_and_foreground_limits_of_m_B():
    warped, h_F, h_B = torch.rand(1, 3, 4, 4), torch.rand(1, 3, 4, 4), torch.rand(1, 3, 4, 4)
    m = torch.rand(1, 1, 4, 4)
    bg, fg = torch.ones(1, 1, 4, 4), torch.zeros(1, 1, 4, 4)
    for variant in ("paper", "official"):  # background: both mix warp and h_B
        assert_close(compose(warped, m, h_B, h_F, bg, variant), (1 - m) * warped + m * h_B)
    assert_close(compose(warped, m, h_B, h_F, fg, "paper"), (1 - m) * warped + m * h_F)
    assert_close(compose(warped, m, h_B, h_F, fg, "official"), h_F)


def test_without_warped_frame_or_foreground_branch():
    warped, h_F, h_B = torch.rand(1, 3, 4, 4), torch.rand(1, 3, 4, 4), torch.rand(1, 3, 4, 4)
    m, m_B = torch.rand(1, 1, 4, 4), torch.rand(1, 1, 4, 4)
    for variant in ("paper", "official"):
        assert_close(compose(None, m, h_B, h_F, m_B, variant), hallucination(h_B, h_F, m_B))
        assert_close(compose(warped, m, h_B, None, None, variant), (1 - m) * warped + m * h_B)
    assert torch.equal(hallucination(h_B), h_B)


def test_compose_rejects_missing_masks_and_unknown_variants():
    x = torch.rand(1, 3, 2, 2)
    with pytest.raises(ValueError, match="without the occlusion mask m"):
        compose(x, None, x)
    with pytest.raises(ValueError, match="without the background mask m_B"):
        compose(x, torch.rand(1, 1, 2, 2), x, h_F=x, variant="official")
    with pytest.raises(ValueError, match=r"one of \('paper', 'official'\), got 'mixed'"):
        compose(x, None, x, variant="mixed")


def test_background_mask_from_label_ids_and_from_one_hot_agree():
    ids = torch.tensor([[[7, 26, 24], [33, 23, 11]]])[:, None]  # [1, 1, 2, 3]
    fg_ids = range(24, 34)
    m_B = background_mask(ids, fg_ids)
    assert m_B.dtype == torch.float32 and m_B.shape == (1, 1, 2, 3)
    assert m_B.flatten().tolist() == [1, 0, 0, 0, 1, 1]
    onehot = torch.zeros(1, 36, 2, 3).scatter_(1, ids, 1.0)  # + an instance-edge channel (35)
    onehot[:, 35] = 1.0
    assert_close(background_mask_from_onehot(onehot, fg_ids), m_B)
    assert_close(background_mask(ids[:, 0], []), torch.ones(1, 1, 2, 3))
    with pytest.raises(ValueError, match="foreground id 40 is not a channel of the 36-channel"):
        background_mask_from_onehot(onehot, [40])
