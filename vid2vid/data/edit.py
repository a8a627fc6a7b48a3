"""Semantic manipulation: rewrite the classes of a label-map sequence, then re-synthesise the video.

The paper's semantic manipulation results (Wang et al. 2018, section 4, "Semantic manipulation": a
Cityscapes video re-synthesised after its label maps were edited, e.g. trees turned into buildings)
change nothing in the model: a generator trained on label-to-video is given *edited* label maps
``s_1^T`` and makes the video they describe. Label maps are easy to edit (rewrite one class id as
another) and the edit is as stable over time as the maps are: the same objects change in every
frame, keep their outlines and their motion, so the new video is as temporally coherent as the
original. This module makes the edited maps; ``python -m vid2vid generate`` does the rest::

    report = edit_labels("data/synthetic/test_A/seq_0000", "data/edited", "vegetation:building,sidewalk:road")
    print("\\n".join(report.summary()))
    # python -m vid2vid generate --checkpoint <run>/generator.pt --input data/edited/test_A/seq_0000 ...

The generator draws well only the classes it was trained on: a synthetic-dataset model knows road,
sidewalk, building, vegetation, sky, person and car (:data:`vid2vid.data.synthetic.SYNTHETIC_LABELS`);
a truck there comes out of a one-hot channel that training never switched on.

The mapping (:func:`parse_map`): ``SRC:DST[,SRC:DST...]`` or a dict ``{SRC: DST}``, each class an id
or, where the dataset names its classes (:func:`dataset_classes`: the synthetic dataset and prepared
Cityscapes data use the Cityscapes ``labelIds`` names), a name. All pairs apply at once to the input
ids, so ``11:21,21:11`` swaps buildings and vegetation. With ``instance``, only the pixels of that
one instance change: one id of the instance maps, the same object in every frame of the sequence.

Instance maps give the generator the instance-edge channel (object outlines). Where they follow the
Cityscapes convention (``label * 1000 + k`` for an object, ``label`` for a region; the synthetic
dataset and Cityscapes' ``instanceIds`` do), the ids of the changed pixels are rewritten to stay
true to it: a region stays a region of the new class (trees turned into buildings merge with the
buildings beside them; no outline is left where the trees were), an object stays an object of the
new class (car ``26003`` becomes truck ``27003``, or ``27000 + k`` with the first free ``k`` when
that id is taken), with one new id per object for the whole sequence, so every object keeps one
id across frames. Instance maps of another convention are copied unchanged (their outlines stay).

Input and output (:func:`edit_labels`): one sequence folder of label PNGs (``<root>/test_A/seq``)
or a split folder of sequences (``<root>/test_A``: all of them). The output mirrors the input
below the dataset root: ``<out>/test_A/<seq>`` with the sequence's other files beside it as the
layout (:mod:`vid2vid.data.layout`) has them: ``<out>/test_inst/<seq>`` (rewritten as above) and,
copied as they are, the real frames ``_B``, flows ``_flow``, occlusion masks ``_occ`` and keypoints
``_keypoints``: generate finds the instance maps as it does in any dataset, and ``--real`` shows
the original frames beside the edited video. A folder outside the layout (its parent is not
``<split>_A``) has no such files: its edited maps go to ``<out>`` itself (a split folder's to
``<out>/<seq>``). ``<out>/edit.json`` records the edit and the class names, so that the edited
dataset can be edited again by name.
"""

from __future__ import annotations

import difflib
import json
import os
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vid2vid.data.labels import CITYSCAPES_LABELS, INSTANCE_DIVISOR
from vid2vid.data.layout import (
    DataError,
    frame_key,
    list_frames,
    list_sequences,
    read_instance,
    read_label,
    write_instance,
    write_label,
)

__all__ = ["SIBLINGS", "ClassMap", "EditReport", "LabelClasses", "MappingCount", "dataset_classes",
           "edit_labels", "parse_map", "relabel"]

# The other per-frame folders of a sequence (<root>/<split>_<kind>/<seq>), copied as they are: real
# frames, backward flows, occlusion masks, OpenPose keypoints (vid2vid.data.folder.keypoints_dir).
SIBLINGS = ("B", "flow", "occ", "keypoints")
_WRITTEN = ("A", "inst", *SIBLINGS)  # every kind folder an edit writes for a sequence
_MAX_ID = 255  # label maps are 8-bit
_MAX_INSTANCE = 65535  # instance maps are 16-bit


@dataclass(frozen=True)
class LabelClasses:
    """A dataset's class vocabulary: how many label ids it has and, when it says, their names."""

    label_nc: int  # valid ids are 0 .. label_nc - 1
    names: dict[str, int] = field(default_factory=dict)  # name -> id; empty: ids only
    counted: str = ""  # where label_nc comes from ("from data/synthetic/synthetic.json"), for messages
    named: str = ""  # where the names come from, or why there are none, for messages

    def name(self, i: int) -> str | None:
        """The name of id ``i``, None when unnamed."""
        return next((n for n, j in self.names.items() if j == i), None)

    def describe(self, i: int) -> str:
        """``"vegetation (21)"``, or ``"21"`` when the id has no name."""
        name = self.name(i)
        return f"{name} ({i})" if name else str(i)

    def range(self) -> str:
        """``"[0, 34] (label_nc = 35, from .../synthetic.json)"``: the valid ids and why."""
        return f"[0, {self.label_nc - 1}] (label_nc = {self.label_nc}, {self.counted})"

    def resolve(self, token: int | str, spec: str) -> int:
        """The id of one side of a mapping: an id in ``[0, label_nc)`` or a known name (case, ``_``
        and ``-`` ignored: ``traffic_light`` is ``traffic light``); ValueError naming ``spec``."""
        text = str(token).strip()
        try:
            i = int(text)
        except ValueError:
            by_key = {_name_key(n): j for n, j in self.names.items()}
            if _name_key(text) not in by_key:
                if not self.names:
                    raise ValueError(f"map {spec!r}: unknown class {text!r}: {self.named}; give class ids "
                                     f"{self.range()}") from None
                close = difflib.get_close_matches(_name_key(text), list(by_key), n=3, cutoff=0.6)
                hint = (f"did you mean {', '.join(map(repr, close))}?" if close
                        else f"known: {', '.join(self.names)}")
                raise ValueError(f"map {spec!r}: unknown class {text!r}, not among {self.named}; "
                                 f"{hint}") from None
            i = by_key[_name_key(text)]
        if not 0 <= i < self.label_nc:
            raise ValueError(f"map {spec!r}: class {text!r} is out of range: label ids lie in {self.range()}")
        return i


def _name_key(name: str) -> str:
    return " ".join(name.lower().replace("_", " ").replace("-", " ").split())


def _cityscapes_names(label_nc: int) -> dict[str, int]:
    return {name: i for i, (name, _) in CITYSCAPES_LABELS.items() if i < label_nc}


def dataset_classes(root: str | os.PathLike, label_nc: int | None = None) -> LabelClasses:
    """The vocabulary of the dataset at ``root`` (the folder above ``<split>_A``), from the first of:

    * ``edit.json`` (an edited dataset): its ``label_nc`` and ``labels`` (name -> id);
    * ``synthetic.json`` (``python -m vid2vid synth``): its ``label_nc``, and the Cityscapes names,
      whose ids the synthetic dataset uses (:mod:`vid2vid.data.labels`);
    * ``train.yaml`` (``python -m vid2vid prepare``): its ``data.label_nc``, and the Cityscapes names
      when ``prepare.json`` says the labels came from Cityscapes (``prepare segmentation --cityscapes``);
    * none: ids only, any 8-bit id (``label_nc`` 256).

    ``label_nc`` overrides the dataset's count (``--label-nc``). A dataset of continuous input maps
    (``label_nc = 0``: edges, poses) has no classes to edit: :class:`DataError`.
    """
    if label_nc is not None and not 1 <= label_nc <= _MAX_ID + 1:
        raise ValueError(f"label_nc must lie in [1, {_MAX_ID + 1}] (label maps are 8-bit), got {label_nc}")
    root = Path(root)
    unnamed = f"{root} names no classes (no edit.json or synthetic.json, no Cityscapes prepare.json)"
    if (root / "edit.json").is_file():
        path = root / "edit.json"
        info = _read_json(path)
        n, labels = info.get("label_nc"), info.get("labels") or {}
        if not isinstance(n, int) or not 1 <= n <= _MAX_ID + 1 or not isinstance(labels, dict):
            raise DataError(f"{path}: expected \"label_nc\" (1..{_MAX_ID + 1}) and \"labels\" (name: id), "
                            f"found label_nc {n!r}")
        found = LabelClasses(n, {str(k): int(v) for k, v in labels.items()}, f"from {path}",
                             f"the names in {path}" if labels else unnamed)
    elif (root / "synthetic.json").is_file():
        path = root / "synthetic.json"
        n = int(_read_json(path).get("label_nc", 35))
        found = LabelClasses(n, _cityscapes_names(n), f"from {path}", f"the Cityscapes names of {path}")
    elif (root / "train.yaml").is_file():
        from vid2vid.config import Config

        path = root / "train.yaml"
        n = Config.from_yaml(path).data.label_nc
        if n == 0:
            raise DataError(f"{path}: data.label_nc = 0: the dataset's input maps are continuous (edges, "
                            f"poses), not label ids; edit rewrites label classes")
        prepared = _read_json(root / "prepare.json") if (root / "prepare.json").is_file() else {}
        options = prepared.get("options") or {}
        cityscapes = prepared.get("kind") == "segmentation" and options.get("cityscapes")
        found = LabelClasses(n, _cityscapes_names(n) if cityscapes else {}, f"from {path}",
                             f"the Cityscapes names of {root / 'prepare.json'}" if cityscapes else unnamed)
    else:
        found = LabelClasses(_MAX_ID + 1, {}, "any 8-bit id; --label-nc sets the count", unnamed)
    if label_nc is not None:
        found = LabelClasses(label_nc, found.names, "as given", found.named)
    return found


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataError(f"{path}: unreadable JSON ({err})") from err
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object, found {type(data).__name__}")
    return data


@dataclass(frozen=True)
class ClassMap:
    """One rewrite: every pixel of class ``src`` becomes ``dst``."""

    src: int
    dst: int


def parse_map(spec: str | Mapping[int | str, int | str], classes: LabelClasses) -> list[ClassMap]:
    """``"SRC:DST[,SRC:DST...]"`` (or ``{SRC: DST}``) as :class:`ClassMap` s, each side an id or a name
    of ``classes``. A malformed pair, an unknown or out-of-range class, a class mapped twice or onto
    itself raises ValueError naming the mapping."""
    expected = "expected SRC:DST[,SRC:DST...] with class ids or names, e.g. '21:11,26:27'"
    if isinstance(spec, Mapping):
        text = ",".join(f"{s}:{d}" for s, d in spec.items())
        pairs = list(spec.items())
    elif isinstance(spec, str):
        text = spec
        pairs = []
        for part in spec.split(","):
            sides = part.split(":")
            if len(sides) != 2 or not all(s.strip() for s in sides):
                raise ValueError(f"map {spec!r}: {part.strip()!r} is not SRC:DST; {expected}")
            pairs.append((sides[0], sides[1]))
    else:
        raise ValueError(f"map {spec!r}: {expected} (or a dict {{SRC: DST}})")
    if not pairs:
        raise ValueError(f"map {text!r}: no mapping given; {expected}")
    maps: list[ClassMap] = []
    for src, dst in pairs:
        m = ClassMap(classes.resolve(src, text), classes.resolve(dst, text))
        if m.src == m.dst:
            raise ValueError(f"map {text!r}: maps class {classes.describe(m.src)} onto itself")
        twice = next((o for o in maps if o.src == m.src), None)
        if twice is not None:
            raise ValueError(f"map {text!r}: class {classes.describe(m.src)} is mapped twice (to "
                             f"{classes.describe(twice.dst)} and {classes.describe(m.dst)})")
        maps.append(m)
    return maps


def relabel(label: np.ndarray, maps: list[ClassMap], where: np.ndarray | None = None) -> np.ndarray:
    """Label ids ``uint8 [H, W]`` with every mapping applied at once (a swap swaps), only where
    ``where`` (``bool [H, W]``) is true when given; a new array, every other pixel as it was."""
    lut = np.arange(_MAX_ID + 1, dtype=np.uint8)  # id -> new id
    for m in maps:
        lut[m.src] = m.dst
    out = lut[label]
    return out if where is None else np.where(where, out, label)


@dataclass
class MappingCount:
    """What one mapping changed: ``pixels`` over ``frames`` frames, ``objects`` instance ids."""

    src: int
    dst: int
    pixels: int = 0
    frames: int = 0
    objects: int = 0  # distinct object ids (label * 1000 + k) whose class changed


@dataclass
class EditReport:
    """What :func:`edit_labels` wrote."""

    out: Path  # the output root
    sequences: list[Path]  # the edited label folders (generate's --input)
    frames: int  # frames edited, all sequences
    counts: list[MappingCount]  # one per mapping, in the order given
    classes: LabelClasses
    instance: int | None = None  # the one instance edited, None: every pixel of the classes
    instance_maps: str = "none"  # how the instance maps were written
    copied: tuple[str, ...] = ()  # the kinds copied as they are (B, flow, ...)

    def summary(self) -> list[str]:
        """A few lines for the terminal: per mapping, the pixels and frames it changed."""
        n = len(self.sequences)
        where = self.sequences[0] if n == 1 else self.out
        only = f", instance {self.instance} only" if self.instance is not None else ""
        what = "1 sequence of" if n == 1 else f"{n} sequences,"
        lines = [f"edited {what} {self.frames} frames{only} -> {where}"]
        for c in self.counts:
            what = f"{self.classes.describe(c.src)} -> {self.classes.describe(c.dst)}"
            if c.pixels == 0:
                lines.append(f"  {what}: nothing changed (no pixel of {self.classes.describe(c.src)})")
                continue
            objects = f" ({c.objects} object{'s' * (c.objects != 1)})" if c.objects else ""
            lines.append(f"  {what}: {c.pixels} pixels in {c.frames} of {self.frames} frames{objects}")
        if self.instance_maps != "none":
            lines.append(f"instance maps: {self.instance_maps}")
        if self.copied:
            lines.append(f"copied as they are: {', '.join(self.copied)}")
        return lines


@dataclass(frozen=True)
class _Job:
    """One sequence to edit: where its files are and where they go."""

    name: str
    labels: Path  # label maps
    frames: tuple[str, ...]  # label files, in time order
    inst: Path | None  # instance maps, when there are any
    siblings: dict[str, Path]  # kind -> sequence folder copied as it is
    out: dict[str, Path]  # kind ("A", "inst", siblings) -> output sequence folder
    clear: tuple[Path, ...]  # what --overwrite removes first: every kind's folder of this sequence


def _locate(src: Path, out: Path) -> tuple[Path, bool, list[_Job]]:
    """The dataset root (the folder above ``<split>_A``; ``src`` itself outside the layout), whether
    ``src`` is in the layout, and its sequences."""
    if not src.exists():
        raise DataError(f"{src}: input folder not found (expected a sequence folder of label maps, e.g. "
                        f"test_A/seq_0000, or a split folder of sequences, e.g. test_A)")
    if not src.is_dir():
        raise DataError(f"{src}: expected a folder of label maps, found a file")
    if list_frames(src):
        folders, kinds = [src], src.parent
    else:
        names = list_sequences(src)
        splits = [n for n in names if n.endswith("_A") and len(n) > 2]
        if splits:
            raise DataError(f"{src}: a dataset root (it holds {', '.join(splits)}); give one split folder, "
                            f"e.g. {src / splits[-1]}, or one of its sequences")
        if not names:
            raise DataError(f"{src}: no label maps found{_npy_hint(src)} (expected .png label maps, or "
                            f"sequence folders of them)")
        folders, kinds = [src / n for n in names], src
    layout = kinds.name.endswith("_A") and len(kinds.name) > 2  # <root>/<split>_A/<sequence>
    root, split = (kinds.parent if layout else src), kinds.name[:-2]
    jobs = []
    for folder in folders:
        frames = tuple(list_frames(folder))
        if not frames:
            raise DataError(f"{folder}: no label maps found in sequence {folder.name!r}{_npy_hint(folder)}")
        if layout:
            where = {kind: root / f"{split}_{kind}" / folder.name for kind in _WRITTEN}
            inst = where["inst"] if where["inst"].is_dir() else None
            siblings = {kind: where[kind] for kind in SIBLINGS if where[kind].is_dir()}
            every = {kind: out / f"{split}_{kind}" / folder.name for kind in _WRITTEN}
            outs = {kind: every[kind] for kind in ("A", *(["inst"] if inst else []), *siblings)}
            clear = tuple(every.values())
        else:
            inst, siblings = None, {}
            outs = {"A": out if folder == src else out / folder.name}
            clear = () if folder == src else (outs["A"],)
        jobs.append(_Job(folder.name, folder, frames, inst, siblings, outs, clear))
    return root, layout, jobs


def _npy_hint(folder: Path) -> str:
    if list_frames(folder, (".npy",)):
        return " (it holds .npy files: continuous input maps, not label ids)"
    return ""


@dataclass
class _Scan:
    """Pass 1 over one sequence: what would change, checked before anything is written."""

    counts: list[MappingCount]
    objects: list[set[int]]  # per mapping: object ids whose class changes
    follows_convention: bool = True  # instance ids are label * 1000 + k, or label
    kept: set[int] = field(default_factory=set)  # instance ids at unchanged pixels
    moving: dict[int, int] = field(default_factory=dict)  # object id -> its new class
    instance_found: bool = False
    instance_classes: set[int] = field(default_factory=set)


def _read_ids(path: Path, job: _Job, t: int, classes: LabelClasses) -> np.ndarray:
    label = read_label(path)
    if label.size and int(label.max()) >= classes.label_nc:
        bad = sorted(int(v) for v in np.unique(label[label >= classes.label_nc]))
        raise DataError(f"{path}: label ids must lie in {classes.range()}, found {bad[:8]} (sequence "
                        f"{job.name!r}, frame {t})")
    return label


def _inst_names(job: _Job) -> list[str] | None:
    """The instance map of every label frame, paired by frame name (:func:`frame_key`)."""
    if job.inst is None:
        return None
    by_key = {frame_key(n): n for n in list_frames(job.inst)}
    for t, name in enumerate(job.frames):
        if frame_key(name) not in by_key:
            raise DataError(f"{job.inst}: no instance map for label map {name!r} (sequence {job.name!r}, "
                            f"frame {t}; files are paired by frame name)")
    return [by_key[frame_key(n)] for n in job.frames]


def _frames(job: _Job, classes: LabelClasses
            ) -> Iterator[tuple[int, Path, np.ndarray, Path | None, np.ndarray | None]]:
    """``(t, label path, label, instance path or None, instance ids or None)`` per frame."""
    inst_names = _inst_names(job)
    for t, name in enumerate(job.frames):
        path = job.labels / name
        label = _read_ids(path, job, t, classes)
        if inst_names is None:
            yield t, path, label, None, None
            continue
        inst_path = job.inst / inst_names[t]
        inst = read_instance(inst_path)
        if inst.shape != label.shape:
            raise DataError(f"{inst_path}: instance map of size {inst.shape}, but its label map {path} is "
                            f"{label.shape} (sequence {job.name!r}, frame {t})")
        yield t, path, label, inst_path, inst


def _selected(label: np.ndarray, inst: np.ndarray | None, maps: list[ClassMap], instance: int | None
              ) -> np.ndarray:
    """``bool [H, W]``: the pixels the mappings change (of a source class, and of ``instance``)."""
    is_src = np.zeros(_MAX_ID + 1, dtype=bool)
    is_src[[m.src for m in maps]] = True
    sel = is_src[label]
    return sel if instance is None else sel & (inst == instance)


def _scan(job: _Job, maps: list[ClassMap], classes: LabelClasses, instance: int | None) -> _Scan:
    scan = _Scan([MappingCount(m.src, m.dst) for m in maps], [set() for _ in maps])
    dst_of = {m.src: m.dst for m in maps}
    index_of = {m.src: k for k, m in enumerate(maps)}
    for _, _, label, _, inst in _frames(job, classes):
        sel = _selected(label, inst, maps, instance)
        per_class = np.bincount(label[sel], minlength=_MAX_ID + 1)
        for count in scan.counts:
            count.pixels += int(per_class[count.src])
            count.frames += int(per_class[count.src] > 0)
        if inst is None:
            continue
        if instance is not None and (mine := inst == instance).any():
            scan.instance_found = True
            scan.instance_classes.update(int(v) for v in np.unique(label[mine]))
        if scan.follows_convention:
            objects = inst >= INSTANCE_DIVISOR
            scan.follows_convention = bool(np.all(np.where(objects, inst // INSTANCE_DIVISOR, inst) == label))
        scan.kept.update(int(v) for v in np.unique(inst[~sel]))
        moved = inst[sel]
        for v in np.unique(moved[moved >= INSTANCE_DIVISOR]):
            src = int(v) // INSTANCE_DIVISOR
            if src in dst_of:  # under the convention, always
                scan.moving[int(v)] = dst_of[src]
                scan.objects[index_of[src]].add(int(v))
    return scan


def _new_object_ids(scan: _Scan, job: _Job) -> dict[int, int]:
    """Object id -> its id in the new class, one per object for the whole sequence: ``dst * 1000 +
    k``, ``k`` kept unless that id is taken (by an unchanged object or one already renamed)."""
    taken = set(scan.kept)
    table: dict[int, int] = {}
    for old, dst in sorted(scan.moving.items()):
        base = dst * INSTANCE_DIVISOR
        wanted = base + old % INSTANCE_DIVISOR
        new = wanted if wanted not in taken else next(
            (base + k for k in range(INSTANCE_DIVISOR) if base + k not in taken), None)
        if new is None or new > _MAX_INSTANCE:
            why = (f"id {new} does not fit a 16-bit instance map" if new is not None
                   else f"all {INSTANCE_DIVISOR} ids of class {dst} are taken")
            raise DataError(f"{job.inst}: object {old} of sequence {job.name!r} cannot become class {dst}: "
                            f"{why}")
        table[old] = new
        taken.add(new)
    return table


def _check_instance(scan: _Scan, job: _Job, maps: list[ClassMap], classes: LabelClasses, instance: int
                    ) -> None:
    if not scan.instance_found:
        objects = sorted(v for v in scan.kept | set(scan.moving) if v >= INSTANCE_DIVISOR)
        shown = ", ".join(map(str, objects[:12])) + (" ..." if len(objects) > 12 else "")
        raise DataError(f"{job.inst}: instance {instance} is not in any of the {len(job.frames)} instance "
                        f"maps of sequence {job.name!r} (its objects: {shown or 'none'})")
    if not any(c.pixels for c in scan.counts):
        has = ", ".join(classes.describe(i) for i in sorted(scan.instance_classes))
        wanted = ", ".join(classes.describe(m.src) for m in maps)
        raise ValueError(f"{job.inst}: instance {instance} of sequence {job.name!r} is class {has}; "
                         f"the map changes only {wanted}")


def _check_out(src: Path, out: Path) -> None:
    a, b = src.resolve(), out.resolve()
    if a == b or a in b.parents or b in a.parents:
        raise ValueError(f"--out {out} overlaps --input {src}; write the edited maps to a new folder")
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"{out}: expected a folder for the edited maps, found a file")


def _prepare_out(out: Path, jobs: list[_Job], overwrite: bool) -> None:
    """Refuse a non-empty ``out`` unless ``overwrite`` and it holds an earlier edit (its ``edit.json``:
    never a dataset of another origin); then remove only what this edit writes."""
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise FileExistsError(f"{out}: folder is not empty; choose an empty or new folder, or replace "
                                  f"what is there with `python -m vid2vid edit --overwrite` "
                                  f"(edit_labels(..., overwrite=True))")
        if not (out / "edit.json").is_file():
            raise FileExistsError(f"{out}: folder is not empty and holds no earlier edit (no edit.json); "
                                  f"--overwrite replaces only an earlier edit: choose an empty or new folder")
        for job in jobs:
            for folder in job.clear:
                shutil.rmtree(folder, ignore_errors=True)
            if job.out["A"] == out:  # a sequence outside the layout: its maps sit in out itself
                for name in list_frames(out):
                    (out / name).unlink()
        (out / "edit.json").unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)


def _write(job: _Job, scan: _Scan, table: dict[int, int], maps: list[ClassMap], classes: LabelClasses,
           instance: int | None) -> None:
    """Pass 2: write the edited label maps and instance maps (objects renamed by ``table``, see
    :func:`_new_object_ids`), copy the other kinds."""
    old_ids = np.array(sorted(table), dtype=np.int64)
    new_ids = np.array([table[v] for v in sorted(table)], dtype=np.int64)
    for kind in job.out:
        job.out[kind].mkdir(parents=True, exist_ok=True)
    for _, path, label, inst_path, inst in _frames(job, classes):
        sel = _selected(label, inst, maps, instance)
        edited = relabel(label, maps, sel)
        write_label(job.out["A"] / path.name, edited)
        if inst is None:
            continue
        if not scan.follows_convention:
            shutil.copy2(inst_path, job.out["inst"] / inst_path.name)
            continue
        moved = inst[sel]  # [N] ids of the changed pixels
        objects = moved >= INSTANCE_DIVISOR
        renamed = new_ids[np.searchsorted(old_ids, moved[objects])] if len(old_ids) else moved[objects]
        moved[objects] = renamed  # an object keeps its outline under its new class
        moved[~objects] = edited[sel][~objects]  # a region becomes a region of the new class
        new = inst.copy()
        new[sel] = moved
        write_instance(job.out["inst"] / inst_path.name, new)
    for kind, folder in job.siblings.items():
        shutil.copytree(folder, job.out[kind], dirs_exist_ok=True)


def edit_labels(
    input: str | os.PathLike,
    out: str | os.PathLike,
    mapping: str | Mapping[int | str, int | str],
    *,
    instance: int | None = None,
    label_nc: int | None = None,
    overwrite: bool = False,
) -> EditReport:
    """Rewrite the classes of a label-map sequence (or of every sequence of a split folder).

    Args:
        input: a sequence folder of label PNGs (``<root>/test_A/seq_0000``) or a split folder of
            sequences (``<root>/test_A``).
        out: the output root (see the module docstring for what goes where); must be empty or new
            unless ``overwrite``, and apart from ``input``.
        mapping: ``"SRC:DST[,SRC:DST...]"`` or ``{SRC: DST}`` (:func:`parse_map`), ids or names.
        instance: change only the pixels of this instance id (one sequence only; needs its
            instance maps).
        label_nc: the label count, instead of the dataset's (:func:`dataset_classes`).
        overwrite: replace an earlier edit in ``out`` (only the folders this edit writes; a folder
            without ``edit.json`` is refused all the same).

    Every file is read and checked before anything is written: a bad file, an unknown class or an
    instance that is not there raises (:class:`DataError`, ValueError) and leaves ``out`` as it was.
    """
    src, out = Path(input), Path(out)
    root, layout, jobs = _locate(src, out)
    classes = dataset_classes(root, label_nc)
    maps = parse_map(mapping, classes)
    _check_out(src, out)
    if instance is not None:
        if not 0 <= instance <= _MAX_INSTANCE:
            raise ValueError(f"instance must be an id in [0, {_MAX_INSTANCE}], got {instance}")
        if len(jobs) > 1:
            raise ValueError(f"{src}: instance {instance} names one object of one sequence, but {src} holds "
                             f"{len(jobs)} sequences; give one of them, e.g. {jobs[0].labels}")
        if jobs[0].inst is None:
            kinds = jobs[0].labels.parent
            expected = (f"expected {kinds.with_name(kinds.name[:-2] + '_inst') / jobs[0].name}"
                        if layout else "instance maps are found in the dataset layout, <root>/<split>_inst/"
                        "<sequence>, beside <root>/<split>_A/<sequence>")
            raise DataError(f"{src}: instance {instance} needs the sequence's instance maps, found none "
                            f"({expected})")
    scans = [_scan(job, maps, classes, instance) for job in jobs]
    if instance is not None:
        _check_instance(scans[0], jobs[0], maps, classes, instance)
    tables = [_new_object_ids(scan, job) if job.inst is not None and scan.follows_convention else {}
              for job, scan in zip(jobs, scans, strict=True)]
    _prepare_out(out, jobs, overwrite)
    for job, scan, table in zip(jobs, scans, tables, strict=True):
        _write(job, scan, table, maps, classes, instance)

    counts = [MappingCount(m.src, m.dst) for m in maps]
    for k, c in enumerate(counts):
        c.pixels = sum(s.counts[k].pixels for s in scans)
        c.frames = sum(s.counts[k].frames for s in scans)
        c.objects = sum(len(s.objects[k]) for s in scans if s.follows_convention)
    with_inst = [s for j, s in zip(jobs, scans, strict=True) if j.inst is not None]
    if not with_inst:
        instance_maps = "none"
    elif all(s.follows_convention for s in with_inst):
        instance_maps = (f"ids of the changed pixels rewritten to the new class (label * "
                         f"{INSTANCE_DIVISOR} + k), one id per object in every frame")
    else:
        other = sum(not s.follows_convention for s in with_inst)
        instance_maps = (f"copied unchanged where the ids do not follow label * {INSTANCE_DIVISOR} + k "
                         f"({other} of {len(with_inst)} sequences)")
    copied = tuple(k for k in SIBLINGS if any(k in j.siblings for j in jobs))
    report = EditReport(out, [j.out["A"] for j in jobs], sum(len(j.frames) for j in jobs), counts, classes,
                        instance, instance_maps, copied)
    info = {
        "edited_from": str(src), "map": [{"src": m.src, "dst": m.dst} for m in maps], "instance": instance,
        "label_nc": classes.label_nc, "labels": classes.names,
        "sequences": [str(p) for p in report.sequences], "frames": report.frames,
        "pixels": [c.pixels for c in counts], "instance_maps": instance_maps,
    }
    (out / "edit.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return report
