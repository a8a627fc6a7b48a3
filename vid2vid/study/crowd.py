"""The study on a crowd platform (the paper used Amazon Mechanical Turk): export pairs, import answers.

    python -m vid2vid study export --clips ab_clips --db study.sqlite --out crowd --base-url https://host/study/
    # upload crowd/clips/ to https://host/study/clips/, crowd/pairs.csv to the platform, collect answers
    python -m vid2vid study import --db study.sqlite --answers Batch_results.csv

``pairs.csv`` has one row per pair (one task, which the platform shows to as many workers as it is
told): ``item`` (a random id), ``left_url``, ``right_url``. The videos are copied to ``clips/``
under random names, so nothing a worker sees names a method. The sides are balanced within every
comparison (:func:`vid2vid.study.design.balanced_sides`) and recorded per item; exporting again
writes the same items.

The answers CSV needs a column with the item, one with the worker's id and one with the choice
(``left`` / ``right``, or ``first`` / ``second``); Mechanical Turk's batch results name them
``Input.item``, ``WorkerId`` and ``Answer.choice`` (the defaults), and rows whose
``AssignmentStatus`` is ``Rejected`` are skipped. A worker becomes participant ``crowd:<worker id>``
in the same database as the web app's participants, and attention checks count for them the same
way. An import is all or nothing: a malformed row or an answer already in the database (the same
worker and pair, e.g. the same file imported twice) refuses the whole file, naming the row.
"""

from __future__ import annotations

import csv
import os
import secrets
import shutil
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from vid2vid.study.design import balanced_sides
from vid2vid.study.manifest import StudyError, read_manifest
from vid2vid.study.store import StudyStore

__all__ = ["export_pairs", "import_answers"]

CHOICES = {"left": "left", "right": "right", "first": "left", "second": "right"}


def export_pairs(clips: str | os.PathLike, db: str | os.PathLike, out_dir: str | os.PathLike,
                 base_url: str = "") -> Path:
    """Write ``<out_dir>/pairs.csv`` (``item, left_url, right_url``) and ``<out_dir>/clips/`` (the
    videos under random names) for a crowd platform; the items and their sides go to ``db``
    (created from the study folder ``clips`` when new). URLs are ``<base_url>clips/<name>``.
    Returns the path of ``pairs.csv``."""
    manifest = read_manifest(clips)
    out = Path(out_dir)
    (out / "clips").mkdir(parents=True, exist_ok=True)
    if base_url and not base_url.endswith("/"):
        base_url += "/"
    with StudyStore(db, manifest) as store, store.transaction() as con:
        if con.execute("SELECT COUNT(*) FROM crowd_items").fetchone()[0] == 0:
            rng = np.random.default_rng([store.seed, 7])
            pairs = con.execute("SELECT p.id, p.is_check, ca.method, cb.method FROM pairs p JOIN clips ca "
                                "ON ca.id = p.a JOIN clips cb ON cb.id = p.b ORDER BY p.id").fetchall()
            strata = ["check" if c else (a, b) for _, c, a, b in pairs]
            a_first = {}
            for label in dict.fromkeys(strata):
                members = [p[0] for p, s in zip(pairs, strata, strict=True) if s == label]
                a_first.update(zip(members, balanced_sides(len(members), rng), strict=True))
            order = rng.permutation(len(pairs))  # rows in random order: a platform may serve them in order
            con.executemany("INSERT INTO crowd_items VALUES (?, ?, ?)",
                            [(secrets.token_hex(6), pairs[i][0], int(a_first[pairs[i][0]])) for i in order])
        items = con.execute("SELECT i.item, i.a_first, ca.token, ca.file, cb.token, cb.file "
                            "FROM crowd_items i JOIN pairs p ON p.id = i.pair JOIN clips ca ON ca.id = p.a "
                            "JOIN clips cb ON cb.id = p.b ORDER BY i.rowid").fetchall()
    rows = []
    for item, a_first, token_a, file_a, token_b, file_b in items:
        names = {}
        for token, file in ((token_a, file_a), (token_b, file_b)):
            names[token] = f"{token}{Path(file).suffix.lower()}"
            target = out / "clips" / names[token]
            if not target.exists():
                shutil.copyfile(manifest.root / file, target)
        left, right = (token_a, token_b) if a_first else (token_b, token_a)
        rows.append({"item": item, "left_url": f"{base_url}clips/{names[left]}",
                     "right_url": f"{base_url}clips/{names[right]}"})
    path = out / "pairs.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["item", "left_url", "right_url"])
        writer.writeheader()
        writer.writerows(rows)
    return path


def import_answers(db: str | os.PathLike, answers_csv: str | os.PathLike, item_column: str = "Input.item",
                   worker_column: str = "WorkerId", choice_column: str = "Answer.choice") -> dict[str, int]:
    """Add the answers of a crowd platform's results CSV to the study database ``db`` (whose
    :func:`export_pairs` wrote the items). Returns ``{"imported", "skipped", "workers"}``
    (skipped: rows of rejected assignments). Raises :class:`StudyError` naming the file and row."""
    path = Path(answers_csv)
    if not path.is_file():
        raise StudyError(f"{path}: no such answers file")
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        columns = reader.fieldnames or []
        for column, option in ((item_column, "--item-column"), (worker_column, "--worker-column"),
                               (choice_column, "--choice-column")):
            if column not in columns:
                raise StudyError(f"{path}: no column {column!r} (columns: {', '.join(columns) or 'none'}); "
                                 f"name the right one with {option}")
        rows = list(reader)
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    imported, skipped, workers = 0, 0, set()
    with StudyStore(db) as store, store.transaction() as con:
        items = {item: (pair, a_first) for item, pair, a_first in con.execute("SELECT * FROM crowd_items")}
        if not items:
            raise StudyError(f"{store.path}: no exported pairs; `python -m vid2vid study export` writes them "
                             "first")
        seen: dict[tuple[str, int], int] = {}
        for n, row in enumerate(rows, start=2):  # row 1 is the header
            where = f"{path}, row {n}"
            if row.get("AssignmentStatus", "").strip().lower() == "rejected":
                skipped += 1
                continue
            item, worker = (row.get(item_column) or "").strip(), (row.get(worker_column) or "").strip()
            choice = (row.get(choice_column) or "").strip().lower()
            if item not in items:
                raise StudyError(f"{where}: item {item!r} is not one of the {len(items)} pairs exported from "
                                 f"{store.path}")
            if not worker:
                raise StudyError(f"{where}: no worker id in column {worker_column!r}")
            if choice not in CHOICES:
                raise StudyError(f"{where}: choice {choice!r}; expected left / right (or first / second)")
            pair, a_first = items[item]
            pid = f"crowd:{worker}"
            if (pid, pair) in seen:
                raise StudyError(f"{where}: worker {worker!r} answered item {item!r} already in row "
                                 f"{seen[pid, pair]}")
            seen[pid, pair] = n
            done = con.execute("SELECT 1 FROM answers WHERE participant = ? AND pair = ?", (pid, pair))
            if done.fetchone():
                raise StudyError(f"{where}: worker {worker!r} already has an answer to item {item!r} in "
                                 f"{store.path} (imported before?); nothing of {path.name} was imported")
            con.execute("INSERT OR IGNORE INTO participants VALUES (?, NULL, 'crowd', ?)", (pid, now))
            chose_a = (CHOICES[choice] == "left") == bool(a_first)
            con.execute("INSERT INTO answers VALUES (?, ?, ?, ?, NULL, 'crowd', 'crowd', ?)",
                        (pid, pair, int(chose_a), a_first, now))
            imported += 1
            workers.add(worker)
    return {"imported": imported, "skipped": skipped, "workers": len(workers)}
