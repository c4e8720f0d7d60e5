"""The report: the audit notebooks executed with papermill into one folder, as HTML, with a
front page (contract section 7, ``privaudit report``).

:func:`report` ensures one audit run, executes every notebook with papermill into ``out/`` with
that ``run_id``, converts each to self-contained HTML (no CDN scripts) and writes
``out/index.html`` (``toolkit.frontpage``). A failing notebook makes the exit code 1, is named
with its failing cell, and does not stop the others. :func:`render` does only the HTML and the
index, for notebooks a scheduler (Airflow's PapermillOperator) executed itself.

What the notebooks compute is ``toolkit.analysis``; how they show it, ``toolkit.show``.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Iterable

from .analysis import (NOTEBOOK_DIR, NOTEBOOKS, SCRAP_MIME, open_run, read_scraps,
                       resolve_db, rule_headline, rule_notebook)
from .exceptions import UnusableInputError
from .findings import audit, load_run
from .frontpage import TEMPLATES, write_index
from .policy import load_policy


@dataclass
class NotebookResult:
    name: str
    status: str                       # ok | failed
    ipynb: Path
    html: Path | None = None
    seconds: float = 0.0
    error: str = ""                   # one line: the failing cell and the exception
    cell: int | None = None           # the failing cell's position (1-based) in the source notebook
    cell_id: str = ""                 # and its id (nbformat 4.5)
    execution_count: int | None = None
    section: str = ""                 # the heading above the failing cell
    headline: dict | None = None


@dataclass
class ReportResult:
    exit_code: int                    # 0 all notebooks ran, 1 at least one failed
    index: Path
    out_dir: Path
    run_id: str
    as_of_date: date
    revealed: bool
    notebooks: list[NotebookResult]
    rules: list[dict]                 # the per-rule table of the front page
    seconds: float = 0.0

    @property
    def failed(self) -> list[NotebookResult]:
        return [n for n in self.notebooks if n.status != "ok"]

    @property
    def statuses(self) -> dict[str, str]:
        return {n.name: n.status for n in self.notebooks}

    @property
    def headlines(self) -> dict[str, dict | None]:
        return {n.name: n.headline for n in self.notebooks}

    def messages(self) -> list[str]:
        return [n.error for n in self.failed]


def notebook_paths(notebooks: Iterable[str | Path] | None = None) -> list[Path]:
    """The notebooks to run: names from ``notebooks/`` or paths; default all, summary last."""
    if notebooks is None:
        notebooks = NOTEBOOKS
    paths = []
    for nb in notebooks:
        p = Path(nb)
        if p.suffix != ".ipynb":
            p = NOTEBOOK_DIR / f"{nb}.ipynb"
        if not p.is_file():
            raise UnusableInputError(f"{p}: notebook not found")
        paths.append(p)
    return paths


def to_html(notebook: str | Path, html_path: str | Path, show_code: bool = False) -> Path:
    """An executed notebook as one self-contained HTML file (images inline, no CDN scripts)."""
    import jinja2
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(str(notebook), as_version=4)
    for cell in nb.cells:          # glued values are data for read-back, not for readers
        if cell.get("outputs"):
            cell.outputs = [o for o in cell.outputs if SCRAP_MIME not in o.get("data", {})]
    exporter = HTMLExporter(template_name="lab", template_file="notebook.html.j2",
                            extra_loaders=[jinja2.FileSystemLoader(str(TEMPLATES))],
                            exclude_input=not show_code, exclude_input_prompt=not show_code,
                            exclude_output_prompt=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        body, _ = exporter.from_notebook_node(nb)
    Path(html_path).write_text(body, encoding="utf-8")
    return Path(html_path)


def _failure(source_nb: Path, out_nb: Path, exc: BaseException | None = None) -> dict:
    """Where a notebook failed: the failing cell's 1-based position in the source notebook (as
    seen in JupyterLab), its id, execution count and first line, the section heading above it,
    and a one-line message naming all of that."""
    import nbformat

    name = source_nb.stem
    ename = getattr(exc, "ename", None) or (type(exc).__name__ if exc is not None else "")
    evalue = str(getattr(exc, "evalue", None) or exc or "")
    info = {"cell": None, "cell_id": "", "execution_count": getattr(exc, "exec_count", None),
            "section": "", "source_line": ""}
    try:
        executed = nbformat.read(str(out_nb), as_version=4) if out_nb.is_file() else None
        source = nbformat.read(str(source_nb), as_version=4)
    except Exception:  # noqa: BLE001 - the message stays useful without the cell
        executed = source = None
    failing = None
    if executed is not None:
        for i, c in enumerate(executed.cells):
            if c.cell_type == "code" and any(o.get("output_type") == "error" for o in c.outputs):
                failing = i
                break
    if failing is not None:
        cell = executed.cells[failing]
        err = next(o for o in cell.outputs if o.get("output_type") == "error")
        if exc is None:
            ename, evalue = err.get("ename", "Error"), err.get("evalue", "")
        info["cell_id"] = cell.get("id", "")
        info["execution_count"] = cell.get("execution_count") or info["execution_count"]
        lines = [ln for ln in cell.source.splitlines() if ln.strip()]
        info["source_line"] = lines[0].strip()[:120] if lines else ""
        ids = [c.get("id") for c in source.cells]
        if info["cell_id"] in ids:
            info["cell"] = ids.index(info["cell_id"]) + 1
        for c in executed.cells[:failing][::-1]:
            m = re.search(r"^#+\s*(.+)$", c.source, re.M) if c.cell_type == "markdown" else None
            if m:
                info["section"] = re.sub(r"<[^>]+>", "", m.group(1)).strip()
                break
    evalue = re.sub(r"\x1b\[[0-9;]*m", "", evalue).strip()
    evalue = evalue.splitlines()[0][:300] if evalue else ""
    where = (f"cell {info['cell']} of {len(source.cells)}" if info["cell"] is not None
             else "a cell" if failing is not None else "start-up (no cell ran)")
    if info["execution_count"] is not None:
        where += f" (In [{info['execution_count']}])"
    if info["section"]:
        where += f", section '{info['section']}'"
    if info["source_line"]:
        where += f", `{info['source_line']}`"
    info["error"] = f"{name}.ipynb failed at {where}: {ename}: {evalue}"
    return info


def execute(notebook: Path, out_nb: Path, parameters: dict, kernel: str = "python3") -> NotebookResult:
    """Run one notebook with papermill; a failure is reported, never raised."""
    import papermill as pm

    name = notebook.stem
    t0 = time.perf_counter()
    res = NotebookResult(name, "ok", out_nb)
    try:
        pm.execute_notebook(str(notebook), str(out_nb), parameters=parameters, kernel_name=kernel,
                            progress_bar=False, log_output=False, cwd=str(notebook.parent))
    except Exception as e:  # noqa: BLE001 - a cell, the kernel's start-up, a bad notebook...
        info = _failure(notebook, out_nb, e)
        res.status = "failed"
        res.error, res.cell, res.cell_id = info["error"], info["cell"], info["cell_id"]
        res.execution_count, res.section = info["execution_count"], info["section"]
    res.seconds = round(time.perf_counter() - t0, 2)
    if out_nb.is_file():
        try:
            res.headline = read_scraps(out_nb).get("headline")
        except Exception:  # noqa: BLE001
            res.headline = None
    return res


@contextmanager
def _venv_kernels_first():
    """Put this environment's kernel specs ahead of the user's (``~/.local/share/jupyter``), so
    ``python3`` is this venv's Python with this toolkit, whatever else is installed."""
    here = Path(sys.prefix) / "share" / "jupyter"
    old = {k: os.environ.get(k) for k in ("JUPYTER_PATH", "IPYTHONDIR")}
    if (here / "kernels").is_dir():
        os.environ["JUPYTER_PATH"] = os.pathsep.join(
            [str(here)] + ([old["JUPYTER_PATH"]] if old["JUPYTER_PATH"] else []))
    with tempfile.TemporaryDirectory(prefix="privaudit-ipython-") as ipy:
        # a clean IPython profile for the kernels: no user start-up scripts, and no kernel
        # start-up chatter on the terminal ("Kernel is running over TCP ...")
        profile = Path(ipy) / "profile_default"
        profile.mkdir()
        (profile / "ipython_kernel_config.py").write_text("c.IPKernelApp.log_level = 'ERROR'\n")
        os.environ["IPYTHONDIR"] = ipy
        try:
            yield
        finally:
            for k, v in old.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def report(db: str | Path, as_of: str | date | datetime, out: str | Path,
           policy: str | Path | None = None, reveal: bool = False, run_id: str | None = None,
           notebooks: Iterable[str | Path] | None = None, kernel: str = "python3",
           show_code: bool = False, progress=None) -> ReportResult:
    """Execute the audit notebooks on one run and write ``out/index.html``.

    One audit run is used throughout: ``run_id`` when given, else ``toolkit.audit`` runs once
    (its outputs in ``out/audit/``) and its run id is passed to every notebook. With
    ``reveal=True`` the run is made unmasked, kept out of the database and handed to the
    notebooks through ``out/audit/``. Each notebook becomes ``out/<name>.ipynb`` and
    ``out/<name>.html``. A failing notebook sets ``exit_code`` 1 and is named with its cell; the
    others and the index are still written.
    """
    started = time.perf_counter()
    say = progress or (lambda _m: None)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    db = resolve_db(db)
    if not db.exists():
        raise UnusableInputError(f"{db}: database not found (run 'privaudit load' first)")
    paths = notebook_paths(notebooks)
    pol = load_policy(policy)
    audit_dir = None
    if run_id is None:
        say("audit")
        res = audit(db, as_of, pol, out=out / "audit", reveal=reveal, store=not reveal)
        run_id = res.run_id
        if reveal:
            audit_dir = out / "audit"
    else:
        load_run(db, run_id)                    # a missing run is one clear error, before kernels
    run = open_run(db, as_of, policy_path=policy, run_id=None if audit_dir else run_id,
                   reveal=reveal, audit_dir=audit_dir)
    for nb in paths:                            # this execution's files, not a previous one's
        for stale in (out / "headline" / f"{nb.stem}.json", out / f"{nb.stem}.ipynb",
                      out / f"{nb.stem}.html"):
            stale.unlink(missing_ok=True)
    params = {"db_path": str(db.resolve()), "as_of": str(as_of), "out_dir": str(out.resolve()),
              "run_id": run.run_id if audit_dir is None else None, "reveal": bool(reveal),
              "policy_path": None if policy is None else str(Path(pol.source).resolve()),
              "audit_dir": None if audit_dir is None else str(audit_dir.resolve())}
    # The audit notebooks run side by side (each in its own kernel; most of a notebook's time is
    # its kernel starting), the summary after them: it reads their headline numbers.
    audits = [nb for nb in paths if nb.stem != "summary"]
    last = [nb for nb in paths if nb.stem == "summary"]
    workers = max(1, min(len(audits), os.cpu_count() or 1, 4))
    with _venv_kernels_first():
        say(f"notebooks {', '.join(nb.stem for nb in audits)}")
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(lambda nb: execute(nb, out / f"{nb.stem}.ipynb", params, kernel),
                                    audits))
        for nb in last:
            say(f"notebook {nb.stem}")
            results.append(execute(nb, out / f"{nb.stem}.ipynb", params, kernel))
    for r in results:
        if r.ipynb.is_file():
            say(f"html {r.name}")
            try:
                r.html = to_html(r.ipynb, out / f"{r.name}.html", show_code=show_code)
            except Exception as e:  # noqa: BLE001 - the others and the index are still written
                r.status = "failed"
                r.error = r.error or (f"{r.name}.ipynb: HTML conversion failed: "
                                      f"{type(e).__name__}: {e}")
    rules = [{**rule_headline(run, rid), "notebook": rule_notebook(rid)}
             for rid in run.rules["rule_id"]]
    result = ReportResult(1 if any(r.status != "ok" for r in results) else 0, out / "index.html",
                          out, run.run_id, run.as_of_date, run.revealed, results, rules)
    result.seconds = round(time.perf_counter() - started, 2)
    write_index(result, run)
    return result


def render(db: str | Path, out: str | Path, run_id: str | None = None,
           as_of: str | date | datetime | None = None, policy: str | Path | None = None,
           sources: str | Path | None = None, show_code: bool = False) -> ReportResult:
    """HTML and ``index.html`` for notebooks already executed into ``out`` by someone else
    (papermill on the command line, Airflow's PapermillOperator): the second half of
    :func:`report`. The run is ``run_id``, else the one the executed notebooks recorded, else the
    latest stored run at ``as_of``. A notebook that papermill marked as failed sets exit code 1;
    one that is missing is reported as failed too."""
    started = time.perf_counter()
    out = Path(out)
    src_dir = Path(sources) if sources is not None else NOTEBOOK_DIR
    results = []
    for name in NOTEBOOKS:
        nb_path = out / f"{name}.ipynb"
        r = NotebookResult(name, "ok", nb_path)
        if not nb_path.is_file():
            r.status, r.error = "failed", f"{name}.ipynb: not executed (no {nb_path})"
            results.append(r)
            continue
        import nbformat
        meta = nbformat.read(str(nb_path), as_version=4).metadata.get("papermill", {})
        r.seconds = round(float(meta.get("duration") or 0.0), 2)
        r.headline = read_scraps(nb_path).get("headline")
        if meta.get("exception"):
            src = src_dir / f"{name}.ipynb"
            info = _failure(src if src.is_file() else nb_path, nb_path)
            r.status, r.error, r.cell, r.cell_id = "failed", info["error"], info["cell"], info["cell_id"]
            r.execution_count, r.section = info["execution_count"], info["section"]
        if run_id is None and r.headline:
            run_id = r.headline.get("run_id")
        r.html = to_html(nb_path, out / f"{name}.html", show_code=show_code)
        results.append(r)
    run = open_run(db, as_of, policy_path=policy, run_id=run_id)
    rules = [{**rule_headline(run, rid), "notebook": rule_notebook(rid)}
             for rid in run.rules["rule_id"]]
    result = ReportResult(1 if any(r.status != "ok" for r in results) else 0, out / "index.html",
                          out, run.run_id, run.as_of_date, run.revealed, results, rules)
    result.seconds = round(time.perf_counter() - started, 2)
    write_index(result, run)
    return result


