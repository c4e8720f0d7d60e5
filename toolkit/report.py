"""The report: the audit notebooks executed into one folder, as HTML, with a front page
(contract section 7, ``privaudit report`` and ``privaudit render``).

:func:`report` ensures one audit run, executes every notebook on that run into ``out/`` and
writes ``out/index.html`` (``toolkit.frontpage``). The notebooks run in a few warm kernels
(``toolkit.kernels``), the audit notebooks side by side, the summary after them (it reads their
headline numbers); each executed notebook is converted to self-contained HTML (no CDN scripts)
as soon as it is done. A failing notebook makes the exit code 1, is named with its failing cell
and line, and does not stop the others.

:func:`render` is the second half only, for notebooks a scheduler executed itself (papermill on
the command line, Airflow's PapermillOperator).

Paths are made absolute once, here, at the entry points; nothing changes the working directory
of this process (a kernel's working directory is set inside the kernel). What the notebooks
compute is ``toolkit.analysis``; how they show it, ``toolkit.show``.
"""

from __future__ import annotations

import os
import queue
import re
import threading
import time
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable

from .analysis import (NOTEBOOK_DIR, NOTEBOOKS, SCRAP_MIME, open_run, read_scraps, rule_headline,
                       rule_notebook)
from .exceptions import PrivauditError, UnusableInputError
from . import outputs
from .findings import audit, load_run
from .frontpage import TEMPLATES, write_index
from .policy import load_policy

if TYPE_CHECKING:
    from .kernels import WarmKernel


@dataclass
class NotebookResult:
    name: str
    status: str                       # ok | failed
    ipynb: Path
    html: Path | None = None
    seconds: float = 0.0
    error: str = ""                   # one line: the failing cell, its line and the exception
    cell: int | None = None           # the failing cell's position (1-based) in the source notebook
    cell_id: str = ""                 # and its id (nbformat 4.5)
    execution_count: int | None = None
    section: str = ""                 # the heading above the failing cell
    line: str = ""                    # the failing line of that cell
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

    def tally(self) -> str:
        """``7 notebooks: 6 ok, 1 failed (retention) in 12.3 s``."""
        bad, n = self.failed, len(self.notebooks)
        text = f"{n} notebook{'' if n == 1 else 's'}: {n - len(bad)} ok"
        if bad:
            text += f", {len(bad)} failed ({', '.join(n.name for n in bad)})"
        return text + f" in {self.seconds:.1f} s"


#: called once per notebook as it finishes: (result, notebooks done, notebooks in all)
OnNotebook = Callable[[NotebookResult, int, int], None]


def notebook_paths(notebooks: Iterable[str | Path] | None = None) -> list[Path]:
    """The notebooks to run, as absolute paths: names from the package's notebooks or paths;
    default all, summary last."""
    if notebooks is None:
        notebooks = NOTEBOOKS
    paths = []
    for nb in notebooks:
        p = Path(nb)
        if p.suffix != ".ipynb":
            p = NOTEBOOK_DIR / f"{nb}.ipynb"
        if not p.is_file():
            raise UnusableInputError(f"{p}: notebook not found")
        paths.append(p.resolve())
    return paths


# ---------------------------------------------------------------- HTML

class HtmlWriter:
    """Executed notebooks as self-contained HTML files (images inline, no CDN scripts, glued
    data left out), with ``templates/notebook.html.j2``: the page title is the notebook's
    title, and a link leads back to the front page."""

    def __init__(self, show_code: bool = False):
        import jinja2
        from nbconvert import HTMLExporter

        self.exporter = HTMLExporter(template_name="lab", template_file="notebook.html.j2",
                                     extra_loaders=[jinja2.FileSystemLoader(str(TEMPLATES))],
                                     exclude_input=not show_code,
                                     exclude_input_prompt=not show_code,
                                     exclude_output_prompt=True)

    def write(self, notebook: str | Path, html_path: str | Path, back: str | None = "index.html"
              ) -> Path:
        import nbformat

        nb = nbformat.read(str(notebook), as_version=4)
        for cell in nb.cells:          # glued values are data for read-back, not for readers
            if cell.get("outputs"):
                cell.outputs = [o for o in cell.outputs if SCRAP_MIME not in o.get("data", {})]
        nb.metadata["title"] = notebook_title(nb) or Path(notebook).stem
        body, _ = self.exporter.from_notebook_node(nb, resources={"privaudit": {"back": back}})
        return outputs.write_text(html_path, body)


def notebook_title(nb) -> str:
    """The text of a notebook's first level-1 heading ('' when it has none)."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            m = re.search(r"^#\s+(.+?)\s*$", cell.source, re.M)
            if m:
                return re.sub(r"<[^>]+>", "", m.group(1)).strip()
    return ""


def to_html(notebook: str | Path, html_path: str | Path, show_code: bool = False) -> Path:
    """One executed notebook as a self-contained HTML page."""
    return HtmlWriter(show_code).write(notebook, html_path)


# ---------------------------------------------------------------- where a notebook failed

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _failing_line(cell, error_output) -> str:
    """The line of ``cell`` that raised, from IPython's traceback (``Cell In[3], line 2``);
    else the cell's first line."""
    lines = cell.source.splitlines()
    for frame in error_output.get("traceback") or []:
        m = re.search(r"Cell In\s*\[\d*\],\s*line (\d+)", _ANSI.sub("", frame))
        if m and 0 < int(m.group(1)) <= len(lines):
            return lines[int(m.group(1)) - 1].strip()
    first = [ln for ln in lines if ln.strip()]
    return first[0].strip() if first else ""


def failure(source_nb: Path, out_nb: Path, exc: BaseException | None = None) -> dict:
    """Where a notebook failed: the failing cell's 1-based position in the source notebook (as
    seen in JupyterLab), its id, execution count, the failing line, the section heading above
    it, and a one-line message naming all of that."""
    import nbformat

    name = source_nb.stem
    ename = getattr(exc, "ename", None) or (type(exc).__name__ if exc is not None else "")
    evalue = str(getattr(exc, "evalue", None) or exc or "")
    info = {"cell": None, "cell_id": "", "execution_count": getattr(exc, "exec_count", None),
            "section": "", "line": ""}
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
        if exc is None or getattr(exc, "ename", None) is not None:
            ename, evalue = err.get("ename", "Error"), err.get("evalue", "")
        info["cell_id"] = cell.get("id", "")
        info["execution_count"] = cell.get("execution_count") or info["execution_count"]
        info["line"] = _failing_line(cell, err)[:160]
        ids = [c.get("id") for c in source.cells]
        if info["cell_id"] in ids:
            info["cell"] = ids.index(info["cell_id"]) + 1
        for c in executed.cells[:failing][::-1]:
            m = re.search(r"^#+\s*(.+)$", c.source, re.M) if c.cell_type == "markdown" else None
            if m and "papermill-error-cell-tag" not in c.metadata.get("tags", []):
                info["section"] = re.sub(r"<[^>]+>", "", m.group(1)).strip()
                break
    evalue = _ANSI.sub("", evalue).strip()
    evalue = evalue.splitlines()[0][:300] if evalue else ""
    where = (f"cell {info['cell']} of {len(source.cells)}" if info["cell"] is not None
             else "a cell" if failing is not None else "start-up (no cell ran)")
    if info["execution_count"] is not None and failing is not None:
        where += f" (In [{info['execution_count']}])"
    if info["section"]:
        where += f", section '{info['section']}'"
    if info["line"]:
        where += f", line `{info['line']}`"
    info["error"] = f"{name}.ipynb failed at {where}: {ename}: {evalue}"
    return info


def _fail(res: NotebookResult, info: dict) -> None:
    res.status = "failed"
    res.error, res.cell, res.cell_id = info["error"], info["cell"], info["cell_id"]
    res.execution_count, res.section, res.line = (info["execution_count"], info["section"],
                                                  info["line"])


# ---------------------------------------------------------------- executing notebooks

def parameterise(notebook: Path, out_nb: Path, parameters: dict):
    """The notebook node with papermill's injected-parameters cell and metadata."""
    from papermill.execute import prepare_notebook_metadata
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    nb = load_notebook_node(str(notebook))      # with papermill's default metadata
    nb = parameterize_notebook(nb, parameters, report_mode=False)
    return prepare_notebook_metadata(nb, str(notebook), str(out_nb))


def execute(notebook: str | Path, out_nb: str | Path, parameters: dict,
            kernel: "str | WarmKernel" = "python3") -> NotebookResult:
    """Run one notebook (papermill's engine) into ``out_nb``; a failure is reported, never
    raised. ``kernel`` is a kernel name (a kernel is started and stopped for this notebook) or
    a running :class:`toolkit.kernels.WarmKernel` of the calling thread."""
    from .kernels import WarmKernel

    notebook, out_nb = Path(notebook).resolve(), Path(out_nb).resolve()
    t0 = time.perf_counter()
    res = NotebookResult(notebook.stem, "ok", out_nb)
    own = not isinstance(kernel, WarmKernel)
    warm = WarmKernel(kernel) if own else kernel
    try:
        nb = parameterise(notebook, out_nb, parameters)
        warm.prepare(notebook.parent)
        warm.run(nb, out_nb)
    except Exception as e:  # noqa: BLE001 - a cell, the kernel's start-up, a bad notebook...
        if type(e).__name__ == "DeadKernelError" or (warm.km is not None and not warm.alive()):
            e = PrivauditError(f"the kernel died{warm.log_tail()}")
        _fail(res, failure(notebook, out_nb, e))
    finally:
        if own:
            warm.close()
    res.seconds = round(time.perf_counter() - t0, 2)
    if out_nb.is_file():
        try:
            res.headline = read_scraps(out_nb).get("headline")
        except Exception:  # noqa: BLE001
            res.headline = None
    return res


class NotebookRunner:
    """A few threads, each with its own warm kernel, executing the notebooks it is given.

    The kernels start (and import the toolkit) as soon as the runner starts, so that they boot
    while the caller audits. :meth:`run` hands out the notebooks and yields each result as it
    comes; the notebooks given as ``after`` start once all the others are done."""

    def __init__(self, kernels: int, kernel_name: str = "python3"):
        self.kernel_name = kernel_name
        self.jobs: queue.Queue = queue.Queue()
        self.done: queue.Queue = queue.Queue()
        self.threads = [threading.Thread(target=self._work, name=f"privaudit-kernel-{i}",
                                         daemon=True) for i in range(max(1, kernels))]

    def __enter__(self) -> "NotebookRunner":
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if exc_type is not None:            # interrupted: finish the notebooks running, no more
            while True:
                try:
                    self.jobs.get_nowait()
                except queue.Empty:
                    break
        for _ in self.threads:
            self.jobs.put(None)
        for t in self.threads:
            t.join()

    def _work(self) -> None:
        from .kernels import WarmKernel

        warm = WarmKernel(self.kernel_name)
        try:
            try:
                warm.start()
            except Exception:  # noqa: BLE001 - retried for the first notebook, reported there
                warm.stop()
            while (job := self.jobs.get()) is not None:
                notebook, out_nb, params = job
                try:
                    self.done.put(execute(notebook, out_nb, params, warm))
                except BaseException as e:  # noqa: BLE001 - never leave the caller waiting
                    self.done.put(NotebookResult(notebook.stem, "failed", out_nb,
                                                 error=f"{notebook.name}: {type(e).__name__}: {e}"))
        finally:
            warm.close()

    def run(self, first: list[Path], after: list[Path], out: Path, params: dict):
        """Execute ``first`` side by side, then ``after``; yield each result as it finishes."""
        for batch in (first, after):
            for nb in batch:
                self.jobs.put((nb, out / f"{nb.stem}.ipynb", params))
            for _ in batch:
                yield self.done.get()


def default_kernels(notebooks: int) -> int:
    """Kernels to run side by side: one per core, at most 4, at most one per notebook."""
    return max(1, min(notebooks, os.cpu_count() or 1, 4))


# ---------------------------------------------------------------- the report

def report(db: str | Path, as_of: str | date | datetime, out: str | Path,
           policy: str | Path | None = None, reveal: bool = False, run_id: str | None = None,
           notebooks: Iterable[str | Path] | None = None, kernel: str = "python3",
           show_code: bool = False, progress: Callable[[str], None] | None = None,
           on_notebook: OnNotebook | None = None, kernels: int | None = None) -> ReportResult:
    """Execute the audit notebooks on one run and write ``out/index.html``.

    One audit run is used throughout: ``run_id`` when given, else ``toolkit.audit`` runs once
    (its outputs in ``out/audit/``) and its run id is passed to every notebook. With
    ``reveal=True`` the run is made unmasked, kept out of the database and handed to the
    notebooks through ``out/audit/``. Each notebook becomes ``out/<name>.ipynb`` and
    ``out/<name>.html``. A failing notebook sets ``exit_code`` 1 and is named with its cell; the
    others and the index are still written. ``progress`` gets short status messages,
    ``on_notebook`` each notebook's result as it finishes.
    """
    started = time.perf_counter()
    say = progress or (lambda _m: None)
    out = Path(out).expanduser().resolve()
    db = Path(db).expanduser().resolve()
    if not db.exists():
        raise UnusableInputError(f"{db}: database not found (run 'privaudit load' first)")
    paths = notebook_paths(notebooks)
    pol = load_policy(policy)
    if run_id is not None:
        load_run(db, run_id)                    # a missing run is one clear error, before kernels
    outputs.private_dir(out)
    for nb in paths:                            # this execution's files, not a previous one's
        for stale in (out / "headline" / f"{nb.stem}.json", out / f"{nb.stem}.ipynb",
                      out / f"{nb.stem}.html"):
            stale.unlink(missing_ok=True)
    audits = [nb for nb in paths if nb.stem != "summary"]
    last = [nb for nb in paths if nb.stem == "summary"]
    say("starting kernels")
    # papermill writes the executed notebooks (and the kernels their files) owner-only
    with outputs.private_umask(), NotebookRunner(kernels or default_kernels(len(audits)),
                                                 kernel) as runner:
        audit_dir = None
        if run_id is None:
            say("auditing")
            res = audit(db, as_of, pol, out=out / "audit", reveal=reveal, store=not reveal)
            run_id = res.run_id
            if reveal:
                audit_dir = out / "audit"
        run = open_run(db, as_of, policy_path=policy, run_id=None if audit_dir else run_id,
                       reveal=reveal, audit_dir=audit_dir)
        params = {"db_path": str(db), "as_of": str(as_of), "out_dir": str(out),
                  "run_id": run.run_id if audit_dir is None else None, "reveal": bool(reveal),
                  "policy_path": None if policy is None else str(Path(pol.source).resolve()),
                  "audit_dir": None if audit_dir is None else str(audit_dir)}
        html = HtmlWriter(show_code)
        results: list[NotebookResult] = []
        say(f"notebooks 0/{len(paths)} done")
        for r in runner.run(audits, last, out, params):
            if r.ipynb.is_file():
                try:
                    r.html = html.write(r.ipynb, out / f"{r.name}.html")
                except Exception as e:  # noqa: BLE001 - the others and the index are still written
                    r.status = "failed"
                    r.error = r.error or (f"{r.name}.ipynb: HTML conversion failed: "
                                          f"{type(e).__name__}: {e}")
            results.append(r)
            say(f"notebooks {len(results)}/{len(paths)} done")
            if on_notebook:
                on_notebook(r, len(results), len(paths))
    order = {p.stem: i for i, p in enumerate(paths)}
    results.sort(key=lambda r: order[r.name])
    return _finish(results, out, run, started)


def _finish(results: list[NotebookResult], out: Path, run, started: float) -> ReportResult:
    rules = [{**rule_headline(run, rid), "notebook": rule_notebook(rid)}
             for rid in run.rules["rule_id"]]
    result = ReportResult(1 if any(r.status != "ok" for r in results) else 0, out / "index.html",
                          out, run.run_id, run.as_of_date, run.revealed, results, rules)
    result.seconds = round(time.perf_counter() - started, 2)
    write_index(result, run)
    return result


def render(out: str | Path, db: str | Path | None = None, run_id: str | None = None,
           as_of: str | date | datetime | None = None, policy: str | Path | None = None,
           sources: str | Path | None = None, show_code: bool = False,
           on_notebook: OnNotebook | None = None) -> ReportResult:
    """HTML and ``index.html`` for notebooks already executed into ``out`` by someone else
    (papermill on the command line, Airflow's PapermillOperator): the second half of
    :func:`report`. The database is ``db``, else the ``db_path`` the notebooks were executed
    with; the run is ``run_id``, else the one the executed notebooks recorded, else the latest
    stored run at ``as_of``. A notebook that papermill marked as failed sets exit code 1; one
    that is missing is reported as failed too."""
    import nbformat

    started = time.perf_counter()
    out = Path(out).resolve()
    if not out.is_dir():
        raise UnusableInputError(f"{out}: no such folder (the notebooks' output folder)")
    src_dir = Path(sources).resolve() if sources is not None else NOTEBOOK_DIR
    html = HtmlWriter(show_code)
    results, used = [], {}
    for i, name in enumerate(NOTEBOOKS, 1):
        nb_path = out / f"{name}.ipynb"
        r = NotebookResult(name, "ok", nb_path)
        if not nb_path.is_file():
            r.status, r.error = "failed", f"{name}.ipynb: not executed (no {nb_path})"
        else:
            meta = nbformat.read(str(nb_path), as_version=4).metadata.get("papermill", {})
            used = used or dict(meta.get("parameters") or {})
            r.seconds = round(float(meta.get("duration") or 0.0), 2)
            r.headline = read_scraps(nb_path).get("headline")
            if meta.get("exception") or meta.get("status") == "failed":
                src = src_dir / f"{name}.ipynb"
                _fail(r, failure(src if src.is_file() else nb_path, nb_path))
            if run_id is None and r.headline:
                run_id = r.headline.get("run_id")
            r.html = html.write(nb_path, out / f"{name}.html")
        results.append(r)
        if on_notebook:
            on_notebook(r, i, len(NOTEBOOKS))
    if db is None:
        if not used.get("db_path"):
            raise UnusableInputError(f"{out}: no executed notebook names its database "
                                     f"(parameter db_path); give it: --db FILE")
        db = used["db_path"]
    db = Path(db).expanduser().resolve()
    if not db.is_file():
        raise UnusableInputError(f"{db}: database not found (give it: --db FILE)")
    if as_of is None and run_id is None:
        as_of = used.get("as_of")
    run = open_run(db, as_of, policy_path=policy or used.get("policy_path"), run_id=run_id)
    return _finish(results, out, run, started)
