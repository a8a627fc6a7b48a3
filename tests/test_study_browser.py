"""The study web app end to end in a real browser: ``python -m vid2vid study serve`` in its own process,
headless Chromium driven by Selenium clicking the page's buttons as participants would.

Two participants answer every pair and the report counts exactly what they clicked; a reload, or the
code typed on a fresh browser, resumes where a participant left off; a server killed with SIGKILL
and started again has every answer; the one-after-the-other layout opens the choice once both videos
have played; paths outside the study and malformed answers are refused.

Needs Chromium and chromedriver (Debian: ``apt-get install chromium chromium-driver``, which
``.ci/run`` does) and Selenium (the ``dev`` extra); without the browser these tests are skipped.
"""

import http.client
import os
import queue
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from vid2vid.metrics import wilson_interval
from vid2vid.study import study_report, write_study

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome",
                                                "google-chrome-stable"))), None)
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None or CHROMEDRIVER is None,
                       reason="no Chromium and chromedriver on PATH (Debian: apt-get install chromium "
                              "chromium-driver): the study app's browser tests need a real browser"),
]
METHODS = ("vid2vid", "pix2pixHD", "no-flow")
N_TRIALS = 2 * 2 * 2 + 1  # (vid2vid vs 2 methods) x 2 sequences x 2 settings, and 1 attention check


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory) -> Path:
    """Real H.264 clips: each method a square of its own colour moving across 6 frames."""
    colours = {"vid2vid": (40, 160, 60), "pix2pixHD": (180, 60, 40), "no-flow": (40, 60, 180)}
    videos = {}
    for method, colour in colours.items():
        videos[method] = []
        for seq in range(2):
            frames = np.full((6, 32, 48, 3), 200, np.uint8)
            for t in range(6):
                frames[t, 8:24, 4 * t + 8 * seq: 4 * t + 8 * seq + 16] = colour
            videos[method].append(frames)
    folder = tmp_path_factory.mktemp("study")
    write_study(videos, folder, sequences=["road", "park"], settings={"short": 3, "long": None},
                reference="vid2vid", checks=1)
    return folder


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1200,900",
                 "--autoplay-policy=no-user-gesture-required", "--mute-audio"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


class StudyProcess:
    """``python -m vid2vid study serve`` on a free port, in its own process."""

    def __init__(self, clips: Path, db: Path, layout: str = "side-by-side") -> None:
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "vid2vid", "study", "serve", "--clips", str(clips), "--db", str(db),
             "--port", "0", "--layout", layout],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.output: list[str] = []
        urls: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, args=(urls,), daemon=True).start()
        try:
            self.url = urls.get(timeout=180)
        except queue.Empty:
            self.url = None
        if self.url is None:
            self.proc.kill()
            raise AssertionError("the study server did not start:\n" + "".join(self.output))
        self.port = int(self.url.rstrip("/").rsplit(":", 1)[1])

    def _read(self, urls: queue.Queue) -> None:
        for line in self.proc.stdout:
            self.output.append(line)
            if match := re.search(r"serving at (http://\S+/)", line):
                urls.put(match[1])
        urls.put(None)

    def kill(self) -> None:
        """SIGKILL: no chance to clean up, as a crash or a pulled plug."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)


@pytest.fixture
def serve(study_dir, tmp_path, browser):
    """Start study servers on ``tmp_path/study.sqlite`` (each call one more; all stopped after the test),
    with a browser that holds no cookie from an earlier test."""
    started = []

    def start(layout: str = "side-by-side") -> StudyProcess:
        started.append(StudyProcess(study_dir, tmp_path / "study.sqlite", layout))
        return started[-1]

    browser.delete_all_cookies()
    yield start
    for server in started:
        server.stop()


def _clips(db: Path) -> dict[str, dict]:
    """What each served clip is, by its URL (the test may know; the participant may not)."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        rows = con.execute("SELECT token, method, sequence, setting, is_check FROM clips").fetchall()
    return {f"/clip/{token}": {"method": m, "sequence": seq, "setting": setting, "check": bool(check)}
            for token, m, seq, setting, check in rows}


def _answers(db: Path) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        return con.execute("SELECT COUNT(*) FROM answers").fetchone()[0]


class Participant:
    """A person at the browser: reads the page, clicks its buttons."""

    def __init__(self, driver, url: str, db: Path) -> None:
        self.driver, self.url, self.db = driver, url, db

    def page(self) -> dict:
        return self.driver.execute_script(
            "const $ = (id) => document.getElementById(id);"
            "return {view: document.body.dataset.view || null, position: $('trial').dataset.position,"
            " left: $('left').getAttribute('src'), right: $('right').getAttribute('src'),"
            " progress: $('progress').textContent, code: $('participant').textContent,"
            " done_code: $('done-code').textContent,"
            " enabled: !$('choose-left').disabled && !$('choose-right').disabled,"
            " widths: [$('left').videoWidth, $('right').videoWidth],"
            " labels: [$('left-label').textContent, $('right-label').textContent]};")

    def wait(self, condition, timeout: float = 30) -> dict:
        from selenium.webdriver.support.ui import WebDriverWait

        WebDriverWait(self.driver, timeout, poll_frequency=0.05).until(lambda _: condition(self.page()))
        return self.page()

    def open(self) -> dict:
        self.driver.get(self.url)
        return self.wait(lambda p: p["view"] in ("welcome", "trial", "done"))

    def start(self, code: str = "") -> dict:
        from selenium.webdriver.common.by import By

        field = self.driver.find_element(By.ID, "code")
        field.clear()
        field.send_keys(code)
        self.driver.find_element(By.ID, "start").click()
        return self.wait(lambda p: p["view"] in ("trial", "done"))

    def answer(self, pick) -> dict:
        """Answer the pair on screen with ``pick(left, right) -> "left" | "right"`` (each side's clip
        as the database knows it); returns what was shown and clicked."""
        from selenium.webdriver.common.by import By

        shown = self.wait(lambda p: p["view"] == "trial" and p["enabled"])
        clips = _clips(self.db)
        left, right = clips[shown["left"]], clips[shown["right"]]
        choice = pick(left, right)
        self.driver.find_element(By.ID, f"choose-{choice}").click()
        self.wait(lambda p: p["view"] == "done" or p["position"] != shown["position"])
        chosen, other = (left, right) if choice == "left" else (right, left)
        return {"position": int(shown["position"]), "left": left, "right": right, "choice": choice,
                "chosen": chosen, "other": other, "progress": shown["progress"]}

    def answer_all(self, pick) -> list[dict]:
        clicks = []
        while self.page()["view"] == "trial":
            clicks.append(self.answer(pick))
        return clicks


def _pair(click: dict) -> tuple:
    """The pair a click answered: sequence, setting, the two methods, and whether an attention check."""
    left, right = click["left"], click["right"]
    return (left["sequence"], left["setting"], frozenset((left["method"], right["method"])),
            left["check"] or right["check"])


def prefers(method_by_setting: dict[str, str]):
    """A participant who picks, per setting, the clip of a method (else the reference), and always
    the intact video of an attention check."""
    def pick(left: dict, right: dict) -> str:
        if left["check"] or right["check"]:
            return "right" if left["check"] else "left"
        wanted = method_by_setting.get(left["setting"], "vid2vid")
        return "left" if left["method"] == wanted else "right" if right["method"] == wanted else "left"
    return pick


def test_two_participants_answer_every_pair_and_the_report_counts_their_clicks(serve, browser, tmp_path):
    server, db = serve(), tmp_path / "study.sqlite"
    first = Participant(browser, server.url, db)
    assert first.open()["view"] == "welcome"
    first.start()  # no code: the server makes one and keeps it in a cookie
    assert first.wait(lambda p: p["widths"] == [48, 48])  # the browser decodes both clips
    clicks_1 = first.answer_all(prefers({"short": "vid2vid", "long": "vid2vid"}))
    code_1 = first.page()["done_code"]
    browser.delete_all_cookies()
    second = Participant(browser, server.url, db)
    assert second.open()["view"] == "welcome"
    second.start("Table-7")
    clicks_2 = second.answer_all(prefers({"short": "pix2pixHD", "long": "vid2vid"}))
    assert second.page()["view"] == "done" and second.page()["done_code"] == "table-7" != code_1

    # every pair once each, in the order the page showed them
    for clicks in (clicks_1, clicks_2):
        assert [c["position"] for c in clicks] == list(range(N_TRIALS))
        assert [c["progress"] for c in clicks] == [f"Pair {i + 1} of {N_TRIALS}" for i in range(N_TRIALS)]
        assert len({_pair(c) for c in clicks}) == N_TRIALS
    # randomised per participant and recorded: another order, and (participants 0 and 1) each pair on
    # the other side; the database's schedule is what the page showed
    order = [[(c["left"]["sequence"], c["left"]["setting"], c["left"]["method"], c["right"]["method"])
              for c in clicks] for clicks in (clicks_1, clicks_2)]
    assert order[0] != order[1]
    left_of = [{_pair(c): (c["left"]["method"], c["left"]["check"]) for c in clicks}
               for clicks in (clicks_1, clicks_2)]
    assert left_of[0].keys() == left_of[1].keys() and all(left_of[0][k] != left_of[1][k] for k in left_of[0])
    with sqlite3.connect(db) as con:
        for pid, clicks in ((code_1, clicks_1), ("table-7", clicks_2)):
            recorded = con.execute("SELECT ca.method, cb.method, t.a_first FROM trials t "
                                   "JOIN pairs p ON p.id = t.pair JOIN clips ca ON ca.id = p.a "
                                   "JOIN clips cb ON cb.id = p.b WHERE t.participant = ? ORDER BY t.position",
                                   (pid,)).fetchall()
            shown_left = [a if a_first else b for a, b, a_first in recorded]
            assert [c["left"]["method"] for c in clicks] == shown_left

    # the report: per comparison and setting, what the two clicked, with its Wilson interval
    tally: dict = {}
    for c in clicks_1 + clicks_2:
        if c["left"]["check"] or c["right"]["check"]:
            continue
        other = c["left"]["method"] if c["left"]["method"] != "vid2vid" else c["right"]["method"]
        for setting in (c["left"]["setting"], "all"):
            k = tally.setdefault((other, setting), [0, 0])
            k[0] += c["chosen"]["method"] == "vid2vid"
            k[1] += 1
    report = study_report(db)
    assert report.participants == 2 and report.answers == 2 * (N_TRIALS - 1) and report.excluded == []
    assert report.checks == {code_1: (1, 1), "table-7": (1, 1)}
    for c in report.comparisons:
        for setting, score in [*c.settings.items(), ("all", c.overall)]:
            k, n = tally[c.b, setting]
            assert (c.a, score.chosen, score.answers, score.participants) == ("vid2vid", k, n, 2)
            assert (score.low, score.high) == wilson_interval(k, n)
    # the first always chose vid2vid; the second chose pix2pixHD on short clips and vid2vid on long ones
    assert tally["pix2pixHD", "short"] == [2, 4] and tally["pix2pixHD", "long"] == [4, 4]
    res = subprocess.run([sys.executable, "-m", "vid2vid", "study", "report", "--db", str(db)], cwd=REPO,
                         capture_output=True, text=True, timeout=300,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert res.returncode == 0, res.stderr
    assert "2 participants, 16 answers (16 web); attention checks: 2 of 2 right" in res.stdout
    pix = report.comparison("vid2vid", "pix2pixHD").overall
    assert re.search(rf"vid2vid\s+pix2pixHD\s+all\s+6\s+8\s+2\s+0\.75\s+\[{pix.low:.2f}, {pix.high:.2f}\]",
                     res.stdout)


def test_a_reload_or_the_code_on_a_fresh_browser_resumes_where_the_participant_left_off(serve, browser,
                                                                                          tmp_path):
    server, db = serve(), tmp_path / "study.sqlite"
    person = Participant(browser, server.url, db)
    person.open()
    person.start()
    for _ in range(3):
        person.answer(prefers({}))
    before = person.page()
    code = before["code"]
    browser.refresh()
    after = person.wait(lambda p: p["view"] == "trial")
    assert after["progress"] == f"Pair 4 of {N_TRIALS}" and after["position"] == "3"
    assert (after["left"], after["right"], after["code"]) == (before["left"], before["right"], code)
    # a fresh browser (no cookie) starts at the welcome page; the code brings the participant back
    browser.delete_all_cookies()
    assert person.open()["view"] == "welcome"
    again = person.start(code.upper())
    assert (again["progress"], again["left"], again["right"]) == (f"Pair 4 of {N_TRIALS}", before["left"],
                                                                  before["right"])
    rest = person.answer_all(prefers({}))
    assert len(rest) == N_TRIALS - 3 and person.page()["view"] == "done" and _answers(db) == N_TRIALS
    assert study_report(db).participants == 1


def test_a_killed_and_restarted_server_keeps_every_answer(serve, browser, tmp_path):
    db = tmp_path / "study.sqlite"
    server = serve()
    person = Participant(browser, server.url, db)
    person.open()
    person.start()
    clicks = [person.answer(prefers({})) for _ in range(4)]
    code = person.page()["code"]
    server.kill()
    assert server.proc.returncode == -signal.SIGKILL
    assert _answers(db) == 4  # every acknowledged answer is on disk
    restarted = serve()
    assert "(participants so far: 1, answers: 4)" in "".join(restarted.output)
    person.url = restarted.url  # another port, the same host: the cookie still names the participant
    page = person.open()
    assert page["view"] == "trial" and page["progress"] == f"Pair 5 of {N_TRIALS}" and page["code"] == code
    clicks += person.answer_all(prefers({}))
    assert [c["position"] for c in clicks] == list(range(N_TRIALS))
    report = study_report(db)
    assert report.answers == N_TRIALS - 1 and report.participants == 1
    assert all(c.overall.fraction == 1.0 for c in report.comparisons)  # always vid2vid, before and after


def test_one_after_the_other_the_choice_opens_when_both_videos_have_played(serve, browser, tmp_path):
    server, db = serve("sequential"), tmp_path / "study.sqlite"
    person = Participant(browser, server.url, db)
    person.open()
    page = person.start()
    assert page["labels"] == ["First video", "Second video"] and not page["enabled"]
    played = person.wait(lambda p: p["enabled"])  # 3 or 6 frames at 10 fps each, one after the other
    assert played["position"] == "0"
    first = person.answer(lambda left, right: "right")
    person.answer(lambda left, right: "left")
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        rows = con.execute("SELECT position, layout, chose_a, a_first FROM answers "
                           "ORDER BY position").fetchall()
    assert [(r[0], r[1]) for r in rows] == [(0, "sequential"), (1, "sequential")]
    # "the second" chose the clip shown second: a when b was shown first
    assert bool(rows[0][2]) == (not rows[0][3]) and bool(rows[1][2]) == bool(rows[1][3])
    assert first["chosen"] == first["right"]


def test_paths_outside_the_study_and_malformed_answers_are_refused(serve, browser, tmp_path, study_dir):
    server, db = serve(), tmp_path / "study.sqlite"
    person = Participant(browser, server.url, db)
    person.open()
    pid = person.start()["code"]
    person.answer(prefers({}))
    manifest = (study_dir / "manifest.json").read_bytes()
    # raw requests: a browser would normalise the dots away before sending
    for path in ("/../manifest.json", "/clip/../manifest.json", "/static/../../manifest.json",
                 "/%2e%2e/manifest.json", "/static/%2e%2e%2f%2e%2e%2fmanifest.json", "/../../../etc/passwd",
                 "/manifest.json", "/clips/" + next((study_dir / "clips").iterdir()).name):
        con = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        con.request("GET", path)
        response = con.getresponse()
        body = response.read()
        con.close()
        assert response.status == 404 and manifest not in body and b"root:" not in body, path
    # from the page itself
    statuses = browser.execute_async_script("""
        const [pid, done] = arguments;
        const post = (body, type = "application/json") => fetch("/api/answer", {method: "POST",
            headers: {"Content-Type": type}, body}).then((r) => r.status);
        const answer = (fields) => post(JSON.stringify({participant: pid, position: 1, choice: "left",
                                                        ...fields}));
        (async () => done([
            await post("{not json"),
            await post(JSON.stringify({participant: pid, position: 1, choice: "left"}), "text/plain"),
            await answer({choice: "both"}),
            await answer({position: "1"}),
            await answer({participant: "nobody"}),
            await answer({position: 0}),
            await answer({position: 5}),
            (await fetch("/static/../manifest.json")).status,
            (await fetch("/clip/..%2fmanifest.json")).status,
        ]))();
    """, pid)
    assert statuses == [400, 415, 400, 400, 404, 409, 409, 404, 404]
    assert _answers(db) == 1
    page = person.open()  # the page still works and resumes at pair 2
    assert page["progress"] == f"Pair 2 of {N_TRIALS}"
