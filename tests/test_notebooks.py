"""The course notebooks (``notebooks/*.ipynb``): stored clean, parameterised for papermill, runnable.

Every notebook in the folder is picked up; nothing here names one.

Storage policy (``notebooks/README.md``): notebooks are committed without outputs, execution counts
or widget state, so that diffs show only what a person wrote. Strip them with::

    python tests/test_notebooks.py --strip              # every notebook, in place
    python tests/test_notebooks.py --strip notebooks/03_occlusion_mask.ipynb
    python tests/test_notebooks.py --check              # report, change nothing (exit 1 if dirty)

Execution: each notebook runs with papermill, parameter ``SMOKE=True``, kernel ``python3``, the
notebooks folder as working directory and its output written to a temporary folder (``slow``).
The kernels run with one OpenMP thread: the models are tiny, and on a shared CPU several threads
per process spend their time waiting for each other.
"""

from __future__ import annotations

import argparse
import ast
import copy
import re
import sys
from pathlib import Path

import nbformat
import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
KERNEL = "python3"
CELL_TIMEOUT_S = 300  # a cell that runs longer has hung (smoke-mode cells take seconds)

# What a stored notebook may carry besides its cells' sources.
ALLOWED_NOTEBOOK_METADATA = {"kernelspec", "language_info"}
ALLOWED_CELL_METADATA = {"tags"}
CLEAN_LANGUAGE_INFO = {"name": "python"}


def _name(path: Path) -> str:
    return path.name


# ----------------------------------------------------------------------------- storage policy
def stored_state_problems(nb: nbformat.NotebookNode, where: str) -> list[str]:
    """Everything in ``nb`` that the storage policy forbids, one message per finding.

    Forbidden: outputs, execution counts, cell metadata other than ``tags`` (papermill's
    ``papermill`` / ``execution`` entries, ``collapsed``, ``scrolled``, ...), notebook metadata other
    than ``kernelspec`` and ``language_info`` (e.g. ``widgets``: saved widget state), and a
    ``language_info`` with more than the language name (versions change with every machine).
    """
    problems = []
    extra = sorted(set(nb.metadata) - ALLOWED_NOTEBOOK_METADATA)
    if extra:
        problems.append(f"{where}: notebook metadata {extra} (allowed: {sorted(ALLOWED_NOTEBOOK_METADATA)})")
    info = nb.metadata.get("language_info")
    if info is not None and dict(info) != CLEAN_LANGUAGE_INFO:
        problems.append(f"{where}: language_info {dict(info)} (expected {CLEAN_LANGUAGE_INFO})")
    for i, cell in enumerate(nb.cells):
        first_line = cell.source.strip().splitlines()[0][:60] if cell.source.strip() else "(empty)"
        at = f"{where}, cell {i} ({cell.cell_type}: {first_line!r})"
        if cell.cell_type == "code":
            if cell.get("outputs"):
                problems.append(f"{at}: {len(cell.outputs)} stored output(s)")
            if cell.get("execution_count") is not None:
                problems.append(f"{at}: execution_count {cell.execution_count} (expected null)")
        if cell.get("attachments"):
            problems.append(f"{at}: attachments {sorted(cell.attachments)}")
        extra = sorted(set(cell.metadata) - ALLOWED_CELL_METADATA)
        if extra:
            problems.append(f"{at}: cell metadata {extra} (allowed: {sorted(ALLOWED_CELL_METADATA)})")
    return problems


def strip(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``nb`` that satisfies the storage policy (sources and tags untouched)."""
    nb = copy.deepcopy(nb)
    kept = {k: v for k, v in nb.metadata.items() if k in ALLOWED_NOTEBOOK_METADATA}
    nb.metadata = nbformat.NotebookNode(kept)
    if "language_info" in nb.metadata:
        nb.metadata.language_info = nbformat.NotebookNode(CLEAN_LANGUAGE_INFO)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cell.pop("attachments", None)
        kept = {k: v for k, v in cell.metadata.items() if k in ALLOWED_CELL_METADATA}
        cell.metadata = nbformat.NotebookNode(kept)
    return nb


# ----------------------------------------------------------------------------- parameters cell
def parameters_problems(nb: nbformat.NotebookNode, where: str) -> list[str]:
    """The papermill convention: the first code cell after the imports (the second code cell) is the
    only one tagged ``parameters``, holds only ``NAME = <literal>`` assignments including
    ``SMOKE = None``, and the next code cell derives ``SMOKE`` from ``VID2VID_SMOKE``."""
    code = [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    tagged = [i for i, c in code if "parameters" in c.metadata.get("tags", [])]
    if len(code) < 3:
        return [f"{where}: expected imports, parameters and derived-settings cells; "
                f"found {len(code)} code cells"]
    index, cell = code[1]
    problems = []
    if tagged != [index]:
        problems.append(f"{where}: expected exactly cell {index} (the code cell after the imports) tagged "
                        f"'parameters', found tagged cells {tagged}")
    try:
        tree = ast.parse(cell.source)
    except SyntaxError as err:
        return problems + [f"{where}, cell {index}: parameters cell does not parse ({err})"]
    names = {}
    for stmt in tree.body:
        targets = getattr(stmt, "targets", [])
        if not (isinstance(stmt, ast.Assign) and len(targets) == 1 and isinstance(targets[0], ast.Name)):
            problems.append(f"{where}, cell {index}, line {stmt.lineno}: only 'NAME = <literal>' belongs in "
                            f"the parameters cell, found {ast.unparse(stmt)!r}")
            continue
        try:
            names[stmt.targets[0].id] = ast.literal_eval(stmt.value)
        except ValueError:
            problems.append(f"{where}, cell {index}, line {stmt.lineno}: {stmt.targets[0].id} is not a "
                            f"literal ({ast.unparse(stmt.value)!r}); derive it in the next cell")
    if names.get("SMOKE", "missing") is not None:
        problems.append(f"{where}, cell {index}: expected 'SMOKE = None' in the parameters cell, "
                        f"found SMOKE = {names.get('SMOKE', '(missing)')!r}")
    derived_index, derived = code[2]
    if "VID2VID_SMOKE" not in derived.source:
        problems.append(f"{where}, cell {derived_index}: the cell after the parameters should derive SMOKE "
                        f"from the VID2VID_SMOKE environment variable")
    return problems


# ----------------------------------------------------------------------------- tests
def test_notebooks_folder_holds_numbered_notebooks():
    assert NOTEBOOKS, f"no notebooks found in {NOTEBOOK_DIR}"
    bad = [p.name for p in NOTEBOOKS if not re.fullmatch(r"\d\d_[a-z0-9_]+\.ipynb", p.name)]
    assert not bad, f"notebook names must look like NN_topic.ipynb (ordered, lower case), found {bad}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_name)
def test_notebook_is_stored_without_outputs(path: Path):
    nb = nbformat.read(path, as_version=4)
    problems = stored_state_problems(nb, path.name)
    assert not problems, ("stored notebook state found; run `python tests/test_notebooks.py --strip`:\n"
                          + "\n".join(problems))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_name)
def test_notebook_is_valid_nbformat(path: Path):
    nbformat.validate(nbformat.read(path, as_version=4))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_name)
def test_notebook_has_papermill_parameters_cell(path: Path):
    problems = parameters_problems(nbformat.read(path, as_version=4), path.name)
    assert not problems, "\n".join(problems)


def test_strip_removes_outputs_counts_and_widget_state():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("print(1)", execution_count=3,
                                     outputs=[nbformat.v4.new_output("stream", text="1\n")])
    cell.metadata.update({"tags": ["parameters"], "papermill": {"duration": 1.0}, "scrolled": True})
    nb.cells = [cell, nbformat.v4.new_markdown_cell("# title")]
    nb.metadata.update({"widgets": {"state": {}}, "papermill": {}, "kernelspec": {"name": KERNEL},
                        "language_info": {"name": "python", "version": "3.11.7"}})
    dirty = stored_state_problems(nb, "example.ipynb")
    assert any("stored output" in p and "cell 0" in p for p in dirty)
    assert any("execution_count 3" in p for p in dirty)
    assert any("'widgets'" in p for p in dirty) and any("language_info" in p for p in dirty)
    clean = strip(nb)
    assert stored_state_problems(clean, "example.ipynb") == []
    assert clean.cells[0].source == "print(1)" and clean.cells[0].metadata == {"tags": ["parameters"]}
    assert clean.metadata.kernelspec == {"name": KERNEL}
    assert nb.cells[0].outputs, "strip must not modify its argument"


def test_parameters_check_rejects_derived_values_and_missing_smoke():
    def notebook(parameters: str) -> nbformat.NotebookNode:
        cells = [nbformat.v4.new_code_cell("import os"), nbformat.v4.new_code_cell(parameters),
                 nbformat.v4.new_code_cell('SMOKE = os.environ.get("VID2VID_SMOKE") == "1"')]
        cells[1].metadata["tags"] = ["parameters"]
        return nbformat.v4.new_notebook(cells=cells)

    assert parameters_problems(notebook("SMOKE = None  # comment\nSEED = 0\nSIZE = (64, 128)"), "ok") == []
    derived = parameters_problems(notebook("SMOKE = None\nSTEPS = 10 if SMOKE else 100"), "x.ipynb")
    assert len(derived) == 1 and "STEPS is not a literal" in derived[0] and "cell 1" in derived[0]
    assert any("SMOKE = None" in p for p in parameters_problems(notebook("SEED = 0"), "x.ipynb"))
    statement = parameters_problems(notebook("SMOKE = None\nimport os"), "x.ipynb")
    assert any("only 'NAME = <literal>'" in p for p in statement)


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=_name)
def test_notebook_runs_in_smoke_mode(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    papermill = pytest.importorskip("papermill")
    from jupyter_client.kernelspec import find_kernel_specs

    assert KERNEL in find_kernel_specs(), (
        f"no Jupyter kernel named {KERNEL!r} (found {sorted(find_kernel_specs())}); "
        f"install one with `python -m ipykernel install --user`"
    )
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # inherited by the kernel process
    before = sorted(p.relative_to(NOTEBOOK_DIR) for p in NOTEBOOK_DIR.rglob("*"))
    papermill.execute_notebook(
        str(path), str(tmp_path / path.name), parameters={"SMOKE": True}, kernel_name=KERNEL,
        cwd=str(NOTEBOOK_DIR), progress_bar=False, execution_timeout=CELL_TIMEOUT_S,
    )  # raises PapermillExecutionError, naming the cell, on any error or failed assert
    after = sorted(p.relative_to(NOTEBOOK_DIR) for p in NOTEBOOK_DIR.rglob("*"))
    new = sorted(set(after) - set(before) - {Path(".ipynb_checkpoints")})
    assert not new, (f"{path.name} left files in {NOTEBOOK_DIR}: {[str(p) for p in new]}; "
                     f"write into a temporary folder")


# ----------------------------------------------------------------------------- command line
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Strip or check the stored state of the course notebooks.")
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--strip", action="store_true",
                        help="remove outputs, execution counts and widget state, in place")
    action.add_argument("--check", action="store_true", help="report stored state; exit 1 if there is any")
    parser.add_argument("notebooks", nargs="*", type=Path, help=f"default: every notebook in {NOTEBOOK_DIR}")
    args = parser.parse_args(argv)
    paths = args.notebooks or NOTEBOOKS
    dirty = 0
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        problems = stored_state_problems(nb, path.name)
        if args.strip and problems:
            nbformat.write(strip(nb), path)
            print(f"stripped {path} ({len(problems)} finding(s))")
        elif args.check:
            for problem in problems:
                print(problem)
        dirty += bool(problems)
    if args.check:
        print(f"{dirty} of {len(paths)} notebook(s) carry stored state")
        return 1 if dirty else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
