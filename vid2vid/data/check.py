"""Pre-flight check of a dataset: decode every file once, report every bad file in one error.

:class:`~vid2vid.data.folder.VideoFolderDataset` checks names and counts when it is built but
reads a file only when a window needs it, so a truncated PNG in the last sequence can stop a
training run hours in. :func:`check_dataset` decodes every file the dataset would read (A, B,
instance, flow and occlusion files) up front, with the same readers and rules as training, and
raises one :class:`DataError` that lists every bad file with its sequence and frame:

    summary = check_dataset("datasets/mydata", split="train", label_nc=35, progress=True)
    print(summary)  # "datasets/mydata train: 2 sequences, 60 frames, 238 files OK (0.4 s, 595 files/s)"

Decoding runs in a thread pool (OpenCV and NumPy release the GIL while decoding / reading).
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from vid2vid.data.folder import VideoFolderDataset, keypoints_dir, read_face_points, read_source
from vid2vid.data.layout import DataError, kind_dir, read_flow, read_instance, read_mask, read_rgb

__all__ = ["DatasetCheck", "check_dataset", "count_files"]


@dataclass(frozen=True)
class DatasetCheck:
    """What :func:`check_dataset` decoded (every file was fine, or it would have raised)."""

    root: Path
    split: str
    sequences: int  # sequence folders checked
    frames: int  # frames (A files) checked
    files: dict[str, int] = field(default_factory=dict)  # decoded files per kind ("A", "B", ...)
    seconds: float = 0.0  # wall-clock time of the check

    @property
    def n_files(self) -> int:
        """All files decoded."""
        return sum(self.files.values())

    @property
    def files_per_second(self) -> float:
        return self.n_files / self.seconds if self.seconds > 0 else float("inf")

    def __str__(self) -> str:
        kinds = ", ".join(f"{k} {n}" for k, n in self.files.items())
        return (f"{self.root} {self.split}: {self.sequences} sequences, {self.frames} frames, "
                f"{self.n_files} files OK ({kinds}; {self.seconds:.1f} s, "
                f"{self.files_per_second:.0f} files/s)")


def _decode(kind: str, path: Path, label_nc: int, input_nc: int) -> tuple[int, int] | None:
    """Decode one file with the reader training uses; its ``(H, W)`` (None for a keypoint file, which
    has no size), or :class:`DataError`."""
    if kind == "keypoints":
        read_face_points(path)
        return None
    if kind == "A":
        array = read_source(path, label_nc, input_nc)
    elif kind == "B":
        array = read_rgb(path)
    elif kind == "inst":
        array = read_instance(path)
    elif kind == "flow":
        array = read_flow(path)  # also refuses NaN / Inf
    else:
        array = read_mask(path)
    return int(array.shape[0]), int(array.shape[1])


def _safe_decode(job: tuple[str, Path, int, int]) -> tuple[int, int] | None | str:
    try:
        return _decode(*job)
    except DataError as err:
        return str(err)
    except Exception as err:  # a reader bug or an OS error must not hide the other files
        return f"{job[1]}: {type(err).__name__}: {err}"


def count_files(ds: VideoFolderDataset) -> int:
    """The files :func:`check_dataset` would decode for ``ds`` (no file is opened)."""
    return sum(len(paths or ()) for seq in ds._all_sequences
               for paths in (seq.a, seq.b, seq.inst, seq.flow, seq.occ, seq.keypoints))


def check_dataset(
    source: str | os.PathLike | VideoFolderDataset,
    split: str = "train",
    *,
    label_nc: int = 35,
    input_nc: int = 3,
    progress: bool = False,
    workers: int | None = None,
    max_listed: int = 20,
) -> DatasetCheck:
    """Decode every file of a dataset split; raise one :class:`DataError` listing the bad ones.

    Args:
        source: a :class:`VideoFolderDataset` (checks exactly the files it loads, with its
            ``label_nc`` / ``input_nc``; ``split``, ``label_nc`` and ``input_nc`` are then
            ignored), or a dataset root (checks every kind whose ``<split>_<kind>`` folder exists).
        split: ``"train"`` or ``"test"``, for a root.
        label_nc, input_nc: how A files are read, for a root (as :class:`VideoFolderDataset`):
            ``label_nc > 0``: label ids ``< label_nc`` (lossless files only); ``0``: continuous
            maps with ``input_nc`` channels (images of 1 or 3, ``.npy`` ``uint8 [H, W, input_nc]``).
        progress: show a tqdm bar (files).
        workers: decoding threads; default ``min(8, os.cpu_count())``.
        max_listed: bad files named in the error (the count of the others is given).

    Returns:
        :class:`DatasetCheck`: counts and timing (``str()`` gives a one-line summary).

    Raises:
        DataError: the layout problems :class:`VideoFolderDataset` finds when built (missing
            folders, frame names that do not pair, counts), at once; otherwise, after decoding
            everything, one error listing every bad file (``<file>: <reason> (sequence 'S',
            frame j)``): unreadable or truncated images, label ids ``>= label_nc``, JPEG label /
            instance maps, 16-bit frames holding 8-bit values, flows of the wrong shape or with
            NaN / Inf, ``.npy`` input maps of another dtype, shape or channel count, keypoint JSON
            files not in OpenPose's format, sizes
            differing within a sequence or from the frame's A map.
    """
    start = time.perf_counter()
    if isinstance(source, VideoFolderDataset):
        ds = source
    else:
        present = {k: kind_dir(source, split, k).is_dir() for k in ("B", "inst", "flow", "occ")}
        present["keypoints"] = keypoints_dir(source, split).is_dir()
        # n_frames=1: every sequence, however short, is checked (and none is skipped with a warning)
        ds = VideoFolderDataset(source, split, n_frames=1, label_nc=label_nc, input_nc=input_nc,
                                use_instance=present["inst"], load_image=present["B"],
                                load_flow=present["flow"], load_occlusion=present["occ"],
                                load_keypoints=present["keypoints"], training=False)
    # every (sequence, frame, kind, path); flow / occlusion files belong to frames 1..n-1
    entries: list[tuple[str, int, str, Path]] = []
    for seq in ds._all_sequences:
        for kind, paths, first in (("A", seq.a, 0), ("B", seq.b, 0), ("inst", seq.inst, 0),
                                   ("flow", seq.flow, 1), ("occ", seq.occ, 1),
                                   ("keypoints", seq.keypoints, 0)):
            entries += [(seq.name, first + k, kind, p) for k, p in enumerate(paths or ())]
    jobs = [(kind, path, ds.label_nc, ds.input_nc) for _, _, kind, path in entries]
    workers = workers or min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool, \
            tqdm(total=len(jobs), desc=f"check {ds.split}", unit="file", disable=not progress) as bar:
        results = []
        for result in pool.map(_safe_decode, jobs, chunksize=16):  # in order: a stable report
            results.append(result)
            bar.update(1)

    bad: list[str] = []
    a_size: dict[tuple[str, int], tuple[int, int]] = {}  # decoded A sizes by (sequence, frame)
    first_a: dict[str, tuple[tuple[int, int], Path]] = {}
    for (name, j, kind, path), result in zip(entries, results, strict=True):
        where = f"(sequence {name!r}, frame {j})"
        if isinstance(result, str):
            bad.append(f"{result} {where}")
        elif kind == "A":
            a_size[name, j] = result
            size, first = first_a.setdefault(name, (result, path))
            if result != size:
                bad.append(f"{path}: size {result[0]}x{result[1]} differs from {first} "
                           f"({size[0]}x{size[1]}) of the same sequence {where}")
    for (name, j, kind, path), result in zip(entries, results, strict=True):
        size = a_size.get((name, j))
        if kind != "A" and isinstance(result, tuple) and size is not None and result != size:
            bad.append(f"{path}: size {result[0]}x{result[1]} differs from its A map "
                       f"({size[0]}x{size[1]}) (sequence {name!r}, frame {j})")
    if bad:
        listed = "\n  ".join(bad[:max_listed])
        more = f"\n  ... and {len(bad) - max_listed} more" if len(bad) > max_listed else ""
        raise DataError(f"{ds.root} {ds.split}: {len(bad)} bad file(s) "
                        f"of {len(entries)} checked:\n  {listed}{more}")
    counts = {k: sum(1 for e in entries if e[2] == k) for k in ("A", "B", "inst", "flow", "occ", "keypoints")}
    return DatasetCheck(root=ds.root, split=ds.split, sequences=len(ds._all_sequences),
                        frames=sum(len(s) for s in ds._all_sequences),
                        files={k: n for k, n in counts.items() if n},
                        seconds=time.perf_counter() - start)

