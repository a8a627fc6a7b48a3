"""Human preference studies: the study folder, the randomisation, the database, the report, the crowd
CSV round trip, the tables' preference columns, and the web server's refusals (over real HTTP, in
this process). The browser tests are in test_study_browser.py."""

import csv
import http.client
import json
import re
import subprocess
import sys
import threading
from pathlib import Path

import av
import numpy as np
import pytest

from vid2vid.__main__ import main
from vid2vid.metrics import wilson_interval
from vid2vid.study import (
    AnswerRefused,
    StudyError,
    StudyStore,
    export_pairs,
    import_answers,
    make_server,
    markdown_rows,
    preference_cell,
    read_manifest,
    schedule,
    study_report,
    write_study,
)

REPO = Path(__file__).resolve().parents[1]
METHODS = ("vid2vid", "pix2pixHD", "no-flow")


def _study(folder: Path, methods=METHODS, sequences=("s0", "s1"), settings=("short", "long"),
           reference="vid2vid", checks=(("s0", "short"),)) -> Path:
    """A study folder whose clips are small files of distinct bytes (the server only serves them):
    every method on every sequence and setting, and attention checks on the given combinations."""
    clips = []
    (folder / "clips").mkdir(parents=True)

    def add(method, sequence, setting, check=False):
        file = f"clips/{len(clips):04d}.mp4"
        (folder / file).write_bytes(f"{method}|{sequence}|{setting}|{check}".encode() * 8)
        clips.append({"file": file, "method": method, "sequence": sequence, "setting": setting}
                     | ({"check": True} if check else {}))

    for sequence in sequences:
        for setting in settings:
            for method in methods:
                add(method, sequence, setting)
    for sequence, setting in checks:
        add(reference or methods[0], sequence, setting, check=True)
    manifest = {"clips": clips} | ({"reference": reference} if reference else {})
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def _answer_all(store: StudyStore, pid: str, pick) -> list[dict]:
    """Answer every trial of ``pid`` with ``pick(trial) -> chosen method`` (a check's intact clip:
    its method_a); returns the trials with the method chosen."""
    done = []
    for trial in store.trials(pid):
        chosen = pick(trial)
        a_left = trial["a_first"]
        choice = "left" if (chosen == trial["method_a"]) == a_left else "right"
        if trial["check"]:
            choice = "left" if (chosen == "intact") == a_left else "right"
        store.answer(pid, trial["position"], choice)
        done.append(trial | {"chosen": chosen})
    return done


# ---------------------------------------------------------------------------- the study folder


def _decode(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def test_write_study_writes_every_method_sequence_and_setting_and_reads_back(tmp_path):
    rng = np.random.default_rng(0)
    videos = {m: [rng.integers(0, 256, (6, 16, 24, 3), dtype=np.uint8) for _ in range(2)] for m in ("A", "B")}
    manifest_file = write_study(videos, tmp_path / "study", sequences=["x", "y"],
                                settings={"short": 3, "long": None}, reference="A", checks=1)
    manifest = read_manifest(tmp_path / "study")
    assert manifest_file == tmp_path / "study" / "manifest.json" and manifest.reference == "A"
    assert len(manifest.clips) == 2 * 2 * 2 + 1
    for clip in manifest.clips:
        assert not any(m in clip.file for m in ("A", "B", "x", "y", "short", "long"))  # neutral names
        frames = _decode(manifest.path(clip))
        assert frames.shape == ({"short": 3, "long": 6}[clip.setting], 16, 24, 3), clip
    # the attention check is the reference's first short video, broken: far from the intact one
    check = next(c for c in manifest.clips if c.check)
    assert (check.method, check.sequence, check.setting) == ("A", "x", "short")
    intact = next(c for c in manifest.clips if (c.method, c.sequence, c.setting) == ("A", "x", "short")
                  and not c.check)
    intact = _decode(manifest.path(intact))
    assert np.abs(_decode(manifest.path(check)).astype(int) - intact).mean() > 60
    assert [(p.a.method, p.b.method) for p in manifest.pairs() if not p.check] == [("A", "B")] * 4
    # written again with fewer videos: only the new clips are left
    write_study({m: v[:1] for m, v in videos.items()}, tmp_path / "study")
    clips = list((tmp_path / "study" / "clips").iterdir())
    assert len(clips) == len(read_manifest(tmp_path / "study").clips) == 2


def test_pairs_are_the_reference_against_each_method_or_every_two_methods(tmp_path):
    with_reference = read_manifest(_study(tmp_path / "ref"))
    pairs = with_reference.pairs()
    expected = [("vid2vid", m, seq, setting) for seq in ("s0", "s1") for setting in ("short", "long")
                for m in ("pix2pixHD", "no-flow")]
    assert [(p.a.method, p.b.method, p.a.sequence, p.a.setting) for p in pairs if not p.check] == expected
    checks = [p for p in pairs if p.check]
    assert len(checks) == 1 and checks[0].a.method == "vid2vid"
    assert not checks[0].a.check and checks[0].b.check  # a: the intact clip, b: the broken one
    assert all(p.a.sequence == p.b.sequence and p.a.setting == p.b.setting for p in pairs)
    every_two = read_manifest(_study(tmp_path / "all", reference=None, checks=()))
    assert {(p.a.method, p.b.method) for p in every_two.pairs()} == {
        ("vid2vid", "pix2pixHD"), ("vid2vid", "no-flow"), ("pix2pixHD", "no-flow")}


def _edit_manifest(folder: Path, change) -> None:
    data = json.loads((folder / "manifest.json").read_text())
    change(data)
    (folder / "manifest.json").write_text(json.dumps(data))


@pytest.mark.parametrize("change, message", [
    (lambda d: d["clips"][1].update(file="../o.mp4"), r"clip 1: file '\.\./o\.mp4' must be a path inside"),
    (lambda d: d["clips"][1].update(file="/etc/x.mp4"), r"clip 1: file '/etc/x\.mp4' must be a path inside"),
    (lambda d: d["clips"][2].update(file="clips/gone.mp4"), r"clip 2: file 'clips/gone\.mp4' not found"),
    (lambda d: d["clips"][0].update(file="manifest.json"), r"clip 0: file 'manifest\.json' is not a video"),
    (lambda d: d["clips"][0].update(colour="red"), r"clip 0: unknown key\(s\) \['colour'\]"),
    (lambda d: d["clips"][3].pop("setting"), r"clip 3: 'setting' must be a non-empty string"),
    (lambda d: d["clips"][0].update(check="yes"), r"clip 0: 'check' must be true or false"),
    (lambda d: d.update(reference="vid2vid-hd"), r"reference 'vid2vid-hd' is not the method of any clip"),
    (lambda d: d["clips"][4].update(method="vid2vid"), r"clip 4: clip 3 already shows method 'vid2vid' on "
                                                       r"sequence 's0' in setting 'long'"),
    (lambda d: d["clips"][-1].update(sequence="s9"), r"attention check on sequence 's9'.*no intact clip"),
    (lambda d: d.update(clips=[c for c in d["clips"] if c["method"] == "vid2vid"]), r"nothing to compare"),
])
def test_a_bad_manifest_is_refused_naming_the_file_and_the_clip(tmp_path, change, message):
    folder = _study(tmp_path / "study")
    _edit_manifest(folder, change)
    with pytest.raises(StudyError, match=r"manifest\.json.*" + message):
        read_manifest(folder)


def test_a_folder_without_a_manifest_or_with_broken_json_is_refused(tmp_path):
    with pytest.raises(StudyError, match=r"not a folder"):
        read_manifest(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(StudyError, match=r"empty: no manifest\.json"):
        read_manifest(tmp_path / "empty")
    folder = _study(tmp_path / "study")
    (folder / "manifest.json").write_text('{"clips": [')
    with pytest.raises(StudyError, match=r"manifest\.json: not valid JSON"):
        read_manifest(folder)


def test_a_clip_that_links_outside_the_study_folder_is_refused(tmp_path):
    folder = _study(tmp_path / "study")
    (tmp_path / "secret.mp4").write_bytes(b"not for participants")
    (folder / "clips" / "0000.mp4").unlink()
    (folder / "clips" / "0000.mp4").symlink_to(tmp_path / "secret.mp4")
    with pytest.raises(StudyError, match=r"clip 0: file 'clips/0000\.mp4' leads outside the study folder"):
        read_manifest(folder)


def _write_videos(folder: Path, lengths: dict[str, int], size=(16, 24), seed=0) -> Path:
    from vid2vid.video import write_video

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    for name, n in lengths.items():
        write_video(folder / f"{name}.mp4", list(rng.integers(0, 256, (n, *size, 3), dtype=np.uint8)), fps=10)
    return folder


def test_study_make_from_folders_of_videos_pairs_them_by_name(tmp_path, capsys):
    a = _write_videos(tmp_path / "a", {"seq_0": 6, "seq_1": 6})
    b = _write_videos(tmp_path / "b", {"seq_0": 6, "seq_1": 6}, seed=1)
    argv = ["study", "make", "--out", str(tmp_path / "study"), "--method", f"vid2vid={a}", "--method",
            f"per-frame={b}", "--reference", "vid2vid", "--short", "3", "--checks", "1"]
    assert main(argv) == 0
    assert "9 clips of 2 methods; 5 pairs per participant (1 attention check)" in capsys.readouterr().out
    manifest = read_manifest(tmp_path / "study")
    assert {(c.method, c.sequence, c.setting) for c in manifest.clips if not c.check} == {
        (m, s, t) for m in ("vid2vid", "per-frame") for s in ("seq_0", "seq_1") for t in ("short", "long")}
    assert all(len(_decode(manifest.path(c))) == (3 if c.setting == "short" else 6) for c in manifest.clips)
    # a sequence missing from one folder, or videos of unequal length: refused, naming them
    _write_videos(tmp_path / "c", {"seq_0": 6})
    _write_videos(tmp_path / "d", {"seq_0": 6, "seq_1": 5})
    for other, message in (("c", r"method 'other': no video of sequence\(s\) \['seq_1'\]"),
                           ("d", r"sequence 'seq_1': the methods' videos differ in length or size "
                                 r"\(vid2vid: 6 frames of 16x24, other: 5 frames of 16x24\)")):
        argv = ["study", "make", "--out", str(tmp_path / f"s_{other}"), "--method", f"vid2vid={a}",
                "--method", f"other={tmp_path / other}"]
        assert main(argv) == 2
        assert re.search(message, capsys.readouterr().err), other
    assert main(["study", "make", "--out", str(tmp_path / "s"), "--method", f"vid2vid={a}",
                 "--method", f"b={b}", "--short", "6"]) == 2
    assert "short clip must be shorter" in capsys.readouterr().err


def test_the_demo_study_compares_real_videos_with_flickering_and_stuttering_ones(tmp_path):
    from vid2vid.study import demo_study

    manifest = read_manifest(demo_study(tmp_path / "demo", sequences=1, frames=6, short=3, checks=1).parent)
    assert manifest.reference == "real" and manifest.methods == ["real", "flicker", "stutter"]
    clips = {(c.method, c.setting, c.check): _decode(manifest.path(c)).astype(float) for c in manifest.clips}
    real, stutter = clips["real", "long", False], clips["stutter", "long", False]
    assert real.shape == (6, 128, 256, 3) and clips["real", "short", False].shape[0] == 3
    assert np.abs(stutter[1] - stutter[0]).mean() < 2 < np.abs(real[1] - real[0]).mean()  # frame 0 held
    brightness = clips["flicker", "long", False].mean(axis=(1, 2, 3)) - real.mean(axis=(1, 2, 3))
    assert brightness.std() > 3  # the colour jumps from frame to frame


# ---------------------------------------------------------------------------- randomisation


STRATA = [("vid2vid", "pix2pixHD")] * 7 + [("vid2vid", "no-flow")] * 6 + ["check"] * 3


def test_every_participant_sees_every_pair_once_with_balanced_sides_in_each_comparison():
    for number in range(40):
        trials = schedule(STRATA, number, seed=5)
        assert sorted(i for i, _ in trials) == list(range(len(STRATA)))
        for label in dict.fromkeys(STRATA):
            a_left = [a for i, a in trials if STRATA[i] == label]
            assert abs(2 * sum(a_left) - len(a_left)) <= 1, (number, label)  # 7 -> 3 or 4 left, 6 -> 3


def test_participants_two_by_two_see_every_pair_in_both_orders():
    for j in range(10):
        first, second = (dict(schedule(STRATA, n, seed=5)) for n in (2 * j, 2 * j + 1))
        assert all(first[i] != second[i] for i in range(len(STRATA)))
    # so over any even number of participants every pair was shown each way equally often
    shown = np.array([[dict(schedule(STRATA, n, seed=9))[i] for i in range(len(STRATA))] for n in range(12)])
    assert (shown.sum(axis=0) == 6).all()


def test_orders_are_random_per_participant_and_rebuilt_from_the_seed():
    orders = [[i for i, _ in schedule(STRATA, n, seed=5)] for n in range(8)]
    assert len({tuple(o) for o in orders}) == 8
    assert schedule(STRATA, 3, seed=5) == schedule(STRATA, 3, seed=5)
    assert schedule(STRATA, 3, seed=5) != schedule(STRATA, 3, seed=6)
    # a pair is not always in the same place: positions spread over the list
    assert len({o.index(0) for o in orders}) > 3
    with pytest.raises(ValueError, match="start at 0"):
        schedule(STRATA, -1, seed=5)


# ---------------------------------------------------------------------------- the database


def test_answers_and_schedules_survive_closing_the_database(tmp_path):
    folder, db = _study(tmp_path / "study"), tmp_path / "study.sqlite"
    with StudyStore(db, read_manifest(folder), seed=1) as store:
        pid = store.start()
        trials = store.trials(pid)
        store.answer(pid, 0, "left")
        store.answer(pid, 1, "right")
    with StudyStore(db, read_manifest(folder)) as store:
        assert store.trials(pid) == trials  # the same order and sides
        state = store.state(pid)
        assert state["answered"] == 2 and state["trial"]["position"] == 2 and state["total"] == 9
        answers = store.answers()
        assert [a["a_first"] == (c == "left") for a, c in zip(answers, ["left", "right"], strict=True)] == \
            [a["chose_a"] for a in answers]


def test_duplicate_out_of_order_and_malformed_answers_are_refused(tmp_path):
    with StudyStore(tmp_path / "s.sqlite", read_manifest(_study(tmp_path / "study"))) as store:
        pid = store.start()
        store.answer(pid, 0, "left")
        refusals = [(lambda: store.answer(pid, 0, "right"), 409, "already answered trial 0"),
                    (lambda: store.answer(pid, 3, "left"), 409, "trial 3 comes after trial 1"),
                    (lambda: store.answer(pid, 99, "left"), 400, "has no trial 99"),
                    (lambda: store.answer(pid, 1, "up"), 400, "choice 'up'"),
                    (lambda: store.answer(pid, 1, "left", layout="stacked"), 400, "layout 'stacked'"),
                    (lambda: store.answer("nobody", 0, "left"), 404, "no participant 'nobody'")]
        for call, status, message in refusals:
            with pytest.raises(AnswerRefused, match=message) as err:
                call()
            assert err.value.status == status
        assert store.counts()["answers"] == 1


def test_a_typed_code_resumes_its_participant_and_bad_codes_are_refused(tmp_path):
    with StudyStore(tmp_path / "s.sqlite", read_manifest(_study(tmp_path / "study"))) as store:
        pid = store.start(" Anna ")
        assert pid == "anna" and store.start("ANNA") == "anna" and store.counts()["participants"] == 1
        other = store.start()
        assert other != pid and len(other) == 8 and store.counts()["participants"] == 2
        for code in ("two words", "", "x" * 41, "../etc", "crowd:w1"):
            with pytest.raises(AnswerRefused, match="participant code"):
                store.start(code)


def test_a_database_of_other_clips_or_not_a_study_is_refused(tmp_path):
    folder, db = _study(tmp_path / "study"), tmp_path / "s.sqlite"
    StudyStore(db, read_manifest(folder)).close()
    (folder / "clips" / "0002.mp4").write_bytes(b"a different video under the same name")
    with pytest.raises(StudyError, match=r"s\.sqlite: made from other clips than .*manifest\.json"):
        StudyStore(db, read_manifest(folder))
    with pytest.raises(StudyError, match=r"missing\.sqlite: no such study database"):
        StudyStore(tmp_path / "missing.sqlite")
    (tmp_path / "notes.sqlite").write_text("not a database at all, but some notes")
    with pytest.raises(StudyError, match=r"notes\.sqlite: not a study database"):
        StudyStore(tmp_path / "notes.sqlite")


# ---------------------------------------------------------------------------- the report


def _tally(trials: list[dict]) -> dict:
    """(method_a, method_b, setting): [chose a, answers] from the answers given."""
    counts = {}
    for t in trials:
        if not t["check"]:
            k = counts.setdefault((t["method_a"], t["method_b"], t["setting"]), [0, 0])
            k[0] += t["chosen"] == t["method_a"]
            k[1] += 1
    return counts


def test_report_counts_and_intervals_per_setting_and_overall(tmp_path):
    folder, db = _study(tmp_path / "study", sequences=("s0", "s1", "s2")), tmp_path / "s.sqlite"
    with StudyStore(db, read_manifest(folder)) as store:
        given = []
        for pid, pick in (("p1", lambda t: "intact" if t["check"] else "vid2vid"),
                          ("p2", lambda t: "intact" if t["check"] else
                           t["method_a"] if t["setting"] == "long" else t["method_b"]),
                          ("p3", lambda t: "intact" if t["check"] else
                           t["method_a"] if t["sequence"] != "s2" else t["method_b"])):
            given += _answer_all(store, store.start(pid), pick)
    report = study_report(db)
    tally = _tally(given)
    assert report.settings == ["short", "long"] and report.participants == 3 and report.answers == 3 * 12
    assert report.excluded == [] and report.checks == {"p1": (1, 1), "p2": (1, 1), "p3": (1, 1)}
    for c in report.comparisons:
        for setting, score in c.settings.items():
            k, n = tally[c.a, c.b, setting]
            assert (score.chosen, score.answers, score.participants) == (k, n, 3)
            assert (score.low, score.high) == wilson_interval(k, n)
        k = sum(tally[c.a, c.b, s][0] for s in ("short", "long"))
        assert (c.overall.chosen, c.overall.answers) == (k, 18) and c.overall.fraction == k / 18
    # p1 always vid2vid, p2 only on long, p3 except on s2: short = 3 + 0 + 2 of 9 per comparison
    pix = report.comparison("vid2vid", "pix2pixHD")
    assert (pix.settings["short"].chosen, pix.settings["long"].chosen, pix.overall.chosen) == (5, 8, 13)
    assert pix.settings["short"].text() == "0.56 [0.27, 0.81]"  # Wilson: 5 of 9
    flipped = report.comparison("pix2pixHD", "vid2vid")
    assert flipped.overall.chosen == 18 - 13 and flipped.overall.low == pytest.approx(1 - pix.overall.high)
    long = pix.settings["long"].text()
    assert markdown_rows(report)[0] == \
        f"| vid2vid vs pix2pixHD | 0.56 [0.27, 0.81] | {long} | {pix.overall.text()} | 3 | 18 |"
    assert preference_cell(report, "vid2vid", "pix2pixHD") == (
        f"0.56 [0.27, 0.81] / {long} (3 participants, 18 answers)")
    assert preference_cell(report, "vid2vid", "COVST") == "not run"  # no such comparison
    assert preference_cell(None, "vid2vid", "pix2pixHD") == "not run"  # no study


def test_participants_who_choose_a_broken_video_are_left_out_and_named(tmp_path):
    folder, db = _study(tmp_path / "study"), tmp_path / "s.sqlite"
    with StudyStore(db, read_manifest(folder)) as store:
        _answer_all(store, store.start("careful"), lambda t: "intact" if t["check"] else "vid2vid")
        _answer_all(store, store.start("careless"), lambda t: "broken" if t["check"] else t["method_b"])
    report = study_report(db)
    assert report.excluded == ["careless"] and report.checks == {"careful": (1, 1), "careless": (0, 1)}
    assert report.participants == 1 and all(c.overall.fraction == 1.0 for c in report.comparisons)
    kept = study_report(db, keep_failed=True)
    assert kept.excluded == [] and kept.participants == 2
    assert all(c.overall.fraction == 0.5 for c in kept.comparisons)


def test_report_of_a_study_without_answers_says_so(tmp_path):
    folder, db = _study(tmp_path / "study"), tmp_path / "s.sqlite"
    StudyStore(db, read_manifest(folder)).close()
    report = study_report(db)
    assert report.answers == 0 and all(not c.overall.answers for c in report.comparisons)
    assert markdown_rows(report)[0] == "| vid2vid vs pix2pixHD | - | - | - | 0 | 0 |"
    assert preference_cell(report, "vid2vid", "pix2pixHD") == "not run"


def test_cli_report_prints_text_and_markdown_and_names_a_missing_database(tmp_path, capsys):
    folder, db = _study(tmp_path / "study"), tmp_path / "s.sqlite"
    with StudyStore(db, read_manifest(folder)) as store:
        _answer_all(store, store.start("p1"), lambda t: "intact" if t["check"] else "vid2vid")
    assert main(["study", "report", "--db", str(db)]) == 0
    text = capsys.readouterr().out
    assert "1 participant, 8 answers (8 web); attention checks: 1 of 1 right" in text
    assert [line.split() for line in text.splitlines() if line.startswith("vid2vid  pix2pixHD  all")] == [
        ["vid2vid", "pix2pixHD", "all", "4", "4", "1", "1.00", "[0.51,", "1.00]"]]
    assert main(["study", "report", "--db", str(db), "--format", "markdown"]) == 0
    markdown = capsys.readouterr().out
    assert "| comparison | short | long | all settings | participants | answers |" in markdown
    assert "| vid2vid vs no-flow | 1.00 [0.34, 1.00] | 1.00 [0.34, 1.00] | 1.00 [0.51, 1.00] | 1 | 4 |" \
        in markdown
    assert main(["study", "report", "--db", str(tmp_path / "nope.sqlite")]) == 2
    assert "error: " in (err := capsys.readouterr().err) and "nope.sqlite: no such study database" in err


def test_cli_serve_refuses_a_folder_without_manifest_and_a_port_in_use(tmp_path, capsys):
    import socket

    assert main(["study", "serve", "--clips", str(tmp_path), "--db", str(tmp_path / "s.sqlite")]) == 2
    assert f"error: {tmp_path}: no manifest.json" in capsys.readouterr().err
    folder = _study(tmp_path / "study")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        argv = ["study", "serve", "--clips", str(folder), "--db", str(tmp_path / "s.sqlite")]
        assert main([*argv, "--port", str(port)]) == 2
    assert f"error: cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


# ---------------------------------------------------------------------------- crowd platforms


def _results_csv(path: Path, rows: list[dict]) -> Path:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["HITId", "WorkerId", "AssignmentStatus", "Input.item",
                                               "Input.left_url", "Input.right_url", "Answer.choice"])
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_crowd_export_and_import_round_trip_into_the_same_report(tmp_path):
    folder, db = _study(tmp_path / "study"), tmp_path / "s.sqlite"
    pairs_csv = export_pairs(folder, db, tmp_path / "crowd", base_url="https://example.org/study")
    items = list(csv.DictReader(open(pairs_csv)))
    assert len(items) == 9 and list(items[0]) == ["item", "left_url", "right_url"]
    text = pairs_csv.read_text()
    assert not any(m in text for m in (*METHODS, "s0", "short", "0000.mp4"))  # nothing names a method
    assert all(i["left_url"].startswith("https://example.org/study/clips/") for i in items)
    # the uploaded clips are the study's, under random names
    methods_of = {}
    with StudyStore(db) as store:
        clips = store._db.execute("SELECT token, file, method, is_check FROM clips").fetchall()
        for token, file, method, check in clips:
            uploaded = tmp_path / "crowd" / "clips" / f"{token}.mp4"
            assert uploaded.read_bytes() == (folder / file).read_bytes()
            methods_of[f"https://example.org/study/clips/{token}.mp4"] = "broken" if check else method
    # within each comparison, the reference is on the left in half the items
    left = [methods_of[i["left_url"]] for i in items]
    assert abs(left.count("vid2vid") - 4.5) <= 1
    assert export_pairs(folder, db, tmp_path / "crowd", base_url="https://example.org/study") == pairs_csv
    assert list(csv.DictReader(open(pairs_csv))) == items  # exporting again: the same items

    rows = []
    for worker, prefers in (("W1", "vid2vid"), ("W2", "pix2pixHD")):
        for i in items:
            shown = (methods_of[i["left_url"]], methods_of[i["right_url"]])
            wanted = "vid2vid" if "broken" in shown else prefers
            choice = "left" if shown[0] == wanted else "right" if shown[1] == wanted else "left"
            rows.append({"HITId": i["item"], "WorkerId": worker, "AssignmentStatus": "Approved",
                         "Input.item": i["item"], "Input.left_url": i["left_url"],
                         "Input.right_url": i["right_url"], "Answer.choice": choice})
    rows.append(dict(rows[0], WorkerId="W3", **{"Answer.choice": "right", "AssignmentStatus": "Rejected"}))
    results = _results_csv(tmp_path / "Batch_results.csv", rows)
    assert import_answers(db, results) == {"imported": 18, "skipped": 1, "workers": 2}
    report = study_report(db)
    assert report.participants == 2 and report.sources == {"crowd": 16} and report.excluded == []
    assert report.checks == {"crowd:W1": (1, 1), "crowd:W2": (1, 1)}
    pix, flow = report.comparison("vid2vid", "pix2pixHD"), report.comparison("vid2vid", "no-flow")
    assert (pix.overall.chosen, pix.overall.answers) == (4, 8)  # W1 chose vid2vid, W2 pix2pixHD
    # W2 sees no pix2pixHD there and answers left, where vid2vid is in 2 of the 4 items (balanced sides)
    assert (flow.overall.chosen, flow.overall.answers) == (4 + 2, 8)
    # importing the same file again: refused as a whole, naming the row
    with pytest.raises(StudyError, match=r"Batch_results\.csv, row 2: worker 'W1' already has an answer"):
        import_answers(db, results)
    assert study_report(db).answers == 16


def test_crowd_answers_csv_errors_name_the_file_the_row_and_the_column(tmp_path):
    folder, db = _study(tmp_path / "study"), tmp_path / "s.sqlite"
    item = next(csv.DictReader(open(export_pairs(folder, db, tmp_path / "crowd"))))["item"]
    good = {"HITId": "h", "WorkerId": "W1", "AssignmentStatus": "", "Input.item": item, "Input.left_url": "",
            "Input.right_url": "", "Answer.choice": "left"}
    cases = [([good, dict(good, WorkerId="W2", **{"Input.item": "zzz"})], r"row 3: item 'zzz' is not one of"),
             ([dict(good, **{"Answer.choice": "both"})], r"row 2: choice 'both'; expected left / right"),
             ([dict(good, WorkerId="")], r"row 2: no worker id in column 'WorkerId'"),
             ([good, good], r"row 3: worker 'W1' answered item '.*' already in row 2")]
    for rows, message in cases:
        with pytest.raises(StudyError, match=r"answers\.csv, " + message):
            import_answers(db, _results_csv(tmp_path / "answers.csv", rows))
    with pytest.raises(StudyError, match=r"answers\.csv: no column 'Answer\.pick'.*--choice-column"):
        import_answers(db, tmp_path / "answers.csv", choice_column="Answer.pick")
    with StudyStore(db) as store:
        assert store.counts()["answers"] == 0  # nothing of a refused file is imported
    first = _results_csv(tmp_path / "answers.csv", [dict(good, **{"Answer.choice": "First"})])
    assert import_answers(db, first) == {"imported": 1, "skipped": 0, "workers": 1}


# ---------------------------------------------------------------------------- the tables


def test_tables_preference_columns_come_from_a_study_database(tmp_path):
    models = ["vid2vid", "pix2pixHD", "COVST", "no-fg-prior", "no-video-D", "no-flow"]
    folder, db = _study(tmp_path / "study", methods=models, checks=()), tmp_path / "s.sqlite"
    with StudyStore(db, read_manifest(folder)) as store:
        _answer_all(store, store.start("p1"),
                    lambda t: t["method_a" if t["setting"] == "short" else "method_b"])
        _answer_all(store, store.start("p2"), lambda t: "vid2vid")
    results_dir = tmp_path / "results"
    results_dir.mkdir()
    metrics = {"video_fid": 1.0, "frame_fid": 2.0, "warping_error": 0.1, "l1": 0.2, "psnr": 20.0,
               "fg_error": 0.3}
    (results_dir / "results.json").write_text(json.dumps({m: metrics for m in ["real video", *models]}))
    settings = {"command": "python reproduce/tables.py", "machine": "test", "evaluation_minutes": 1.0,
                "test_videos": 2, "frames": 10, "frame_size": "32x64", "eval_root": "eval",
                "video_features": "x"}
    (results_dir / "settings.json").write_text(json.dumps(settings))

    def last_cells() -> dict[str, str]:
        return {line.split("|")[1].strip(): line.split("|")[-2].strip()
                for line in (results_dir / "tables.md").read_text().splitlines() if line.startswith("| ")}

    sys.path.insert(0, str(REPO / "reproduce"))
    from evaluate import rewrite_tables

    rewrite_tables(results_dir)  # no study: "not run"
    before = last_cells()
    covst = "flow-guided smoothing (COVST-like)"  # the row of the untrained COVST-like baseline
    assert all(before[m] == "not run" for m in ("pix2pixHD", covst)) and before["vid2vid"] == "-"
    res = subprocess.run([sys.executable, "reproduce/tables.py", "--stage", "tables", "--results",
                          str(results_dir), "--preference-db", str(db)],
                         cwd=REPO, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    after = last_cells()
    report = study_report(db)
    for model in models[1:]:
        shown = {"COVST": covst}.get(model, model)
        row = next(label for label in after if label == shown or label.startswith("vid2vid w/o") and
                   {"no-fg-prior": "foreground", "no-video-D": "video discriminator", "no-flow": "flow"}
                   .get(model, "?") in label)
        assert after[row] == preference_cell(report, "vid2vid", model), model
        assert after[row].startswith("1.00 [0.51, 1.00] / 0.50 [0.15, 0.85] (2 participants, 8 answers)")
    text = (results_dir / "tables.md").read_text()
    assert "| vid2vid vs pix2pixHD | 1.00 [0.51, 1.00] | 0.50 [0.15, 0.85] | 0.75 [0.41, 0.93] | 2 | 8 |" \
        in text
    with pytest.raises(StudyError, match=r"none\.sqlite: no such study database"):
        rewrite_tables(results_dir, tmp_path / "none.sqlite")


# ---------------------------------------------------------------------------- the server, over HTTP


@pytest.fixture
def server(tmp_path):
    """The study server of a small study on a free port, in a thread of this process."""
    srv = make_server(_study(tmp_path / "study"), tmp_path / "s.sqlite", port=0, log=False)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(5)


def _request(srv, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    """A raw request (http.client sends the path as given: no normalisation of '..')."""
    con = http.client.HTTPConnection("127.0.0.1", srv.server_address[1], timeout=10)
    try:
        con.request(method, path, body=body, headers=headers or {})
        response = con.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        con.close()


def _post(srv, path: str, data, headers: dict | None = None):
    status, head, body = _request(srv, "POST", path, json.dumps(data).encode(),
                                  {"Content-Type": "application/json", **(headers or {})})
    return status, head, json.loads(body)


def test_paths_outside_the_routes_are_refused(server):
    manifest = (server.store.manifest.root / "manifest.json").read_bytes()
    for path in ("/manifest.json", "/../manifest.json", "/clip/../manifest.json", "/static/../manifest.json",
                 "/static/../../../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/clips/0000.mp4",
                 "/static/%2e%2e%2fserver.py", "/clip/0123456789abcdef", "/clip/" + "../" * 8 + "etc/passwd",
                 "//etc/passwd", "/static/index.html/../../manifest.json"):
        status, _, body = _request(server, "GET", path)
        assert status == 404, path
        assert manifest not in body and b"root:" not in body, path
    assert _request(server, "GET", "/static/study.js")[0] == 200


def test_clips_are_served_by_token_with_byte_ranges(server):
    with server.store.transaction() as db:
        token, file = db.execute("SELECT token, file FROM clips LIMIT 1").fetchone()
    data = (server.store.manifest.root / file).read_bytes()
    status, head, body = _request(server, "GET", f"/clip/{token}")
    assert status == 200 and body == data and head["Content-Type"] == "video/mp4"
    status, head, body = _request(server, "GET", f"/clip/{token}", headers={"Range": "bytes=3-9"})
    assert status == 206 and body == data[3:10] and head["Content-Range"] == f"bytes 3-9/{len(data)}"
    assert _request(server, "GET", f"/clip/{token}", headers={"Range": "bytes=-5"})[2] == data[-5:]
    assert _request(server, "GET", f"/clip/{token}", headers={"Range": f"bytes={len(data)}-"})[0] == 416


def test_malformed_and_duplicate_answers_are_refused_and_nothing_is_recorded(server):
    status, head, state = _post(server, "/api/start", {})
    pid, position = state["participant"], state["trial"]["position"]
    assert status == 200 and f"vid2vid_study={pid}" in head["Set-Cookie"] and position == 0
    good = {"participant": pid, "position": 0, "choice": "left"}
    assert _post(server, "/api/answer", good)[0] == 200
    refused = [
        (b"not json", {"Content-Type": "application/json"}, 400, "not JSON"),
        (json.dumps(good).encode(), {"Content-Type": "text/plain"}, 415, "expected application/json"),
        (b"{" + b" " * 5000 + b"}", {"Content-Type": "application/json"}, 413, "at most 4096"),
        (b"[1, 2]", {"Content-Type": "application/json"}, 400, "expected a JSON object"),
    ]
    for body, headers, status, message in refused:
        got, _, reply = _request(server, "POST", "/api/answer", body, headers)
        assert (got, message in json.loads(reply)["error"]) == (status, True), message
    for data, status, message in [
            ({"participant": pid, "position": 1}, 400, "expected the fields"),
            (good | {"extra": 1}, 400, "expected the fields"),
            (good | {"position": "1"}, 400, "position: expected int"),
            (good | {"position": True}, 400, "position: expected int"),
            (good | {"position": 1, "choice": "up"}, 400, "choice 'up'"),
            (good | {"participant": "someone-else", "position": 1}, 404, "no participant"),
            (good, 409, "already answered trial 0"),
            (good | {"position": 4}, 409, "comes after trial 1")]:
        got, _, reply = _post(server, "/api/answer", data)
        assert (got, message in reply["error"]) == (status, True), (data, reply)
    assert server.store.counts()["answers"] == 1
    assert _post(server, "/api/start", {"code": "a b"})[0] == 400
    assert _post(server, "/api/start", {"name": "x"})[0] == 400


def test_the_cookie_or_the_code_resumes_a_participant(server):
    _, head, state = _post(server, "/api/start", {"code": "Table-7"})
    assert state["participant"] == "table-7" and state["total"] == 9 and state["layout"] == "side-by-side"
    cookie = head["Set-Cookie"].split(";")[0]
    _post(server, "/api/answer", {"participant": "table-7", "position": 0, "choice": "right"})
    status, _, body = _request(server, "GET", "/api/state", headers={"Cookie": cookie})
    resumed = json.loads(body)
    assert status == 200 and resumed["answered"] == 1 and resumed["trial"]["position"] == 1
    assert resumed["trial"]["left"].startswith("/clip/")
    assert _request(server, "GET", resumed["trial"]["left"])[0] == 200
    assert _post(server, "/api/start", {"code": "table-7"})[2]["trial"] == resumed["trial"]
    assert _post(server, "/api/start", {}, {"Cookie": cookie})[2]["participant"] == "table-7"
    no_cookie = json.loads(_request(server, "GET", "/api/state")[2])
    assert no_cookie["participant"] is None and no_cookie["total"] == 9  # the welcome page
