"""Human preference score: the Wilson interval against hand-computed values, and the A/B study clips
(their order, its counterbalancing and per-comparison seed, and the key kept apart from the clips)."""

import csv

import av
import numpy as np
import pytest
import torch

from vid2vid.metrics import comparison_rng, make_ab_clips, preference_score, score_answers, wilson_interval


def test_wilson_interval_hand_computed_8_of_10():
    # z = 1.959964; centre = (0.8 + z^2/20) / (1 + z^2/10) = 0.71673;
    # half = z sqrt(0.016 + z^2/400) / (1 + z^2/10) = 0.22654  ->  (0.4902, 0.9433).
    low, high = wilson_interval(8, 10)
    assert (round(low, 3), round(high, 3)) == (0.490, 0.943)


def test_wilson_interval_edges():
    # 0 / n: (0, z^2 / (n + z^2)); n / n: the mirror image.
    z2 = 1.959964 ** 2
    low, high = wilson_interval(0, 10)
    assert low == 0.0 and high == pytest.approx(z2 / (10 + z2), rel=1e-5)
    low, high = wilson_interval(10, 10)
    assert high == 1.0 and low == pytest.approx(10 / (10 + z2), rel=1e-5)
    with pytest.raises(ValueError, match="n >= 1"):
        wilson_interval(0, 0)
    with pytest.raises(ValueError, match=r"\[0, 5\]"):
        wilson_interval(6, 5)


def test_wilson_interval_mirror_symmetry_and_confidence():
    for k in range(0, 21):
        low, high = wilson_interval(k, 20)
        m_low, m_high = wilson_interval(20 - k, 20)
        assert low == pytest.approx(1 - m_high) and high == pytest.approx(1 - m_low)
        assert low <= k / 20 <= high
    w95, w99 = wilson_interval(87, 100), wilson_interval(87, 100, confidence=0.99)
    assert w99[0] < w95[0] and w99[1] > w95[1]


def test_preference_score_from_choices():
    score = preference_score([True] * 8 + [False] * 2)
    assert score["fraction"] == 0.8 and score["n"] == 10
    assert (round(score["low"], 3), round(score["high"], 3)) == (0.490, 0.943)
    assert preference_score([1, 0, 1, 1])["fraction"] == 0.75
    with pytest.raises(ValueError, match="choice 2"):
        preference_score([1, 0, "left"])
    with pytest.raises(ValueError, match="n >= 1"):
        preference_score([])


def _decode(path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def test_ab_clips_key_matches_the_written_order(tmp_path):
    t, h, w = 4, 16, 24
    red = torch.zeros(t, 3, h, w) - 1
    red[:, 0] = 0.8  # method A: red
    green = torch.zeros(t, 3, h, w) - 1
    green[:, 1] = 0.8  # method B: green
    n = 8
    key = make_ab_clips([red] * n, [green] * n, tmp_path / "study", seed=3, names=("vid2vid", "pix2pixHD"),
                        gap=4)
    rows = list(csv.DictReader(open(key)))
    assert [int(r["clip"]) for r in rows] == list(range(n))
    assert sum(r["left"] == "vid2vid" for r in rows) == n // 2  # both orders occur, equally often
    assert {r["comparison"] for r in rows} == {"vid2vid vs pix2pixHD"}
    for r in rows:
        video = _decode(tmp_path / "study" / r["file"])
        assert video.shape == (t, h, 2 * w + 4, 3)
        left, right = video[:, :, : w - 2].mean(axis=(0, 1, 2)), video[:, :, w + 6:].mean(axis=(0, 1, 2))
        red_side = "left" if left[0] > left[1] else "right"
        assert r[red_side] == "vid2vid" and r["right" if red_side == "left" else "left"] == "pix2pixHD"
        assert (left[0] > left[1]) != (right[0] > right[1])
    # The same seed rebuilds the same study.
    again = make_ab_clips([red] * n, [green] * n, tmp_path / "again", seed=3, names=("vid2vid", "pix2pixHD"))
    assert [r["left"] for r in csv.DictReader(open(again))] == [r["left"] for r in rows]


def test_ab_clips_reject_mismatched_pairs(tmp_path):
    a = torch.zeros(4, 3, 8, 8)
    with pytest.raises(ValueError, match="as many A videos"):
        make_ab_clips([a, a], [a], tmp_path / "clips")
    with pytest.raises(ValueError, match="pair 0: A has 4 frames and B 3"):
        make_ab_clips(a, a[:3], tmp_path / "clips")


def test_score_answers_maps_sides_back_to_methods(tmp_path):
    a = np.zeros((2, 8, 8, 3), np.uint8)
    b = np.full((2, 8, 8, 3), 255, np.uint8)
    key = make_ab_clips([a] * 5, [b] * 5, tmp_path / "clips", seed=1)
    rows = list(csv.DictReader(open(key)))
    always_a = [("left" if r["left"] == "A" else "right") for r in rows]
    assert score_answers(key, always_a)["fraction"] == 1.0
    assert score_answers(key, always_a, method="B")["fraction"] == 0.0
    per_subject = {rows[0]["file"]: ["left", "right", "left"]}
    assert score_answers(key, per_subject)["n"] == 3
    with pytest.raises(ValueError, match="expected 'left' or 'right'"):
        score_answers(key, ["up"] * 5)


def _tiny_pairs(n: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``n`` pairs of 2-frame 8x8 videos: A black, B white."""
    return [np.zeros((2, 8, 8, 3), np.uint8)] * n, [np.full((2, 8, 8, 3), 255, np.uint8)] * n


def _a_left(key) -> list[bool]:
    return [r["left"] == "A" for r in csv.DictReader(open(key))]


def test_ab_clips_counterbalance_the_sides(tmp_path):
    a, b = _tiny_pairs(16)
    for seed in range(3):
        sides = _a_left(make_ab_clips(a, b, tmp_path / f"even{seed}", seed=seed))
        assert len(sides) == 16 and sum(sides) == 8
    # Odd counts: one side gets the extra clip, never more.
    counts = {sum(_a_left(make_ab_clips(a[:7], b[:7], tmp_path / f"odd{seed}", seed=seed)))
              for seed in range(6)}
    assert counts == {3, 4}
    # The order is shuffled, not alternating or blocked.
    sides = _a_left(make_ab_clips(a, b, tmp_path / "order", seed=0))
    assert sides not in ([True] * 8 + [False] * 8, [False] * 8 + [True] * 8, [i % 2 == 0 for i in range(16)],
                         [i % 2 == 1 for i in range(16)])


def test_ab_clips_order_depends_on_the_comparison_and_is_stable(tmp_path):
    a, b = _tiny_pairs(16)
    first = _a_left(make_ab_clips(a, b, tmp_path / "c1", seed=0, comparison="vid2vid vs pix2pixHD"))
    again = _a_left(make_ab_clips(a, b, tmp_path / "c2", seed=0, comparison="vid2vid vs pix2pixHD"))
    other = _a_left(make_ab_clips(a, b, tmp_path / "c3", seed=0, comparison="vid2vid vs COVST"))
    assert first == again and first != other
    # The default comparison is named after the methods, so two comparisons differ with one seed.
    by_names = _a_left(make_ab_clips(a, b, tmp_path / "c4", seed=0, names=("A", "B")))
    assert by_names == _a_left(make_ab_clips(a, b, tmp_path / "c5", seed=0, comparison="A vs B"))
    # A stable hash of the name, not Python's per-process salted hash(): the same order in every process.
    assert first == [bool(x) for x in EXPECTED_ORDER]
    name = "vid2vid vs pix2pixHD"
    assert comparison_rng(name, 1).random() != comparison_rng(name, 0).random()
    assert comparison_rng(name, 0).random() == comparison_rng(name, 0).random()


# make_ab_clips(16 pairs, seed=0, comparison="vid2vid vs pix2pixHD"): 1 = A on the left. A salted hash
# would change it from one process to the next.
EXPECTED_ORDER = [1, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1, 0]


def test_ab_clips_key_is_written_outside_the_clip_folder(tmp_path):
    a, b = _tiny_pairs(4)
    clips = tmp_path / "study" / "clips"
    key = make_ab_clips(a, b, clips)
    assert key == tmp_path / "study" / "clips_key" / "clips_key.csv"
    assert sorted(p.name for p in clips.iterdir()) == [f"clip_{i:04d}.mp4" for i in range(4)]
    chosen = make_ab_clips(a, b, tmp_path / "clips2", key_dir=tmp_path / "keys")
    assert chosen.parent == tmp_path / "keys" and chosen.is_file()
    assert not any(p.suffix == ".csv" for p in (tmp_path / "clips2").iterdir())
    answers = ["left" if left else "right" for left in _a_left(chosen)]
    assert score_answers(chosen, answers)["fraction"] == 1.0
    with pytest.raises(ValueError, match="outside the clip folder"):
        make_ab_clips(a, b, tmp_path / "clips3", key_dir=tmp_path / "clips3" / "key")
    with pytest.raises(ValueError, match="outside the clip folder"):
        make_ab_clips(a, b, tmp_path / "clips3", key_dir=tmp_path / "clips3")
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "key.csv").write_text("clip,file,left,right\n")
    with pytest.raises(ValueError, match="would reach the raters"):
        make_ab_clips(a, b, tmp_path / "old")


def test_ab_clips_number_of_clips(tmp_path):
    a, b = _tiny_pairs(20)
    key = make_ab_clips(a, b, tmp_path / "clips", n_clips=16)
    assert len(list(csv.DictReader(open(key)))) == 16
    assert len(list((tmp_path / "clips").iterdir())) == 16
    with pytest.raises(ValueError, match="n_clips = 16 clips asked for but only 10 pairs"):
        make_ab_clips(a[:10], b[:10], tmp_path / "few", n_clips=16)
    with pytest.raises(ValueError, match="n_clips must be >= 1"):
        make_ab_clips(a, b, tmp_path / "none", n_clips=0)


def test_score_answers_rejects_a_file_that_is_not_a_key(tmp_path):
    bad = tmp_path / "answers.csv"
    bad.write_text("clip,answer\n0,left\n")
    with pytest.raises(ValueError, match="not a clip key"):
        score_answers(bad, ["left"])
