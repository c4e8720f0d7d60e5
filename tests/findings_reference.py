"""The findings reference (issue 16): the findings files of every rule on one generated shop, as
the audit wrote them before its findings moved into DuckDB end to end. ``test_findings`` holds
every later audit to them, byte for byte (the run id, new on every run, is the only part
replaced, by ``RUN``).

    python -m tests.findings_reference        # rewrite tests/data/findings_reference/

Rewrite it only when a rule's findings change on purpose (a rule, the generator or masking
changed), and say so in the commit: the diff of ``findings.csv`` shows what changed.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

HERE = Path(__file__).parent / "data" / "findings_reference"
CUSTOMERS, SEED, VIOLATION_RATE, AS_OF = 300, 16, 0.2, "2026-10-31"


def run(work: Path) -> tuple[str, Path]:
    """Generate, load and audit the reference shop in ``work``: (run id, output folder)."""
    from toolkit.findings import audit
    from toolkit.generate import generate
    from toolkit.ingest import load

    generate(work / "exports", customers=CUSTOMERS, seed=SEED, violation_rate=VIOLATION_RATE)
    load(work / "exports", db=work / "audit.duckdb", as_of=AS_OF)
    res = audit(work / "audit.duckdb", AS_OF, out=work / "out")
    return res.run_id, work / "out"


def files(run_id: str, out: Path) -> dict[str, str]:
    """What is compared: findings.csv's bytes and findings.parquet's schema and rows (JSON), the
    run id replaced; rules.csv without its timings."""
    import pyarrow.parquet as pq

    csv_text = (out / "findings.csv").read_bytes().decode("utf-8").replace(run_id, "RUN")
    table = pq.read_table(out / "findings.parquet")
    rows = [{k: ("RUN" if k == "run_id" else v) for k, v in r.items()} for r in table.to_pylist()]
    # the Parquet file's own schema (physical and logical types), not the Arrow types a writer
    # may store beside it (pandas writes large_string, DuckDB string: the same Parquet column)
    # (a signed 64-bit INT64 is the same column whether or not its writer annotates it so)
    schema = [f"{c.name}: {c.physical_type} " + str(c.logical_type).replace(
                  "Int(bitWidth=64, isSigned=true)", "None")
              for c in pq.ParquetFile(out / "findings.parquet").schema]
    parquet = json.dumps({"schema": schema,
                          "rows": rows}, ensure_ascii=False, indent=0, default=str)
    return {"findings.csv": csv_text, "findings.parquet.json": parquet,
            "rows": str(len(rows))}


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def main() -> None:
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        got = files(*run(Path(tmp)))
    HERE.mkdir(parents=True, exist_ok=True)
    (HERE / "findings.csv").write_bytes(got["findings.csv"].encode("utf-8"))
    (HERE / "findings.parquet.json").write_text(got["findings.parquet.json"], encoding="utf-8")
    print(f"{got['rows']} findings written to {HERE}")


if __name__ == "__main__":
    main()
