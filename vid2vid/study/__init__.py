"""Human preference studies (paper, section 5; the preference scores of Tables 1-3), run for real.

A two-alternative forced choice: a participant sees the videos of two methods generated from the
same input, side by side (or one after the other), and picks the one that looks more real. The
pieces, bottom to top:

- :mod:`~vid2vid.study.manifest`: a study folder, its clips and ``manifest.json`` (method, sequence
  and setting of each clip; attention checks); :func:`write_study` writes one from videos;
- :mod:`~vid2vid.study.design`: each participant's pair order and balanced left/right sides;
- :mod:`~vid2vid.study.store`: the SQLite database of schedules and answers;
- :mod:`~vid2vid.study.server`: the web app (``python -m vid2vid study serve``), standard library only;
- :mod:`~vid2vid.study.report`: preference and Wilson interval per comparison and setting
  (``python -m vid2vid study report``), and the Markdown rows of the tables;
- :mod:`~vid2vid.study.crowd`: a CSV of pairs for a crowd platform and the reader of its answers;
- :mod:`~vid2vid.study.sources`: study folders from folders of videos, and a demo study.
"""

from vid2vid.study.crowd import export_pairs, import_answers
from vid2vid.study.design import balanced_sides, schedule
from vid2vid.study.manifest import (
    DEFAULT_QUESTION,
    Clip,
    Manifest,
    Pair,
    StudyError,
    broken_video,
    read_manifest,
    write_study,
)
from vid2vid.study.report import (
    Comparison,
    Score,
    StudyReport,
    format_text,
    markdown_rows,
    markdown_table,
    preference_cell,
    study_report,
)
from vid2vid.study.server import StudyServer, make_server, serve
from vid2vid.study.sources import demo_study, read_video, study_from_folders
from vid2vid.study.store import LAYOUTS, AnswerRefused, StudyStore

__all__ = [
    "DEFAULT_QUESTION", "LAYOUTS", "AnswerRefused", "Clip", "Comparison", "Manifest", "Pair", "Score",
    "StudyError", "StudyReport", "StudyServer", "StudyStore", "balanced_sides", "broken_video",
    "demo_study", "export_pairs", "format_text", "import_answers", "make_server", "markdown_rows",
    "markdown_table", "preference_cell", "read_manifest", "read_video", "schedule", "serve",
    "study_from_folders", "study_report", "write_study",
]
