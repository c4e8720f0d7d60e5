"""The lower bounds in pyproject.toml are the ones tested (issue 20).

``make lowest`` installs the lowest release of every direct dependency that pyproject.toml allows
and runs the whole suite there; docs/lowest.md records its last run with the versions it resolved.
This test keeps that record honest: every direct dependency appears in it at exactly its declared
lower bound. Raise or lower a bound without running ``make lowest`` (and recording the run) and it
fails; so does a bound that no resolution reaches (a release that cannot be installed with the rest
is not a tested lower bound).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[1]
RECORD = REPO / "docs" / "lowest.md"


def direct_requirements() -> list[Requirement]:
    """What ``make lowest`` installs: the dependencies and the dev extra."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return [Requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["dev"]]


def lower_bound(req: Requirement) -> Version:
    bounds = [Version(s.version) for s in req.specifier if s.operator in (">=", "==", "~=")]
    assert len(bounds) == 1, f"{req}: one lower bound (>=, == or ~=) expected"
    return bounds[0]


def recorded_versions() -> dict[str, Version]:
    """The ``name==version`` lines of the first fenced block under 'Last run' in docs/lowest.md."""
    text = RECORD.read_text(encoding="utf-8")
    last_run = text[text.index("## Last run"):]
    block = re.search(r"```text\n(.*?)```", last_run, re.S)
    assert block, "docs/lowest.md: no ```text block of name==version lines under '## Last run'"
    pins = {}
    for line in block.group(1).splitlines():
        name, version = line.split("==")
        pins[canonicalize_name(name)] = Version(version)
    return pins


def test_the_last_lowest_run_resolved_every_declared_lower_bound():
    recorded = recorded_versions()
    wrong = {}
    for req in direct_requirements():
        got = recorded.get(canonicalize_name(req.name))
        if got != lower_bound(req):
            wrong[req.name] = f"declared {req.specifier}, last make lowest run: {got}"
    assert wrong == {}, "run `make lowest` and record it in docs/lowest.md"

