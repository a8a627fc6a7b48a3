"""The preference scores of a study database: every method pair, per setting and over all settings.

The score of method A against method B (paper, section 5; Tables 1-3) is the fraction of answers
that chose A's video, with its Wilson score interval (:func:`vid2vid.metrics.preference.wilson_interval`)
as the uncertainty of a fraction from few answers. Each answer counts once: ``n`` is the number of
answers, not of participants (the report gives both).

Attention checks: a participant who chose the broken video of any check they answered was not
watching; their answers are left out of every score (``keep_failed=True`` keeps them), and the
report names them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from vid2vid.study.store import StudyStore

__all__ = ["Score", "Comparison", "StudyReport", "study_report", "format_text", "markdown_table",
           "markdown_rows", "preference_cell"]


@dataclass(frozen=True)
class Score:
    chosen: int  # answers that chose method A
    answers: int  # answers n
    participants: int  # distinct participants among them
    low: float  # Wilson interval of chosen / answers (NaN without answers)
    high: float

    @property
    def fraction(self) -> float:
        return self.chosen / self.answers if self.answers else float("nan")

    def text(self) -> str:
        """``0.75 [0.30, 0.95]``: the preference and its interval (``-`` without answers)."""
        return f"{self.fraction:.2f} [{self.low:.2f}, {self.high:.2f}]" if self.answers else "-"

    def flipped(self) -> Score:
        """The same answers scored for method B (the Wilson interval is symmetric: 1 - high, 1 - low)."""
        return Score(self.answers - self.chosen, self.answers, self.participants, 1 - self.high, 1 - self.low)


@dataclass(frozen=True)
class Comparison:
    a: str  # the method whose preference is scored
    b: str
    settings: dict[str, Score]  # per setting of the study (short, long, ...), in its order
    overall: Score  # every setting's answers together


@dataclass(frozen=True)
class StudyReport:
    db: str
    confidence: float
    settings: list[str]
    comparisons: list[Comparison]
    participants: int  # participants whose answers are counted (at least one comparison answered)
    answers: int  # comparison answers counted
    checks: dict[str, tuple[int, int]]  # participant: (checks answered right, checks answered)
    excluded: list[str]  # participants left out for choosing a broken video
    sources: dict[str, int]  # counted answers by source: web, crowd

    def comparison(self, a: str, b: str) -> Comparison | None:
        """The scores of ``a`` against ``b`` (either order), or None when the study has no such pair."""
        for c in self.comparisons:
            if (c.a, c.b) == (a, b):
                return c
            if (c.a, c.b) == (b, a):
                return Comparison(a, b, {s: v.flipped() for s, v in c.settings.items()}, c.overall.flipped())
        return None


def _score(rows: list[dict], confidence: float) -> Score:
    from vid2vid.metrics.preference import wilson_interval  # (vid2vid.metrics loads torch: only when scoring)

    n = len(rows)
    k = sum(r["chose_a"] for r in rows)
    low, high = wilson_interval(k, n, confidence) if n else (float("nan"), float("nan"))
    return Score(k, n, len({r["participant"] for r in rows}), low, high)


def study_report(db: str | os.PathLike, confidence: float = 0.95, keep_failed: bool = False) -> StudyReport:
    """Score every compared method pair of the study database ``db``, per setting and overall."""
    with StudyStore(db) as store:
        answers, comparisons, settings = store.answers(), store.comparisons(), store.settings()
    checks: dict[str, tuple[int, int]] = {}
    for r in answers:
        if r["check"]:
            right, shown = checks.get(r["participant"], (0, 0))
            checks[r["participant"]] = (right + r["chose_a"], shown + 1)  # a: the intact clip
    excluded = sorted(p for p, (right, shown) in checks.items() if right < shown)
    counted = [r for r in answers if not r["check"] and (keep_failed or r["participant"] not in excluded)]
    result = []
    for a, b in comparisons:
        rows = [r for r in counted if (r["method_a"], r["method_b"]) == (a, b)]
        per_setting = {s: _score([r for r in rows if r["setting"] == s], confidence) for s in settings}
        result.append(Comparison(a, b, per_setting, _score(rows, confidence)))
    sources: dict[str, int] = {}
    for r in counted:
        sources[r["source"]] = sources.get(r["source"], 0) + 1
    return StudyReport(str(db), confidence, settings, result, len({r["participant"] for r in counted}),
                       len(counted), checks, [] if keep_failed else excluded, sources)


def _count(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _summary(report: StudyReport) -> str:
    failed = sorted(p for p, (right, shown) in report.checks.items() if right < shown)
    right = sum(r for r, _ in report.checks.values())
    shown = sum(s for _, s in report.checks.values())
    line = f"{_count(report.participants, 'participant')}, {_count(report.answers, 'answer')}"
    if report.sources:
        line += " (" + ", ".join(f"{n} {s}" for s, n in sorted(report.sources.items())) + ")"
    if shown:
        line += f"; attention checks: {right} of {shown} right"
        who = f"{_count(len(failed), 'participant')} ({', '.join(failed)})"
        if failed and report.excluded:
            line += f"; left out for choosing a broken video: {who}"
        elif failed:
            line += f"; counted although they chose a broken video: {who}"
    return line


def format_text(report: StudyReport) -> str:
    """The report as aligned text: each comparison per setting and over all settings."""
    pct = round(report.confidence * 100)
    lines = [f"Human preference study {report.db}: {_summary(report)}",
             f"Preference for A over B: the fraction of answers that chose A, with its {pct}% Wilson "
             "interval.", ""]
    head = ("A", "B", "setting", "chose A", "answers", "participants", "preference", f"{pct}% interval")
    rows = []
    for c in report.comparisons:
        for setting, s in [*c.settings.items(), ("all", c.overall)]:
            rows.append((c.a, c.b, setting, str(s.chosen), str(s.answers), str(s.participants),
                         f"{s.fraction:.2f}" if s.answers else "-",
                         f"[{s.low:.2f}, {s.high:.2f}]" if s.answers else "-"))
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in [head, *rows]]
    if not report.answers:
        lines.append("(no answers yet)")
    return "\n".join(lines)


def markdown_rows(report: StudyReport) -> list[str]:
    """One Markdown table row per comparison: ``| A vs B | <setting> ... | all settings | participants |
    answers |``, each score as ``0.75 [0.30, 0.95]`` (``-`` where a setting has no answers)."""
    rows = []
    for c in report.comparisons:
        cells = [c.settings[s].text() for s in report.settings]
        rows.append(f"| {c.a} vs {c.b} | " + " | ".join(cells) +
                    f" | {c.overall.text()} | {c.overall.participants} | {c.overall.answers} |")
    return rows


def markdown_table(report: StudyReport) -> str:
    """:func:`markdown_rows` under their header, and a line saying what the numbers are."""
    pct = round(report.confidence * 100)
    head = "| comparison | " + " | ".join(report.settings) + " | all settings | participants | answers |"
    return "\n".join([head, "|" + "---|" * (len(report.settings) + 4), *markdown_rows(report), "",
                      f"Human preference for the first method of each comparison: the fraction of answers "
                      f"that chose it [{pct}% Wilson interval]. {_summary(report)}."])


def preference_cell(report: StudyReport | None, a: str, b: str) -> str:
    """A table cell with the preference for ``a`` over ``b``, per setting as the paper writes it
    (``short / long``) with the participants and answers, e.g. ``0.75 [0.30, 0.95] / 0.60 [0.23, 0.88]
    (3 participants, 16 answers)``; ``not run`` without a report or without answers for the pair."""
    c = None if report is None else report.comparison(a, b)
    if c is None or not c.overall.answers:
        return "not run"
    scores = " / ".join(c.settings[s].text() for s in report.settings)
    who = f"{_count(c.overall.participants, 'participant')}, {_count(c.overall.answers, 'answer')}"
    return f"{scores} ({who})"
