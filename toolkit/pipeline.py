"""The scheduled job (``privaudit run``): load, audit, gate, report, in one call.

``run(export_dir, as_of, out)`` writes into ``out``:

- ``audit.duckdb`` (unless ``db`` is given): the loaded exports, with the run's findings;
- ``audit/``: findings.parquet, findings.csv, rules.csv, manifest.json (contract section 6);
- ``gate/``: the gate's HTML page and ``junit.xml``;
- ``index.html`` and the executed notebooks (``<name>.ipynb`` and ``.html``).

The exit code follows the gate (contract section 7): 0 nothing at or above ``fail_on`` failed,
1 the policy is violated, 2 something could not run (unusable input, a rule's error, a suite that
cannot run, or a notebook that failed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from . import outputs
from .exceptions import PrivauditError, UnusableInputError


@dataclass
class RunResult:
    exit_code: int
    out_dir: Path
    db: Path
    load: object = None
    audit: object = None
    gate: object = None
    report: object = None
    problems: list[str] = field(default_factory=list)

    @property
    def index(self) -> Path:
        return self.out_dir / "index.html"


def run(export_dir: str | Path, as_of: str, out: str | Path, db: str | Path | None = None,
        mapping: str | Path | None = None, policy: str | Path | None = None,
        fail_on: str = "S2", progress: Callable[[str], None] | None = None,
        on_notebook=None, allow_not_evaluable: str | list[str] | None = None,
        encrypt: bool = False) -> RunResult:
    """Load ``export_dir``, audit it as of ``as_of``, gate it and write the report into ``out``.
    Relative paths are taken from the working directory once, here. ``on_notebook`` is called
    with each notebook's result as it finishes (``toolkit.report.report``);
    ``allow_not_evaluable`` names must-rules the gate may leave unevaluated
    (``toolkit.gate.gate``); ``encrypt`` writes a new database encrypted at rest
    (``toolkit.ingest.load``)."""
    from .findings import audit
    from .gate import check_fail_on, gate
    from .ingest import load
    from .report import report

    check_fail_on(fail_on)
    out = Path(out).resolve()
    export_dir = Path(export_dir).resolve()
    if out.exists() and not out.is_dir():
        raise UnusableInputError(f"{out}: not a folder (the output folder)")
    try:
        outputs.private_dir(out)
    except OSError as e:
        raise UnusableInputError(f"{e.filename or out}: {e.strerror or e}") from None
    db = Path(db).resolve() if db else out / "audit.duckdb"
    say = progress or (lambda _m: None)
    res = RunResult(2, out, db)
    say("loading")
    res.load = load(export_dir, db=db, mapping=mapping, progress=progress, as_of=as_of,
                    encrypt=encrypt)
    say("auditing")
    res.audit = audit(db, as_of, policy=policy, out=out / "audit", progress=progress)
    res.problems += [f"{r.rule_id}: error: {r.error}" for r in res.audit.errors]
    say("gate")
    res.gate = gate(db, as_of, policy=policy, fail_on=fail_on, junit=out / "gate" / "junit.xml",
                    docs=out / "gate", allow_not_evaluable=allow_not_evaluable)
    res.problems += list(res.gate.errors)
    say("report")
    res.report = report(db, as_of, out, policy=policy, run_id=res.audit.run_id, progress=progress,
                        on_notebook=on_notebook)
    res.problems += res.report.messages() if res.report.exit_code else []
    res.exit_code = 2 if res.problems or res.gate.exit_code == 2 else res.gate.exit_code
    return res
