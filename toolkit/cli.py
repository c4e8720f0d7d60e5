"""The ``privaudit`` command line: a thin layer over the library (every command has a Python twin).

Errors the toolkit raises on purpose are printed as one line naming the file, key or problem,
with exit code 2; never a bare traceback.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from .exceptions import PrivauditError, UnusableInputError, UsageError

app = typer.Typer(
    name="privaudit",
    help="Audit a webshop's data against its privacy statement and the GDPR.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
def _console(stderr: bool = False) -> Console:
    c = Console(stderr=stderr, highlight=False)
    if not c.is_terminal:  # piped or CI: wide enough that tables do not wrap into columns
        c = Console(stderr=stderr, highlight=False, width=int(os.environ.get("COLUMNS", 160)))
    return c


out = _console()
err = _console(stderr=True)


def interactive() -> bool:
    """Progress is shown on a terminal, never in CI or when output is piped."""
    return err.is_terminal and not os.environ.get("CI")


@contextmanager
def progress_reporter():
    """A status line on a terminal (the last message and the seconds elapsed, ticking)."""
    if not interactive():
        yield None
        return
    import threading
    import time

    start, state, stop = time.perf_counter(), {"msg": "starting"}, threading.Event()
    with err.status("starting") as status:
        def show() -> None:
            status.update(Text(f"{state['msg']} · {time.perf_counter() - start:.0f} s"))

        def tick() -> None:
            while not stop.wait(1.0):
                show()

        def say(msg: str) -> None:
            state["msg"] = msg
            show()

        ticker = threading.Thread(target=tick, daemon=True)
        ticker.start()
        try:
            yield say
        finally:
            stop.set()
            ticker.join()


def fail(e: PrivauditError) -> None:
    err.print(Text.assemble(("error:", "bold red"), f" {e}"), soft_wrap=True)
    raise typer.Exit(e.exit_code)


def _show_retention_warnings() -> None:
    """A database past its retention period: one line on stderr (``toolkit.purge``)."""
    import warnings

    from .exceptions import RetentionWarning

    if "toolkit.purge" in sys.modules:      # once per command, also when several run in one process
        sys.modules["toolkit.purge"]._WARNED.clear()
    previous = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, RetentionWarning):
            err.print(Text.assemble(("warning:", "bold yellow"), f" {message}"), soft_wrap=True)
        else:
            previous(message, category, filename, lineno, file, line)

    if getattr(previous, "_privaudit", False):
        return
    show._privaudit = True
    warnings.showwarning = show
    warnings.simplefilter("always", RetentionWarning)


@app.callback(invoke_without_command=True)
def _root(version: bool = typer.Option(False, "--version", help="Print the versions of privaudit, "
                                        "DuckDB, Great Expectations, pandas and Python, and exit."),
          key_file: Optional[Path] = typer.Option(
              None, "--key-file", help="File holding the key of an encrypted database (else "
              "$PRIVAUDIT_DB_KEY, $PRIVAUDIT_DB_KEY_FILE or the OS keyring).")):
    _show_retention_warnings()
    if key_file is not None:
        # the environment carries the key file's name (never the key) to the notebooks' kernel
        from .database import ENV_KEY_FILE

        os.environ[ENV_KEY_FILE] = str(key_file.resolve())
    if version:
        from .provenance import describe

        for line in describe():
            out.print(line, markup=False, soft_wrap=True)
        raise typer.Exit(0)


@app.command()
def load(
    export_dir: Path = typer.Argument(..., help="Folder with one file per table (customers.csv, ...)."),
    db: Path = typer.Option(Path("data/audit.duckdb"), "--db", help="DuckDB database to (re)build."),
    mapping: Optional[Path] = typer.Option(None, "--mapping", help="YAML mapping of a foreign export."),
    as_of: Optional[str] = typer.Option(None, "--as-of", help="The export's date (YYYY-MM-DD, "
                                        "default today): timestamps after the next day are "
                                        "implausible."),
    encrypt: bool = typer.Option(False, "--encrypt", help="Write a new database encrypted at rest "
                                 "(key: $PRIVAUDIT_DB_KEY, --key-file or the OS keyring)."),
    minimise: bool = typer.Option(False, "--minimise", help="Keep of personal data only what the "
                                  "rules need (presence, keyed hashes with the database key); "
                                  "--reveal and access packages are refused on it."),
):
    """Load an export folder into DuckDB: every row loaded or rejected with a reason."""
    from .ingest import load as load_export

    try:
        with progress_reporter() as progress:
            result = load_export(export_dir, db=db, mapping=mapping, progress=progress,
                                 as_of=as_of, encrypt=encrypt, minimise=minimise)
    except PrivauditError as e:
        fail(e)
    except KeyboardInterrupt as e:      # Ctrl-C or SIGTERM: the load rolled back
        word, code = _stopped(e)
        err.print(Text(f"{word}; the database is unchanged"))
        raise typer.Exit(code)
    t = Table(title=escape(f"Loaded {export_dir} into {db}"), title_justify="left")
    counts = ("read", "loaded", "rejected", "skipped")
    for col in ("table", "file", "format", "encoding") + counts + ("notes",):
        t.add_column(col, justify="right" if col in counts else "left")
    for f in result.files:
        notes = []
        if f.naive_timestamps:
            notes.append(f"{f.naive_timestamps} naive timestamps (DQ-001)")
        if f.future_timestamps:
            notes.append(f"{f.future_timestamps} in the future")
        if f.notes.get("unknown_values"):
            notes.append("unknown values in " + ", ".join(f.notes["unknown_values"]))
        if f.notes.get("missing_columns"):
            notes.append(f"{len(f.notes['missing_columns'])} columns absent")
        if f.rows_skipped:
            notes.append("skipped: " + "; ".join(f.notes.get("skipped_rows", {})))
        for col, link in f.notes.get("links", {}).items():
            notes.append(f"{col}: {link.get('linked', 0):,} linked by e-mail")
        if f.notes.get("ambiguous_local_times"):
            notes.append(f"{sum(f.notes['ambiguous_local_times'].values())} times in the DST "
                         f"overlap (read as standard time)")
        if f.notes.get("unclosed_quote"):
            q = f.notes["unclosed_quote"]
            notes.append(f"a quote opened on line {q['line']} is never closed: "
                         f"{q['lines_rejected']:,} lines rejected")
        t.add_row(escape(f.table), escape(f.file), f.format, f.encoding, f"{f.rows_read:,}",
                  f"{f.rows_loaded:,}", f"[red]{f.rows_rejected:,}[/]" if f.rows_rejected else "0",
                  f"{f.rows_skipped:,}", escape("; ".join(notes)))
    out.print(t)
    if result.skipped:
        out.print(f"skipped (not a table file): {', '.join(result.skipped)}")
    for table, looked in result.absent.items():
        out.print(f"absent: {table} (no file matched {looked})", markup=False)
    skipped = f", {result.rows_skipped:,} skipped by the mapping" if result.rows_skipped else ""
    out.print(f"{result.rows_loaded:,} rows loaded, {result.rows_rejected:,} rejected "
              f"(see table rejected_rows){skipped}, {len(result.files)} files, "
              f"{result.seconds:.1f} s; "
              f"load {result.load_id} recorded in load_log")


@app.command("inspect")
def inspect_cmd(
    export_dir: Path = typer.Argument(..., help="Export folder to look at (nothing is written)."),
    mapping: Optional[Path] = typer.Option(None, "--mapping", help="Mapping to preview (default: "
                                           "the shipped mapping that fits the files best)."),
):
    """Which mapping fits each file, what a load would fill, which rules could be evaluated."""
    from .preview import inspect_export

    try:
        res = inspect_export(export_dir, mapping=mapping)
    except PrivauditError as e:
        fail(e)
    ft = Table(title=escape(f"Files in {export_dir}"), title_justify="left")
    for col in ("file", "best fitting mapping", "headers found", "name"):
        ft.add_column(col)
    for f in res.files:
        best = f.best
        if f.problem:
            ft.add_row(escape(f.file), "[red]unreadable[/]", escape(f.problem[:80]), "")
        elif best is None:
            ft.add_row(escape(f.file), "none", "", "")
        else:
            ft.add_row(escape(f.file), escape(f"{best.mapping} ({best.table})"),
                       f"{len(best.found)} of {best.expected}",
                       "as expected" if best.name_matches else "[yellow]not a name it looks for[/]")
    out.print(ft)
    out.print(f"Preview with mapping: {res.mapping or 'none (canonical file and column names)'}",
              markup=False)
    tt = Table(title="Tables a load would fill", title_justify="left")
    for col in ("table", "file", "columns", "absent (mapped, not in the file)", "extra columns"):
        tt.add_column(col)
    for t in res.tables:
        if t.problem:
            tt.add_row(t.table, escape(t.file), f"[red]refused[/]: {escape(t.problem)}", "", "")
            continue
        cols = ", ".join(list(t.columns) + [f"{c} (linked {how})" for c, how in t.links.items()])
        tt.add_row(t.table, escape(t.file), escape(cols), escape(", ".join(t.absent)),
                   str(len(t.extras)))
    out.print(tt)
    for table, looked in res.absent_tables.items():
        out.print(f"absent: {table} (no file matched {looked})", markup=False)
    if res.skipped:
        out.print(f"skipped (no table takes them): {', '.join(res.skipped)}", markup=False)
    rt = Table(title=f"Rules: {len(res.evaluable)} of {len(res.rules)} evaluable",
               title_justify="left")
    for col in ("rule", "status", "missing"):
        rt.add_column(col)
    for r in res.rules:
        rt.add_row(r.rule_id, r.status if r.status == "evaluable" else f"[yellow]{r.status}[/]",
                   escape(", ".join(r.missing)))
    out.print(rt)


SEVERITY_STYLE = {"S1": "bold red", "S2": "red", "S3": "yellow", "S4": "cyan", "INFO": "dim"}


@app.command()
def audit(
    db: Path = typer.Option(Path("data/audit.duckdb"), "--db", help="Database built by 'privaudit load'."),
    as_of: str = typer.Option(..., "--as-of", help="Audit date (YYYY-MM-DD: end of that day in "
                              "Amsterdam) or ISO timestamp."),
    policy: Optional[Path] = typer.Option(None, "--policy", help="Policy file (default: the "
                                          "contractstatus.nl statement)."),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="Folder for findings.parquet, "
                                           "findings.csv, rules.csv, manifest.json."),
    rules: Optional[str] = typer.Option(None, "--rules", help="Only these rules, e.g. 'RET-*,DSR-001'."),
    reveal: bool = typer.Option(False, "--reveal", help="Show unmasked evidence (authorised "
                                "investigations only)."),
    engine: str = typer.Option("duckdb", "--engine", help="duckdb (the loaded --db) or spark "
                               "(the tables of --source, on Apache Spark)."),
    source: Optional[str] = typer.Option(None, "--source", help="--engine spark: the Parquet "
                                         "folders of 'privaudit export --parquet', or "
                                         "catalog:DATABASE for tables of the Spark catalog."),
    table: Optional[list[str]] = typer.Option(None, "--table", help="--engine spark with a "
                                              "catalog: canonical=catalog_table (repeatable)."),
):
    """Evaluate the policy's rules and write the findings (masked unless --reveal)."""
    from .findings import audit as run_audit

    try:
        tables = _table_mapping(table or [])
        if engine == "spark":
            from .spark import UNSUPPORTED
            for rid, why in UNSUPPORTED.items():
                err.print(escape(f"{rid}: not on Spark: {why}"))
        with progress_reporter() as progress:
            res = run_audit(db if engine == "duckdb" or db.exists() else None, as_of,
                            policy=policy, out=out_dir, rules=rules, reveal=reveal,
                            progress=progress, engine=engine, source=source, tables=tables)
    except PrivauditError as e:
        fail(e)
    t = Table(title=escape(f"Audit {res.run_id} as of {res.as_of_date} ({res.policy.controller.name})"),
              title_justify="left")
    for col in ("rule", "title", "severity", "status", "population", "violations", "excluded"):
        t.add_column(col, justify="right" if col in ("population", "violations", "excluded") else "left")
    for r in res.rules:
        status = r.status if r.status == "evaluated" else f"[yellow]{r.status}[/]"
        if r.missing and r.status == "not_evaluable":
            status += escape(f" ({r.missing})" if r.missing.startswith("not on ")
                             else f" (missing {r.missing})")
        if r.error:
            status = f"[red]error[/]: {escape(r.error[:80])}"
        t.add_row(r.rule_id, escape(r.title), f"[{SEVERITY_STYLE.get(r.severity, '')}]{r.severity}[/]",
                  status, "" if r.population is None else f"{r.population:,}",
                  f"{r.violations:,}", f"{r.excluded:,}" if r.excluded else "")
    out.print(t)
    where = f"; written to {out_dir}" if out_dir else ""
    stored = "stored in the database" if engine == "duckdb" or db.exists() else \
        "not stored (no database)"
    out.print(f"{len(res.findings):,} findings from {len(res.rules)} rules in {res.seconds:.1f} s"
              f"{where}; run {res.run_id} {stored}")
    if res.cookie_categories:
        cats = res.cookie_categories
        out.print(f"cookie categories: {sum(cats.values()):,} observations; "
                  + ", ".join(f"{k} {v:,}" for k, v in cats.items()), markup=False)
    if reveal:
        err.print("[bold yellow]warning:[/] --reveal: evidence is NOT masked; handle the output as "
                  "personal data")
    if res.errors:
        err.print(f"error: {len(res.errors)} rule(s) failed: "
                  + ", ".join(r.rule_id for r in res.errors))
        raise typer.Exit(2)


def _table_mapping(pairs: list[str]) -> dict[str, str] | None:
    """``--table customers=shop.klanten`` pairs as a mapping (canonical name -> catalog table)."""
    from . import schema
    out = {}
    for p in pairs:
        name, sep, target = p.partition("=")
        if not sep or not target.strip() or name.strip() not in schema.TABLES_BY_NAME:
            raise UsageError(f"--table {p}: use canonical=catalog_table with a canonical table name "
                             f"({', '.join(t.name for t in schema.TABLES)})")
        out[name.strip()] = target.strip()
    return out or None


@app.command()
def export(
    db: Path = typer.Option(Path("data/audit.duckdb"), "--db", help="Database built by 'privaudit load'."),
    parquet: Path = typer.Option(..., "--parquet", help="Folder for one Parquet folder per table."),
):
    """Write the canonical tables as Parquet folders (the Spark engine's --source)."""
    from .export import export_parquet

    try:
        written = export_parquet(db, parquet)
    except PrivauditError as e:
        fail(e)
    out.print(f"{len(written)} tables, {sum(written.values()):,} rows written to {parquet} "
              f"(personal data: keep it private)")


@app.command()
def gate(
    db: Path = typer.Option(Path("data/audit.duckdb"), "--db", help="Database built by 'privaudit load'."),
    as_of: str = typer.Option(..., "--as-of", help="Audit date (YYYY-MM-DD) or ISO timestamp."),
    fail_on: str = typer.Option("S2", "--fail-on", help="Fail (exit 1) on violations of this "
                                "severity or worse: S1, S2, S3, S4 or INFO."),
    junit: Optional[Path] = typer.Option(None, "--junit", help="Write JUnit XML for CI systems."),
    docs: Optional[Path] = typer.Option(None, "--docs", help="Write the gate's HTML page (no personal "
                                        "data, no assets from the internet) into this folder."),
    policy: Optional[Path] = typer.Option(None, "--policy", help="Policy file (default: the "
                                          "committed suites in expectations/)."),
    allow_not_evaluable: Optional[str] = typer.Option(
        None, "--allow-not-evaluable", help="Must-rules that may stay unevaluated in this run, "
        "e.g. 'CKE-*,DSR-004' (otherwise a must-rule whose data is missing gives exit 2)."),
):
    """Run the Great Expectations suites as a CI gate: exit 0 pass, 1 violated, 2 error or a
    must-rule not evaluable."""
    from .gate import gate as run_gate

    try:
        with progress_reporter() as progress:
            if progress:
                progress("running the Great Expectations suites")
            res = run_gate(db, as_of, policy=policy, fail_on=fail_on, junit=junit, docs=docs,
                           allow_not_evaluable=allow_not_evaluable)
    except PrivauditError as e:
        fail(e)
    for line in res.lines():
        out.print(line, markup=False, soft_wrap=True)
    out.print(res.summary(), markup=False, soft_wrap=True)
    raise typer.Exit(res.exit_code)


@app.command()
def suites(
    policy: Optional[Path] = typer.Option(None, "--policy", help="Policy file (default: contractstatus.nl)."),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="Folder of the suites (default: expectations/)."),
    check: bool = typer.Option(False, "--check", help="Only check that the folder is up to date (exit 1 if not)."),
):
    """Write the Great Expectations suites generated from the policy (or --check them)."""
    from .suites import SUITES_DIR, stale_suites, write_suites

    folder = out_dir or SUITES_DIR
    try:
        if check:
            problems = stale_suites(policy, folder)
            for p in problems:
                out.print(p, markup=False)
            out.print("suites are up to date" if not problems else
                      "suites are out of date: run 'privaudit suites'")
            raise typer.Exit(1 if problems else 0)
        for p in write_suites(policy, folder):
            out.print(f"wrote {p}", markup=False)
    except PrivauditError as e:
        fail(e)


@app.command()
def generate(
    out_dir: Path = typer.Argument(..., help="Folder to write the export into."),
    customers: int = typer.Option(500, "--customers", min=1, help="Number of customers."),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same files)."),
    as_of: str = typer.Option("2026-10-31", "--as-of", help="The export's extraction date."),
    violation_rate: float = typer.Option(0.05, "--violation-rate", min=0.0, max=1.0,
                                         help="Share of subjects with planted violations (0: a clean shop)."),
):
    """Write a synthetic Dutch webshop export with planted violations and its _truth/."""
    from datetime import date

    from .generate import generate as gen

    try:
        d = date.fromisoformat(as_of)
    except ValueError:
        fail(PrivauditError(f"--as-of: {as_of!r} is not a date (YYYY-MM-DD)"))
    try:
        with progress_reporter() as progress:
            if progress:
                progress(f"generating {customers:,} customers into {out_dir}")
            summary = gen(out_dir, customers=customers, seed=seed, as_of=d,
                          violation_rate=violation_rate)
    except PrivauditError as e:
        fail(e)
    rows = summary.get("rows", {}) if isinstance(summary, dict) else {}
    out.print(f"wrote {sum(rows.values()):,} rows in {len(rows)} tables to {out_dir} "
              f"(seed {seed}, as of {d}); planted violations in {out_dir}/_truth/findings.csv")


@app.command()
def demo(
    out_dir: Path = typer.Option(Path("demo"), "--out", help="Folder for the demo shop and its audit."),
    customers: int = typer.Option(500, "--customers", min=1),
    seed: int = typer.Option(0, "--seed"),
    as_of: str = typer.Option("2026-10-31", "--as-of"),
    encrypt: bool = typer.Option(False, "--encrypt", help="Keep the database encrypted at rest."),
):
    """Generate a demo shop, then run the scheduled job on it: load, audit, gate, report."""
    from datetime import date

    from .generate import generate as gen
    from .pipeline import run as run_job

    exports = out_dir / "exports"
    if out_dir.exists() and not out_dir.is_dir():
        fail(UnusableInputError(f"{out_dir}: not a folder (the output folder)"))
    try:
        d = date.fromisoformat(as_of)
    except ValueError:
        fail(PrivauditError(f"--as-of: {as_of!r} is not a date (YYYY-MM-DD)"))
    try:
        for leftover in (out_dir / "audit.duckdb", out_dir / "audit.duckdb.wal"):
            leftover.unlink(missing_ok=True)
        with progress_reporter() as progress:
            if progress:
                progress(f"generating {customers:,} customers")
            gen(exports, customers=customers, seed=seed, as_of=d)
            res = run_job(exports, as_of, out_dir, progress=progress,
                          on_notebook=notebook_lines(), encrypt=encrypt)
    except PrivauditError as e:
        fail(e)
    _print_run(res, f"generated a demo shop ({customers:,} customers, seed {seed}) in {exports}")
    # the demo's purpose is the report; the planted violations make the gate fail on purpose
    raise typer.Exit(0 if res.exit_code in (0, 1) else res.exit_code)


def _print_run(res, first: str | None = None) -> None:
    steps = [first] if first else []
    steps += [
        f"loaded {res.load.rows_loaded:,} rows into {res.db} ({res.load.rows_rejected:,} rejected)",
        f"audited {len(res.audit.rules)} rules as of {res.audit.as_of_date}: "
        f"{len(res.audit.findings):,} findings in {res.out_dir / 'audit'}",
        f"gate: {res.gate.summary()}",
        f"report: {res.report.tally()}",
    ]
    for i, line in enumerate(steps, 1):
        out.print(f"{i}. {line}", markup=False, soft_wrap=True)
    for p in res.problems:
        err.print(f"problem: {p}", markup=False, soft_wrap=True)
    out.print(f"Report: {res.index}", markup=False, soft_wrap=True)


def notebook_lines():
    """One line per notebook as it finishes (a terminal and a log alike)."""
    def line(r, done: int, total: int) -> None:
        mark = "ok    " if r.status == "ok" else "FAILED"
        text = f"  {mark} {r.name} ({r.seconds:.1f} s, {done}/{total})"
        out.print(text + (f": {r.error}" if r.status != "ok" else ""), markup=False,
                  soft_wrap=True, highlight=False)
    return line


@app.command()
def report(
    db: Path = typer.Option(Path("data/audit.duckdb"), "--db", help="Database built by 'privaudit load'."),
    as_of: str = typer.Option(..., "--as-of", help="Audit date (YYYY-MM-DD) or ISO timestamp."),
    out_dir: Path = typer.Option(..., "--out", help="Folder for the executed notebooks and index.html."),
    policy: Optional[Path] = typer.Option(None, "--policy"),
    run_id: Optional[str] = typer.Option(None, "--run-id", help="Report a stored audit run "
                                         "(default: audit once now)."),
    reveal: bool = typer.Option(False, "--reveal", help="Unmasked evidence (authorised "
                                "investigations only; the run is not stored)."),
):
    """Execute the audit notebooks and write the HTML report (exit 1 if one failed)."""
    from .report import report as make_report

    try:
        with progress_reporter() as progress:
            res = make_report(db, as_of, out_dir, policy=policy, reveal=reveal, run_id=run_id,
                              progress=progress, on_notebook=notebook_lines())
    except PrivauditError as e:
        fail(e)
    if reveal:
        err.print("warning: --reveal: the report shows unmasked personal data", markup=False)
    out.print(f"report: {res.tally()}", markup=False, soft_wrap=True)
    out.print(f"Report: {res.index}", markup=False, soft_wrap=True)
    raise typer.Exit(res.exit_code)


@app.command()
def render(
    out_dir: Path = typer.Option(..., "--out", help="Folder of the notebooks executed by papermill "
                                 "or a scheduler; index.html and the HTML pages are written there."),
    db: Optional[Path] = typer.Option(None, "--db", help="Database (default: the db_path the "
                                      "notebooks were executed with)."),
    run_id: Optional[str] = typer.Option(None, "--run-id", help="Run for the front page (default: "
                                         "the one the notebooks recorded)."),
    policy: Optional[Path] = typer.Option(None, "--policy"),
):
    """Turn notebooks executed elsewhere (papermill, Airflow) into the report (exit 1 if one failed)."""
    from .report import render as make_render

    try:
        res = make_render(out_dir, db=db, run_id=run_id, policy=policy,
                          on_notebook=notebook_lines())
    except PrivauditError as e:
        fail(e)
    out.print(f"report: {res.tally()}", markup=False, soft_wrap=True)
    out.print(f"Report: {res.index}", markup=False, soft_wrap=True)
    raise typer.Exit(res.exit_code)


@app.command("run")
def run_cmd(
    export_dir: Path = typer.Argument(..., help="Folder with one file per table."),
    as_of: str = typer.Option(..., "--as-of", help="Audit date (YYYY-MM-DD) or ISO timestamp."),
    out_dir: Path = typer.Option(..., "--out", help="Folder for the database, findings, gate and report."),
    db: Optional[Path] = typer.Option(None, "--db", help="Database (default: OUT/audit.duckdb)."),
    mapping: Optional[Path] = typer.Option(None, "--mapping"),
    policy: Optional[Path] = typer.Option(None, "--policy"),
    fail_on: str = typer.Option("S2", "--fail-on"),
    allow_not_evaluable: Optional[str] = typer.Option(
        None, "--allow-not-evaluable", help="Must-rules the gate may leave unevaluated, e.g. 'CKE-*'."),
    encrypt: bool = typer.Option(False, "--encrypt", help="Write a new database encrypted at rest."),
):
    """The scheduled job: load, audit, gate, report. Exit code as the gate (0, 1, 2)."""
    from .pipeline import run as run_job

    try:
        with progress_reporter() as progress:
            res = run_job(export_dir, as_of, out_dir, db=db, mapping=mapping, policy=policy,
                          fail_on=fail_on, progress=progress, on_notebook=notebook_lines(),
                          allow_not_evaluable=allow_not_evaluable, encrypt=encrypt)
    except PrivauditError as e:
        fail(e)
    _print_run(res)
    raise typer.Exit(res.exit_code)


@app.command()
def purge(
    db: Path = typer.Option(Path("data/audit.duckdb"), "--db", help="Database built by 'privaudit load'."),
):
    """Delete the loaded exports (tables and rejected raw records); keep the masked run history."""
    from .purge import purge as run_purge

    try:
        res = run_purge(db)
    except PrivauditError as e:
        fail(e)
    out.print(res.summary(), markup=False, soft_wrap=True)


@app.command("rules")
def rules_cmd(
    policy: Optional[Path] = typer.Option(None, "--policy", help="Policy file (default: contractstatus.nl)."),
    markdown: bool = typer.Option(False, "--markdown", help="Print a Markdown table (as in the README)."),
):
    """List the rules: what each flags, its statement clause, legal basis and severity."""
    from .policy import load_policy
    from .rules import catalogue, markdown as rules_markdown

    try:
        pol = load_policy(policy)
    except PrivauditError as e:
        fail(e)
    if markdown:
        out.print(rules_markdown(pol), soft_wrap=True, markup=False)
        return
    t = Table(title=escape(f"Rules of {pol.controller.name}'s policy"), title_justify="left")
    for col in ("rule", "severity", "subject", "clause", "flags"):
        t.add_column(col)
    for c in catalogue(pol):
        t.add_row(c["rule_id"] + ("" if c["enabled"] else " (off)"), c["severity"],
                  escape(c["subject"]), escape(c["clause"]), escape(c["flags"]))
    out.print(t)


@app.command()
def schema(
    table: Optional[str] = typer.Argument(None, help="Only this table."),
):
    """Print the canonical tables: columns, types, keys, personal data."""
    from . import schema as sch

    if table is not None and table not in sch.TABLES_BY_NAME:
        fail(PrivauditError(f"unknown table {table!r}; known: {', '.join(sch.TABLES_BY_NAME)}"))
    for t in sch.TABLES:
        if table and t.name != table:
            continue
        rt = Table(title=f"{t.name}{'' if t.core else ' (optional)'}: {t.doc}", title_justify="left")
        for col in ("column", "type", "personal", "fiscal", "notes"):
            rt.add_column(col)
        for c in t.columns:
            notes = ["primary key"] if c.name == t.primary_key else []
            if not c.core:
                notes.append("optional")
            if c.values:
                notes.append(", ".join(c.values))
            rt.add_row(c.name, c.type, c.pii or "", "yes" if c.fiscal else "", "; ".join(notes))
        out.print(rt)


subject_app = typer.Typer(help="One person across every table: find their records, build an Art. 15 "
                          "access package.", no_args_is_help=True)
app.add_typer(subject_app, name="subject")


def _who(email: Optional[str], customer_id: Optional[str], phone: Optional[str]) -> dict:
    return {"email": email, "customer_id": customer_id, "phone": phone}


@subject_app.command("find")
def subject_find(
    db: Path = typer.Option(Path("data/audit.duckdb"), "--db", help="Database built by 'privaudit load'."),
    email: Optional[str] = typer.Option(None, "--email", help="E-mail address (case and spaces ignored)."),
    customer_id: Optional[str] = typer.Option(None, "--customer-id", help="Customer id."),
    phone: Optional[str] = typer.Option(None, "--phone", help="Phone number (+31 / 0031 / 06, spaces, dashes)."),
):
    """Every record of one person, per table (ids and counts; no personal values printed)."""
    from .subject import find

    try:
        res = find(db, **_who(email, customer_id, phone))
    except PrivauditError as e:
        fail(e)
    if not res.found:
        out.print("no records found for this identifier", markup=False)
        return
    out.print(f"person {', '.join(res.persons) or '(no account)'}; accounts: "
              f"{', '.join(res.accounts) or 'none'}", markup=False, soft_wrap=True)
    t = Table(title="Records", title_justify="left")
    for col in ("table", "rows", "matched by", "keys"):
        t.add_column(col, justify="right" if col == "rows" else "left")
    for table, rows in res.records.items():
        if not rows:
            continue
        by: dict[str, int] = {}
        for r in rows:
            for k in r["_matched_by"].split(","):
                by[k] = by.get(k, 0) + 1
        keys = res.keys(table)
        t.add_row(table, f"{len(rows):,}", ", ".join(f"{k} {n}" for k, n in sorted(by.items())),
                  escape(" ".join(keys[:6]) + (f" ... (+{len(keys) - 6})" if len(keys) > 6 else "")))
    out.print(t)
    for note in res.notes:
        out.print(f"note: {note}", markup=False, soft_wrap=True)


@subject_app.command("access")
def subject_access(
    out_dir: Path = typer.Option(..., "--out", help="Folder for index.html and data.json (made owner-only)."),
    db: Path = typer.Option(Path("data/audit.duckdb"), "--db", help="Database built by 'privaudit load'."),
    email: Optional[str] = typer.Option(None, "--email"),
    customer_id: Optional[str] = typer.Option(None, "--customer-id"),
    phone: Optional[str] = typer.Option(None, "--phone"),
    lang: str = typer.Option("nl", "--lang", help="nl (default) or en."),
    as_of: Optional[str] = typer.Option(None, "--as-of", help="Date of the package (default: now)."),
    policy: Optional[Path] = typer.Option(None, "--policy"),
    dsr: Optional[str] = typer.Option(None, "--dsr", help="The access request (dsr_id) it answers."),
):
    """Write the Art. 15 access package of one person: unmasked, for the data subject."""
    from .subject import access

    try:
        pkg = access(db, out_dir, lang=lang, as_of=as_of, policy=policy, dsr_id=dsr,
                     **_who(email, customer_id, phone))
    except PrivauditError as e:
        fail(e)
    counts = pkg.counts()
    out.print(f"access package {pkg.package_id}: {sum(counts.values()):,} records from "
              f"{len(counts)} tables, {len(pkg.categories)} categories", markup=False)
    out.print(f"  {pkg.html}\n  {pkg.data}", markup=False, soft_wrap=True)
    err.print("warning: the package holds the person's data UNMASKED: it is for the data subject "
              "only (files are owner-only); that it was made is logged in the table "
              "access_packages", markup=False, soft_wrap=True)


@app.command()
def remediate(
    db: Path = typer.Option(Path("data/audit.duckdb"), "--db", help="Database the run audited."),
    run_id: Optional[str] = typer.Option(None, "--run", help="Stored audit run (default: the latest)."),
    out_dir: Path = typer.Option(Path("remediation"), "--out", help="Folder for the worklist and script."),
    policy: Optional[Path] = typer.Option(None, "--policy", help="Policy (default: the run's)."),
    do_apply: bool = typer.Option(False, "--apply", help="Apply the script to a copy and re-audit it."),
    copy: Optional[Path] = typer.Option(None, "--copy", help="Where the copy goes (default: OUT/remediated.duckdb)."),
    in_place: bool = typer.Option(False, "--in-place", help="With --apply: change --db itself, not a copy."),
):
    """Erasure worklist from a run's findings (CSV + SQL); --apply proves it on a copy."""
    from . import remediate as rem

    try:
        with progress_reporter() as progress:
            plan = rem.plan(db, run_id, out_dir, policy=policy, progress=progress)
            result = rem.apply(plan, copy=copy, in_place=in_place, progress=progress) if do_apply else None
    except PrivauditError as e:
        fail(e)
    kinds: dict[str, int] = {}
    for a in plan.actions:
        kinds[a.action] = kinds.get(a.action, 0) + len(a.keys)
    out.print(f"plan {plan.plan_id} for run {plan.run_id} (as of {plan.as_of_date}): "
              f"{sum(len(v) for v in plan.remediated.values()):,} subjects, "
              + ", ".join(f"{n:,} {k.replace('_', ' ')}" for k, n in sorted(kinds.items()))
              + f"; {len(plan.held)} held (left out), {len(plan.skipped)} skipped, "
              f"{len(plan.notifications)} Art. 19 notifications", markup=False, soft_wrap=True)
    out.print(f"written to {out_dir}: actions.csv, remediate.sql, held.csv, notifications.csv, "
              f"skipped.csv, plan.json", markup=False, soft_wrap=True)
    if result is None:
        return
    t = Table(title=escape(f"Before and after, on {result.db}"), title_justify="left")
    for col in ("rule", "before", "after", "excluded", "verdict"):
        t.add_column(col, justify="left" if col in ("rule", "verdict") else "right")
    for r in result.rules:
        if r.verdict == "unchanged" and not r.target:
            continue
        style = "green" if r.verdict in ("closed", "subjects erased") else (
            "" if r.verdict == "unchanged" else "bold red")
        t.add_row(r.rule_id, f"{r.before:,}", f"{r.after:,}",
                  f"{r.excluded_before:,} -> {r.excluded_after:,}" if r.excluded_before or r.excluded_after else "",
                  f"[{style}]{r.verdict}[/]" if style else r.verdict)
    out.print(t)
    same = sum(1 for r in result.rules if r.verdict == "unchanged" and not r.target)
    out.print(f"{result.changed_rows:,} rows changed; {same} other rules unchanged; "
              f"before_after.csv in {out_dir}", markup=False, soft_wrap=True)
    if result.drift:
        err.print(f"note: the database changed since run {plan.run_id} "
                  f"({', '.join(result.drift)} counted differently)", markup=False, soft_wrap=True)
    if not result.ok:
        err.print("error: the re-audit does not prove the remediation (see before_after.csv)",
                  markup=False)
    raise typer.Exit(result.exit_code)


statement_app = typer.Typer(help="The privacy statement itself: GDPR Art. 12-14 checks and the "
                             "statement against the data.", no_args_is_help=True)
app.add_typer(statement_app, name="statement")
VERDICT_STYLE = {"missing": "red", "invalid": "bold red", "outdated": "red",
                 "inconsistent": "yellow", "present": "green"}


@statement_app.command("review")
def statement_review(
    file: Path = typer.Argument(..., help="The statement: plain text, Markdown or HTML."),
    policy: Optional[Path] = typer.Option(None, "--policy", help="Policy file: first-party domains "
                                          "and review interval (default: contractstatus.nl)."),
    db: Optional[Path] = typer.Option(None, "--db", help="Also compare the statement with this "
                                      "database's data (TRN rules)."),
    as_of: Optional[str] = typer.Option(None, "--as-of", help="Review date (default today); the "
                                        "audit date with --db."),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="Folder for statement_findings.csv "
                                           "and statement_findings.json."),
):
    """Check a privacy statement: exit 0 nothing missing, 1 missing/invalid/outdated, 2 unusable."""
    from .statement import review

    try:
        res = review(file, policy=policy, db=db, as_of=as_of, out=out_dir)
    except PrivauditError as e:
        fail(e)
    d = res.document
    t = Table(title=escape(f"{d.title or file.name} ({d.language}, {len(d.sentences)} sentences, "
                           f"dated {res.statement_date or 'nowhere'}) reviewed on {res.as_of}"),
              title_justify="left")
    for col in ("check", "GDPR", "verdict", "explanation", "where"):
        t.add_column(col, overflow="fold")
    for c in res.checks:
        t.add_row(c.check_id, c.gdpr_ref, f"[{VERDICT_STYLE[c.verdict]}]{c.verdict}[/]",
                  escape(c.explanation), escape(c.places(2)))
    out.print(t)
    for s in res.not_evaluated:
        err.print(f"{s['check_id']}: {s['status']} {s['missing'] or s['error']}", markup=False)
    counts = ", ".join(f"{n} {v}" for v, n in res.counts().items() if n)
    where = f"; written to {out_dir}" if out_dir else ""
    out.print(f"{len(res.checks)} checks: {counts}{where}", markup=False)
    raise typer.Exit(res.exit_code)


policy_app = typer.Typer(help="Policy files: the statement codified as data.", no_args_is_help=True)
app.add_typer(policy_app, name="policy")


@policy_app.command("draft")
def policy_draft(
    file: Path = typer.Argument(..., help="The statement: plain text, Markdown or HTML."),
    out_file: Optional[Path] = typer.Option(None, "--out", help="Write the YAML here (default: "
                                            "print it)."),
    base: Optional[Path] = typer.Option(None, "--base", help="Policy for the values a statement "
                                        "cannot give (default: contractstatus.nl)."),
):
    """Draft a policy YAML from a statement, each value with its quote ('# confirm' where unsure)."""
    from .statement import draft_policy

    try:
        text = draft_policy(file, out=out_file, base=base)
    except PrivauditError as e:
        fail(e)
    if out_file is None:
        out.print(text, markup=False, soft_wrap=True, end="")
    else:
        confirm = sum("# confirm" in line or "; confirm" in line for line in text.splitlines())
        out.print(f"wrote {out_file} ({confirm} value(s) to confirm)", markup=False)


def _on_signal(signum, frame) -> None:
    # SIGTERM is raised like Ctrl-C, so that transactions roll back and temporary files go
    import signal

    from .exceptions import Terminated
    Terminated.signal = signum
    raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


def _stopped(e: KeyboardInterrupt) -> tuple[str, int]:
    import signal

    from .exceptions import Terminated
    if isinstance(e, Terminated) or Terminated.signal == signal.SIGTERM:
        return "terminated", 143
    return "interrupted", 130


def own_process() -> None:
    """What the command sets for its own process before it imports anything heavy.

    jsonschema (imported with nbformat for the report, and with altair by Great Expectations for
    the gate) compiles the grammar of the optional package rfc3987-syntax on import: about 1.3 s
    of CPU for an IRI format check that nothing in a command uses. This process is ours, so it
    goes without (docs/benchmarks.md); the library leaves its caller's process as it is."""
    sys.modules.setdefault("rfc3987_syntax", None)


def main() -> None:
    own_process()
    import signal
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    try:
        app()
    except PrivauditError as e:  # raised outside a command's own handling
        err.print(Text(f"error: {e}"), soft_wrap=True)
        sys.exit(e.exit_code)
    except KeyboardInterrupt as e:
        word, code = _stopped(e)
        err.print(Text(word))
        sys.exit(code)
    except Exception as e:
        if os.environ.get("PRIVAUDIT_DEBUG"):
            raise
        if isinstance(e, OSError):  # a path that cannot be used, a full disk: one line
            where = f"{e.filename}: " if e.filename else ""
            err.print(Text(f"error: {where}{e.strerror or type(e).__name__}"), soft_wrap=True)
            sys.exit(2)
        # a bug: one line, the traceback only on request
        first = str(e).splitlines()[0] if str(e) else ""
        err.print(Text(f"error: internal error: {type(e).__name__}: {first} "
                       f"(run with PRIVAUDIT_DEBUG=1 for the traceback)"), soft_wrap=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
