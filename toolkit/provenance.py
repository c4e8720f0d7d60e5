"""Which software made an audit: the toolkit and the libraries its findings depend on.

``versions()`` is what ``privaudit --version`` prints and what every audit records, in
``manifest.json`` (``software``) and in the ``runs`` table, next to the policy's sha256: a finding
can be traced to the exact software that made it. The versions are read from the installed
packages' metadata (:mod:`importlib.metadata`), so asking costs no import of the libraries
(Great Expectations alone takes seconds to import).
"""

from __future__ import annotations

import platform
from importlib import metadata

from . import __version__

# key in versions() -> (distribution on PyPI, name as printed)
LIBRARIES = {
    "duckdb": ("duckdb", "DuckDB"),
    "great_expectations": ("great-expectations", "Great Expectations"),
    "pandas": ("pandas", "pandas"),
}


def versions() -> dict[str, str]:
    """``{"privaudit", "duckdb", "great_expectations", "pandas", "python"}`` -> version text.

    A library that is not installed is reported as ``"not installed"``.
    """
    out = {"privaudit": __version__}
    for key, (dist, _label) in LIBRARIES.items():
        try:
            out[key] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[key] = "not installed"
    out["python"] = platform.python_version()
    return out


def describe() -> list[str]:
    """The lines of ``privaudit --version``: the toolkit first, then each library and Python."""
    v = versions()
    return ([f"privaudit {v['privaudit']}"]
            + [f"{label} {v[key]}" for key, (_dist, label) in LIBRARIES.items()]
            + [f"Python {v['python']} ({platform.python_implementation()}, "
               f"{platform.system()} {platform.machine()})"])
