"""The study database (SQLite): the clips and pairs of a study, its participants' schedules, every answer.

One file holds a whole study, and every answer is committed before the participant's page hears
back, so killing the server loses nothing that was acknowledged, and a participant who reloads the
page (or types their code on another machine) resumes at their first unanswered pair.

Tables (``sqlite3 study.sqlite .schema``):

- ``meta``: the manifest's fingerprint, the randomisation seed, when the study was created;
- ``clips``: file, method, sequence, setting, whether an attention check, and the random token it
  is served under (participants see ``/clip/<token>``, never a file or method name);
- ``pairs``: clip ``a`` (the reference method's, or a check's intact clip) and clip ``b``;
- ``participants``: id (a typed code, a generated one, or ``crowd:<worker id>``), arrival number;
- ``trials``: each web participant's schedule (:mod:`vid2vid.study.design`): pair order and sides;
- ``answers``: participant, pair, whether ``a`` was chosen, whether ``a`` was shown left / first,
  position, layout, source (``web`` / ``crowd``), time;
- ``crowd_items``: the rows exported for a crowd platform (:mod:`vid2vid.study.crowd`);
- the view ``answers_by_method``: every answer with method names, for a look with any SQLite tool.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import sqlite3
import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

from vid2vid.study.design import schedule
from vid2vid.study.manifest import Manifest, StudyError

__all__ = ["StudyStore", "AnswerRefused", "normalise_code", "LAYOUTS"]

SCHEMA_VERSION = "1"
LAYOUTS = ("side-by-side", "sequential")  # how the page shows a pair: both at once, or one after the other
_CODE = re.compile(r"[a-z0-9][a-z0-9_.-]{0,39}")
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # generated codes: no 0/o, 1/l/i to misread when noted down

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE clips (id INTEGER PRIMARY KEY, token TEXT NOT NULL UNIQUE, file TEXT NOT NULL UNIQUE,
    method TEXT NOT NULL, sequence TEXT NOT NULL, setting TEXT NOT NULL, is_check INTEGER NOT NULL);
CREATE TABLE pairs (id INTEGER PRIMARY KEY, a INTEGER NOT NULL REFERENCES clips (id),
    b INTEGER NOT NULL REFERENCES clips (id), is_check INTEGER NOT NULL, UNIQUE (a, b));
CREATE TABLE participants (id TEXT PRIMARY KEY, number INTEGER UNIQUE, source TEXT NOT NULL,
    created TEXT NOT NULL);
CREATE TABLE trials (participant TEXT NOT NULL REFERENCES participants (id), position INTEGER NOT NULL,
    pair INTEGER NOT NULL REFERENCES pairs (id), a_first INTEGER NOT NULL,
    PRIMARY KEY (participant, position), UNIQUE (participant, pair));
CREATE TABLE answers (participant TEXT NOT NULL REFERENCES participants (id),
    pair INTEGER NOT NULL REFERENCES pairs (id), chose_a INTEGER NOT NULL, a_first INTEGER NOT NULL,
    position INTEGER, layout TEXT NOT NULL, source TEXT NOT NULL, answered TEXT NOT NULL,
    PRIMARY KEY (participant, pair));
CREATE TABLE crowd_items (item TEXT PRIMARY KEY, pair INTEGER NOT NULL UNIQUE REFERENCES pairs (id),
    a_first INTEGER NOT NULL);
CREATE VIEW answers_by_method AS
    SELECT answers.participant, ca.setting, ca.sequence, ca.method AS method_a, cb.method AS method_b,
        pairs.is_check, CASE WHEN answers.chose_a THEN ca.method ELSE cb.method END AS chosen,
        CASE WHEN answers.a_first THEN ca.method ELSE cb.method END AS shown_left_or_first,
        answers.position, answers.layout, answers.source, answers.answered
    FROM answers JOIN pairs ON pairs.id = answers.pair
        JOIN clips ca ON ca.id = pairs.a JOIN clips cb ON cb.id = pairs.b;
"""


class AnswerRefused(StudyError):
    """An answer or request the study refuses; ``status`` is the HTTP status the server replies with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def normalise_code(text: str) -> str:
    """A participant code as typed (spaces around it and letter case ignored), checked."""
    code = text.strip().lower()
    if not _CODE.fullmatch(code):
        raise AnswerRefused(400, f"participant code {text!r}: expected 1-40 letters, digits, '.', '_' or "
                                 "'-', starting with a letter or digit")
    return code


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class StudyStore:
    """A study database, thread-safe (one connection behind a lock: the web server's threads share it).

    Args:
        db: the SQLite file.
        manifest: the study folder's manifest. Given, the database is created from it when new, and
            must have been made from the same manifest when not (its answers refer to those clips).
            None: open an existing database (the report, an import).
        seed: the randomisation seed of a new database (default: a random one, recorded).
    """

    def __init__(self, db: str | os.PathLike, manifest: Manifest | None = None,
                 seed: int | None = None) -> None:
        self.path = Path(db)
        self.manifest = manifest
        self._lock = threading.RLock()
        new = not self.path.exists() or self.path.stat().st_size == 0
        if new and manifest is None:
            raise StudyError(f"{self.path}: no such study database (`python -m vid2vid study serve` creates "
                             "it)")
        if self.path.is_dir():
            raise StudyError(f"{self.path}: is a folder; expected a study database file")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            self._db.execute("PRAGMA foreign_keys = ON")
            self._db.execute("PRAGMA synchronous = FULL")
            if new:
                self._create(manifest, secrets.randbits(31) if seed is None else seed)
            self._check(manifest)
        except sqlite3.DatabaseError as err:
            self._db.close()
            raise StudyError(f"{self.path}: not a study database ({err})") from None
        except StudyError:
            self._db.close()
            raise
        self.seed = int(self._meta("seed"))
        pairs = self._db.execute("SELECT id, a, b, is_check FROM pairs ORDER BY id").fetchall()
        methods = dict(self._db.execute("SELECT id, method FROM clips"))
        self._pair_ids = [p[0] for p in pairs]
        # the comparison of each pair, the stratum its left/right assignment is balanced in
        self._strata = ["check" if p[3] else (methods[p[1]], methods[p[2]]) for p in pairs]

    # ------------------------------------------------------------------------------ set-up

    def _create(self, manifest: Manifest, seed: int) -> None:
        """Tables, clips and pairs in one transaction: a database is complete or not there at all."""
        with self._lock:
            self._db.executescript("BEGIN IMMEDIATE;" + _SCHEMA)
            try:
                meta = {"schema": SCHEMA_VERSION, "manifest": manifest.digest(), "seed": str(seed),
                        "created": _now(), "clips_folder": str(manifest.root.resolve())}
                self._db.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
                ids = {}
                for clip in manifest.clips:
                    cur = self._db.execute(
                        "INSERT INTO clips (token, file, method, sequence, setting, is_check) "
                        "VALUES (?, ?, ?, ?, ?, ?)", (secrets.token_hex(8), clip.file, clip.method,
                                                      clip.sequence, clip.setting, int(clip.check)))
                    ids[clip.file] = cur.lastrowid
                self._db.executemany("INSERT INTO pairs (a, b, is_check) VALUES (?, ?, ?)",
                                     [(ids[p.a.file], ids[p.b.file], int(p.check)) for p in manifest.pairs()])
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def _check(self, manifest: Manifest | None) -> None:
        tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not {"meta", "clips", "pairs", "answers"} <= tables or self._meta("schema") != SCHEMA_VERSION:
            raise StudyError(f"{self.path}: not a vid2vid study database (schema {SCHEMA_VERSION})")
        if manifest is not None and self._meta("manifest") != manifest.digest():
            n = self._db.execute("SELECT COUNT(*) FROM clips").fetchone()[0]
            raise StudyError(f"{self.path}: made from other clips than {manifest.root / 'manifest.json'} "
                             f"names now (it has {n} clips from {self._meta('clips_folder')}, created "
                             f"{self._meta('created')}; a video, its name, method, sequence or setting "
                             "differs); its answers refer to those clips: use a new --db for a changed study")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """The connection, under the lock, inside one transaction: committed when the block ends
        (before the server replies), rolled back when it raises."""
        with self._lock:
            if not self._db.in_transaction:
                self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
            if self._db.in_transaction:
                self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> StudyStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------------------ what is served

    @property
    def n_trials(self) -> int:
        """Pairs per participant (the comparisons and the attention checks)."""
        return len(self._pair_ids)

    def counts(self) -> dict[str, int]:
        """Pairs, attention checks, participants and answers so far."""
        queries = {"pairs": "SELECT COUNT(*) FROM pairs",
                   "checks": "SELECT COUNT(*) FROM pairs WHERE is_check",
                   "participants": "SELECT COUNT(*) FROM participants",
                   "answers": "SELECT COUNT(*) FROM answers"}
        with self._lock:
            return {k: self._db.execute(q).fetchone()[0] for k, q in queries.items()}

    def clip_file(self, token: str) -> Path | None:
        """The file served as ``/clip/<token>``, or None for a token that is not a clip's. Only
        files the manifest names, inside the study folder, are ever returned."""
        if self.manifest is None:
            return None
        with self._lock:
            row = self._db.execute("SELECT file FROM clips WHERE token = ?", (token,)).fetchone()
        if row is None:
            return None
        root = self.manifest.root.resolve()
        path = (root / row[0]).resolve()
        return path if path.is_relative_to(root) and path.is_file() else None

    # ------------------------------------------------------------------------------ participants

    def start(self, code: str | None = None) -> str:
        """The participant with ``code`` (a typed code: the same code resumes), or a new one with a
        generated code; a new web participant gets its schedule now. Returns the participant id."""
        with self.transaction() as db:
            if code is not None:
                pid = normalise_code(code)
                row = db.execute("SELECT source FROM participants WHERE id = ?", (pid,)).fetchone()
                if row is not None:
                    return pid
            else:
                while True:
                    pid = "".join(secrets.choice(_ALPHABET) for _ in range(8))
                    if db.execute("SELECT 1 FROM participants WHERE id = ?", (pid,)).fetchone() is None:
                        break
            number = db.execute("SELECT COUNT(*) FROM participants WHERE number IS NOT NULL").fetchone()[0]
            db.execute("INSERT INTO participants VALUES (?, ?, 'web', ?)", (pid, number, _now()))
            trials = schedule(self._strata, number, self.seed)
            db.executemany("INSERT INTO trials VALUES (?, ?, ?, ?)",
                           [(pid, position, self._pair_ids[i], int(a_first))
                            for position, (i, a_first) in enumerate(trials)])
        return pid

    def known(self, pid: str) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM participants WHERE id = ? AND number IS NOT NULL",
                                    (pid,)).fetchone() is not None

    def state(self, pid: str) -> dict:
        """Where web participant ``pid`` is: ``{"participant", "answered", "total", "trial"}``, with
        ``trial`` the next unanswered one, ``{"position", "left", "right"}`` (clip tokens; left = shown
        first), or None when every pair is answered."""
        with self._lock:
            if not self.known(pid):
                raise AnswerRefused(404, f"no participant {pid!r} in this study")
            answered = self._db.execute("SELECT COUNT(*) FROM answers WHERE participant = ?",
                                        (pid,)).fetchone()[0]
            row = self._db.execute(
                "SELECT t.position, t.a_first, ca.token, cb.token FROM trials t "
                "JOIN pairs p ON p.id = t.pair JOIN clips ca ON ca.id = p.a JOIN clips cb ON cb.id = p.b "
                "WHERE t.participant = ? AND NOT EXISTS "
                "(SELECT 1 FROM answers a WHERE a.participant = t.participant AND a.pair = t.pair) "
                "ORDER BY t.position LIMIT 1", (pid,)).fetchone()
        trial = None
        if row is not None:
            position, a_first, a, b = row
            trial = {"position": position, "left": a if a_first else b, "right": b if a_first else a}
        return {"participant": pid, "answered": answered, "total": self.n_trials, "trial": trial}

    def answer(self, pid: str, position: int, choice: str, layout: str = "side-by-side") -> dict:
        """Record web participant ``pid``'s ``choice`` (``"left"`` / ``"right"``: the clip shown
        left, or first) for the trial at ``position``, and return their new :meth:`state`.

        Raises :class:`AnswerRefused`: 404 for an unknown participant, 400 for a position that is
        not theirs or a choice that is not left / right, 409 for a trial already answered or one
        after their first unanswered trial (answers come in order)."""
        if choice not in ("left", "right"):
            raise AnswerRefused(400, f"choice {choice!r}: expected 'left' or 'right'")
        if layout not in LAYOUTS:
            raise AnswerRefused(400, f"layout {layout!r}: expected one of {LAYOUTS}")
        with self.transaction() as db:
            if not self.known(pid):
                raise AnswerRefused(404, f"no participant {pid!r} in this study")
            row = db.execute("SELECT pair, a_first FROM trials WHERE participant = ? AND position = ?",
                             (pid, position)).fetchone()
            if row is None:
                raise AnswerRefused(400, f"participant {pid!r} has no trial {position} (trials 0 to "
                                         f"{self.n_trials - 1})")
            pair, a_first = row
            if db.execute("SELECT 1 FROM answers WHERE participant = ? AND pair = ?", (pid, pair)).fetchone():
                raise AnswerRefused(409, f"participant {pid!r} already answered trial {position}")
            first_open = self.state(pid)["trial"]["position"]
            if position != first_open:
                raise AnswerRefused(409, f"participant {pid!r}: trial {position} comes after trial "
                                         f"{first_open}, which has no answer yet")
            chose_a = (choice == "left") == bool(a_first)
            db.execute("INSERT INTO answers VALUES (?, ?, ?, ?, ?, ?, 'web', ?)",
                       (pid, pair, int(chose_a), a_first, position, layout, _now()))
        return self.state(pid)

    # ------------------------------------------------------------------------------ reading answers

    def answers(self) -> list[dict]:
        """Every answer: ``participant, setting, sequence, method_a, method_b, check, chose_a,
        a_first, layout, source``."""
        with self._lock:
            rows = self._db.execute(
                "SELECT a.participant, ca.setting, ca.sequence, ca.method, cb.method, p.is_check, a.chose_a, "
                "a.a_first, a.layout, a.source FROM answers a JOIN pairs p ON p.id = a.pair "
                "JOIN clips ca ON ca.id = p.a JOIN clips cb ON cb.id = p.b ORDER BY a.rowid").fetchall()
        keys = ("participant", "setting", "sequence", "method_a", "method_b", "check", "chose_a", "a_first",
                "layout", "source")
        return [dict(zip(keys, r, strict=True)) | {"check": bool(r[5]), "chose_a": bool(r[6]),
                                                   "a_first": bool(r[7])} for r in rows]

    def comparisons(self) -> list[tuple[str, str]]:
        """The compared method pairs ``(a, b)``, in the manifest's order (a: the reference, if any)."""
        with self._lock:
            rows = self._db.execute("SELECT ca.method, cb.method FROM pairs p JOIN clips ca ON ca.id = p.a "
                                    "JOIN clips cb ON cb.id = p.b WHERE NOT p.is_check "
                                    "ORDER BY p.id").fetchall()
        return list(dict.fromkeys(rows))

    def settings(self) -> list[str]:
        """The settings of the study's clips, in the manifest's order."""
        with self._lock:
            rows = self._db.execute("SELECT setting FROM clips ORDER BY id").fetchall()
        return list(dict.fromkeys(r[0] for r in rows))

    def trials(self, pid: str) -> list[dict]:
        """Web participant ``pid``'s schedule: ``position, method_a, method_b, sequence, setting,
        check, a_first`` in the order shown."""
        with self._lock:
            rows = self._db.execute(
                "SELECT t.position, ca.method, cb.method, ca.sequence, ca.setting, p.is_check, t.a_first "
                "FROM trials t JOIN pairs p ON p.id = t.pair JOIN clips ca ON ca.id = p.a "
                "JOIN clips cb ON cb.id = p.b WHERE t.participant = ? ORDER BY t.position", (pid,)).fetchall()
        keys = ("position", "method_a", "method_b", "sequence", "setting", "check", "a_first")
        return [dict(zip(keys, r, strict=True)) | {"check": bool(r[5]), "a_first": bool(r[6])} for r in rows]
