"""Semantic manipulation (``python -m vid2vid edit``): exactly the chosen classes change, instance ids
follow the edit, the edited folder goes through ``generate``, and every mistake ends in a clear error."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from vid2vid.__main__ import main
from vid2vid.data.edit import ClassMap, dataset_classes, edit_labels, parse_map, relabel
from vid2vid.data.layout import (
    DataError,
    list_frames,
    read_instance,
    read_label,
    write_instance,
    write_label,
)

VEGETATION, BUILDING, ROAD, CAR, TRUCK, BUS = 21, 11, 7, 26, 27, 28


def _maps(folder: Path, read=read_label) -> list[np.ndarray]:
    return [read(folder / name) for name in list_frames(folder)]


def _layout(root: Path, labels: list[np.ndarray], insts: list[np.ndarray] | None = None,
            seq: str = "seq_0000") -> Path:
    """A hand-made test split ``<root>/test_A/<seq>`` (and ``test_inst``); returns the label folder."""
    for t, ids in enumerate(labels):
        write_label(root / "test_A" / seq / f"{t:05d}.png", ids)
        if insts is not None:
            write_instance(root / "test_inst" / seq / f"{t:05d}.png", insts[t])
    return root / "test_A" / seq


def _street(frames: int = 3) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Road with a car ``26000`` moving right and a truck ``27000``, under Cityscapes ids."""
    labels, insts = [], []
    for t in range(frames):
        ids = np.full((16, 24), ROAD, np.uint8)
        ids[:4] = VEGETATION
        ids[6:10, 2 + t:8 + t] = CAR
        ids[10:14, 14:20] = TRUCK
        inst = ids.astype(np.int32)
        inst[ids == CAR] = CAR * 1000
        inst[ids == TRUCK] = TRUCK * 1000
        labels.append(ids)
        insts.append(inst)
    return labels, insts


def _car_ids(inst_folder: Path) -> dict[int, int]:
    """Car instance id -> the number of frames it is in."""
    counts: dict[int, int] = {}
    for inst in _maps(inst_folder, read_instance):
        for v in np.unique(inst[inst // 1000 == CAR]):
            counts[int(v)] = counts.get(int(v), 0) + 1
    return counts


# ---------------------------------------------------------------------------- what changes


def test_a_mapping_changes_exactly_the_chosen_classes(tiny_data, tmp_path):
    seq = tiny_data / "test_A" / "seq_0000"
    report = edit_labels(seq, tmp_path / "out", "vegetation:building,26:27")
    before, after = _maps(seq), _maps(tmp_path / "out" / "test_A" / "seq_0000")
    assert len(after) == len(before) == 8
    for old, new in zip(before, after, strict=True):
        expected = np.where(old == VEGETATION, BUILDING, np.where(old == CAR, TRUCK, old))
        np.testing.assert_array_equal(new, expected)
    pixels = [sum(int((old == c).sum()) for old in before) for c in (VEGETATION, CAR)]
    assert [c.pixels for c in report.counts] == pixels and min(pixels) > 0
    assert [c.frames for c in report.counts] == [sum(bool((old == c).any()) for old in before)
                                                for c in (VEGETATION, CAR)]
    assert report.summary()[1] == f"  vegetation (21) -> building (11): {pixels[0]} pixels in " \
                                  f"{report.counts[0].frames} of 8 frames"


def test_mappings_apply_at_once_so_a_swap_swaps():
    label = np.array([[BUILDING, VEGETATION, ROAD]], np.uint8)
    maps = parse_map("11:21,21:11", dataset_classes("nowhere", 35))
    np.testing.assert_array_equal(relabel(label, maps), [[VEGETATION, BUILDING, ROAD]])
    where = np.array([[True, False, True]])
    np.testing.assert_array_equal(relabel(label, maps, where), [[VEGETATION, VEGETATION, ROAD]])


def test_names_ignore_case_spaces_and_underscores_and_an_edit_can_be_edited_again(tiny_data, tmp_path):
    classes = dataset_classes(tiny_data)
    assert parse_map("Traffic_Light:traffic-sign, vegetation : 11", classes) == [ClassMap(19, 20),
                                                                                 ClassMap(21, 11)]
    assert parse_map({"car": 28, 24: "rider"}, classes) == [ClassMap(CAR, BUS), ClassMap(24, 25)]
    edit_labels(tiny_data / "test_A" / "seq_0000", tmp_path / "once", "car:truck")
    edit_labels(tmp_path / "once" / "test_A" / "seq_0000", tmp_path / "twice", "truck:bus")
    info = json.loads((tmp_path / "twice" / "edit.json").read_text())
    assert info["map"] == [{"src": TRUCK, "dst": BUS}] and info["labels"]["bus"] == BUS
    twice = _maps(tmp_path / "twice" / "test_A" / "seq_0000")
    for old, new in zip(_maps(tiny_data / "test_A" / "seq_0000"), twice, strict=True):
        np.testing.assert_array_equal(new, np.where(old == CAR, BUS, old))


def test_a_prepared_dataset_gives_its_label_count_and_cityscapes_names_when_it_came_from_cityscapes(tmp_path):
    (tmp_path / "train.yaml").write_text("preset: tiny\ndata: {label_nc: 20, foreground_ids: []}\n"
                                         "model: {use_fg_prior: false}\n")
    classes = dataset_classes(tmp_path)  # labels of the user's own segmenter: ids only
    assert (classes.label_nc, classes.names) == (20, {})
    with pytest.raises(ValueError, match=r"class '25' is out of range: label ids lie in \[0, 19\] "
                                         r"\(label_nc = 20, from .*train\.yaml\)"):
        parse_map("7:25", classes)
    (tmp_path / "prepare.json").write_text(json.dumps({"kind": "segmentation",
                                                       "options": {"cityscapes": "/data/cityscapes"}}))
    assert parse_map("road:sidewalk", dataset_classes(tmp_path)) == [ClassMap(7, 8)]
    (tmp_path / "train.yaml").write_text("preset: tiny\ndata: {label_nc: 0, input_nc: 1, use_instance: "
                                         "false}\nmodel: {use_fg_prior: false}\n")
    with pytest.raises(DataError, match=r"train\.yaml: data\.label_nc = 0: the dataset's input maps are "
                                        r"continuous \(edges, poses\), not label ids"):
        dataset_classes(tmp_path)


def test_a_split_folder_is_edited_sequence_by_sequence(tiny_data, tmp_path):
    report = edit_labels(tiny_data / "train_A", tmp_path / "out", "vegetation:building")
    assert [p.relative_to(tmp_path / "out").as_posix() for p in report.sequences] == [
        "train_A/seq_0000", "train_A/seq_0001"]
    for seq in ("seq_0000", "seq_0001"):
        for old, new in zip(_maps(tiny_data / "train_A" / seq), _maps(tmp_path / "out" / "train_A" / seq),
                            strict=True):
            np.testing.assert_array_equal(new, np.where(old == VEGETATION, BUILDING, old))
    assert report.frames == 16


def test_a_folder_outside_the_layout_is_edited_into_out_itself(tmp_path):
    labels, _ = _street()
    for t, ids in enumerate(labels):
        write_label(tmp_path / "labels" / f"{t}.png", ids)
    report = edit_labels(tmp_path / "labels", tmp_path / "out", "26:28")
    assert report.sequences == [tmp_path / "out"] and report.instance_maps == "none"
    assert [np.array_equal(new, np.where(old == CAR, BUS, old))
            for old, new in zip(labels, _maps(tmp_path / "out"), strict=True)] == [True] * 3


# ---------------------------------------------------------------------------- instances


def test_instance_restriction_changes_only_that_instance(tiny_data, tmp_path):
    seq = tiny_data / "test_A" / "seq_0000"
    cars = _car_ids(tiny_data / "test_inst" / "seq_0000")
    assert len(cars) >= 2  # the test needs a car that stays a car
    chosen = max(cars, key=cars.get)  # the car seen in most frames
    report = edit_labels(seq, tmp_path / "out", "car:bus", instance=chosen)
    old_inst = _maps(tiny_data / "test_inst" / "seq_0000", read_instance)
    new_inst = _maps(tmp_path / "out" / "test_inst" / "seq_0000", read_instance)
    for old, new, inst, inst2 in zip(_maps(seq), _maps(tmp_path / "out" / "test_A" / "seq_0000"), old_inst,
                                     new_inst, strict=True):
        mine = inst == chosen
        np.testing.assert_array_equal(new, np.where(mine, BUS, old))
        np.testing.assert_array_equal(inst2, np.where(mine, BUS * 1000 + chosen % 1000, inst))
    assert report.counts[0].frames == cars[chosen] and report.counts[0].objects == 1
    assert report.summary()[0].endswith(f"instance {chosen} only -> {report.sequences[0]}")


def test_instance_ids_follow_the_new_class_one_id_per_object(tiny_data, tmp_path):
    edit_labels(tiny_data / "test_A" / "seq_0000", tmp_path / "out", "car:truck,vegetation:building")
    old_inst = _maps(tiny_data / "test_inst" / "seq_0000", read_instance)
    new_inst = _maps(tmp_path / "out" / "test_inst" / "seq_0000", read_instance)
    for old, new in zip(old_inst, new_inst, strict=True):
        car, tree = old // 1000 == CAR, old == VEGETATION
        np.testing.assert_array_equal(new[car], TRUCK * 1000 + old[car] % 1000)  # an object stays one
        assert (new[tree] == BUILDING).all()  # a region merges with the buildings beside it
        np.testing.assert_array_equal(new[~car & ~tree], old[~car & ~tree])


def test_an_object_id_already_taken_gets_the_first_free_one_in_every_frame(tmp_path):
    labels, insts = _street()
    seq = _layout(tmp_path / "data", labels, insts)
    report = edit_labels(seq, tmp_path / "out", "26:27")
    for old, new in zip(insts, _maps(tmp_path / "out" / "test_inst" / "seq_0000", read_instance),
                        strict=True):
        assert (new[old == CAR * 1000] == TRUCK * 1000 + 1).all()  # 27000 is the truck's
        assert (new[old == TRUCK * 1000] == TRUCK * 1000).all()
    assert report.counts[0].objects == 1
    # a swap: each keeps its k, since the other's id is freed
    edit_labels(seq, tmp_path / "swap", "26:27,27:26")
    for old, new in zip(insts, _maps(tmp_path / "swap" / "test_inst" / "seq_0000", read_instance),
                        strict=True):
        np.testing.assert_array_equal(new, np.where(old == CAR * 1000, TRUCK * 1000,
                                                    np.where(old == TRUCK * 1000, CAR * 1000, old)))


def test_instance_maps_of_another_convention_are_copied_unchanged(tmp_path):
    labels, _ = _street()
    insts = [(ids == CAR).astype(np.int32) * 5 + 1 for ids in labels]  # ids 1 and 6
    seq = _layout(tmp_path / "data", labels, insts)
    report = edit_labels(seq, tmp_path / "out", "26:28")
    for name in list_frames(tmp_path / "data" / "test_inst" / "seq_0000"):
        assert (tmp_path / "out" / "test_inst" / "seq_0000" / name).read_bytes() == \
               (tmp_path / "data" / "test_inst" / "seq_0000" / name).read_bytes()
    assert report.instance_maps.startswith("copied unchanged") and report.counts[0].objects == 0
    edit_labels(seq, tmp_path / "one", "26:28", instance=6)  # restriction still works
    for old, new in zip(labels, _maps(tmp_path / "one" / "test_A" / "seq_0000"), strict=True):
        np.testing.assert_array_equal(new, np.where(old == CAR, BUS, old))


# ---------------------------------------------------------------------------- command line and generate


def test_the_command_writes_the_edit_and_generate_accepts_it(tiny_data, tmp_path, capsys):
    from vid2vid.config import get_preset
    from vid2vid.models import build_generator
    from vid2vid.models.io import export_generator

    out = tmp_path / "edited"
    assert main(["edit", "--input", str(tiny_data / "test_A" / "seq_0000"), "--map", "21:11,car:truck",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == f"edited 1 sequence of 8 frames -> {out / 'test_A' / 'seq_0000'}"
    assert printed[1].startswith("  vegetation (21) -> building (11): ")
    assert printed[2].startswith("  car (26) -> truck (27): ") and printed[-1].startswith("next: python -m")
    for kind in ("B", "flow", "occ"):  # the sequence's other files, as they were
        src, dst = tiny_data / f"test_{kind}" / "seq_0000", out / f"test_{kind}" / "seq_0000"
        assert sorted(p.name for p in dst.iterdir()) == sorted(p.name for p in src.iterdir())
        assert all((dst / p.name).read_bytes() == p.read_bytes() for p in src.iterdir())

    cfg = get_preset("tiny")  # 35 labels + instance edges, 32 x 64: the tiny dataset's
    export_generator(tmp_path / "generator.pt", cfg, build_generator(cfg), step=0)
    video = tmp_path / "video"
    with warnings.catch_warnings():  # the instance maps are found beside the labels
        warnings.filterwarnings("error", message=".*no instance maps found")
        assert main(["generate", "--checkpoint", str(tmp_path / "generator.pt"), "--input",
                     str(out / "test_A" / "seq_0000"), "--out", str(video), "--max-frames", "2",
                     "--device", "cpu"]) == 0
    assert len(list_frames(video)) == 2


def test_overwrite_replaces_an_earlier_edit_and_only_that(tiny_data, tmp_path, capsys):
    seq, out = tiny_data / "test_A" / "seq_0000", tmp_path / "out"
    argv = ["edit", "--input", str(seq), "--map", "car:bus", "--out", str(out)]
    assert main(argv) == 0
    (out / "test_A" / "seq_0000" / "99999.png").write_bytes(b"stale")
    (out / "notes.txt").write_text("mine")
    capsys.readouterr()
    assert main(argv) == 2
    assert capsys.readouterr().err == (f"error: {out}: folder is not empty; choose an empty or new folder, "
                                       f"or replace what is there with `python -m vid2vid edit --overwrite` "
                                       f"(edit_labels(..., overwrite=True))\n")
    assert main([*argv, "--overwrite"]) == 0
    assert list_frames(out / "test_A" / "seq_0000") == list_frames(seq)
    assert (out / "notes.txt").read_text() == "mine"
    other = tmp_path / "dataset"  # not an earlier edit: --overwrite does not touch it
    (other / "test_A" / "seq_0000").mkdir(parents=True)
    with pytest.raises(FileExistsError, match=r"holds no earlier edit \(no edit\.json\); --overwrite "
                                              r"replaces only an earlier edit"):
        edit_labels(seq, other, "car:bus", overwrite=True)
    assert not list((other / "test_A" / "seq_0000").iterdir())


# ---------------------------------------------------------------------------- errors


@pytest.mark.parametrize("spec", ["21", "21:", ":11", "21:11:3", "", "21:11,,26:27", "21-11"])
def test_a_malformed_map_says_what_is_expected(spec):
    with pytest.raises(ValueError, match=r"is not SRC:DST; expected SRC:DST\[,SRC:DST\.\.\.\] with class "
                                         r"ids or names, e\.g\. '21:11,26:27'"):
        parse_map(spec, dataset_classes("nowhere", 35))


def test_an_unknown_class_name_suggests_the_close_ones(tiny_data):
    with pytest.raises(ValueError, match=r"map 'vegitation:building': unknown class 'vegitation', not "
                                         r"among the Cityscapes names of .*synthetic\.json; did you mean "
                                         r"'vegetation'\?"):
        parse_map("vegitation:building", dataset_classes(tiny_data))


def test_a_name_needs_a_dataset_that_names_its_classes(tmp_path):
    with pytest.raises(ValueError, match=rf"unknown class 'car': {tmp_path} names no classes .*; give class "
                                         rf"ids \[0, 255\]"):
        parse_map("car:27", dataset_classes(tmp_path))


def test_a_class_id_out_of_range_names_the_label_count_and_its_source(tiny_data):
    with pytest.raises(ValueError, match=r"map '21:40': class '40' is out of range: label ids lie in "
                                         r"\[0, 34\] \(label_nc = 35, from .*synthetic\.json\)"):
        parse_map("21:40", dataset_classes(tiny_data))
    with pytest.raises(ValueError, match=r"class 'vegetation' is out of range: .*\(label_nc = 20, as "
                                         r"given\)"):
        parse_map("vegetation:11", dataset_classes(tiny_data, label_nc=20))
    with pytest.raises(ValueError, match=r"class '-1' is out of range"):
        parse_map("-1:11", dataset_classes(tiny_data))


def test_a_class_mapped_twice_or_onto_itself_is_refused(tiny_data):
    classes = dataset_classes(tiny_data)
    with pytest.raises(ValueError, match=r"class car \(26\) is mapped twice \(to truck \(27\) and "
                                         r"bus \(28\)\)"):
        parse_map("car:truck,26:bus", classes)
    with pytest.raises(ValueError, match=r"maps class vegetation \(21\) onto itself"):
        parse_map("vegetation:21", classes)


def test_a_label_id_beyond_the_label_count_names_file_sequence_and_frame(tmp_path):
    labels, _ = _street()
    labels[2][0, 0] = 40
    seq = _layout(tmp_path / "data", labels)
    (tmp_path / "data" / "synthetic.json").write_text(json.dumps({"label_nc": 35}))
    with pytest.raises(DataError, match=rf"{seq / '00002.png'}: label ids must lie in \[0, 34\] "
                                        rf"\(label_nc = 35, from .*\), found \[40\] \(sequence 'seq_0000', "
                                        rf"frame 2\)"):
        edit_labels(seq, tmp_path / "out", "car:bus")
    assert not (tmp_path / "out").exists()  # checked before anything is written


def test_missing_or_wrong_input_folders_are_named(tiny_data, tmp_path, capsys):
    assert main(["edit", "--input", str(tmp_path / "nope"), "--map", "21:11", "--out",
                 str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err.startswith(f"error: {tmp_path / 'nope'}: input folder not found")
    with pytest.raises(DataError, match=r"a dataset root \(it holds test_A, train_A\); give one split "
                                        r"folder"):
        edit_labels(tiny_data, tmp_path / "o", "21:11")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"empty: no label maps found"):
        edit_labels(tmp_path / "empty", tmp_path / "o", "21:11")
    with pytest.raises(ValueError, match=r"overlaps --input"):
        edit_labels(tiny_data / "test_A" / "seq_0000", tiny_data, "21:11", overwrite=True)
    assert not (tmp_path / "o").exists()


def test_an_instance_that_is_not_there_lists_the_sequence_objects(tiny_data, tmp_path, capsys):
    seq = tiny_data / "test_A" / "seq_0000"
    argv = ["edit", "--input", str(seq), "--map", "car:bus", "--out", str(tmp_path / "o"),
            "--instance", "26999"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {tiny_data / 'test_inst' / 'seq_0000'}: instance 26999 is not in any of "
                          f"the 8 instance maps of sequence 'seq_0000' (its objects: ")
    assert err.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_an_instance_needs_one_sequence_its_instance_maps_and_a_mapped_class(tiny_data, tmp_path):
    with pytest.raises(ValueError, match=r"instance 26000 names one object of one sequence, but .* holds 2 "
                                         r"sequences"):
        edit_labels(tiny_data / "train_A", tmp_path / "o", "car:bus", instance=26000)
    labels, _ = _street()
    seq = _layout(tmp_path / "data", labels)
    with pytest.raises(DataError, match=r"instance 26000 needs the sequence's instance maps, found none "
                                        r"\(expected .*test_inst/seq_0000\)"):
        edit_labels(seq, tmp_path / "o", "26:28", instance=26000)
    car = max(_car_ids(tiny_data / "test_inst" / "seq_0000"))
    with pytest.raises(ValueError, match=rf"instance {car} of sequence 'seq_0000' is class car \(26\); the "
                                         rf"map changes only vegetation \(21\)"):
        edit_labels(tiny_data / "test_A" / "seq_0000", tmp_path / "o", "vegetation:building", instance=car)
    assert not (tmp_path / "o").exists()


def test_the_command_line_refuses_a_bad_instance_id(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["edit", "--input", "x", "--map", "1:2", "--out", str(tmp_path / "o"), "--instance", "-3"])
    assert exit_.value.code == 2
    assert "argument --instance: expected an instance id in [0, 65535], got '-3'" in capsys.readouterr().err
