"""Where the files the commands need are found: inside the installed package.

The notebooks (``notebooks/`` in the repository) and the committed expectation suites
(``expectations/``) are shipped in the wheel as the packages ``toolkit.notebooks`` and
``toolkit.expectations`` (``pyproject.toml`` maps the two repository folders into the package),
next to the package's own ``data/``, ``mappings/``, ``policies/`` and ``templates/``. Everything
is looked up through the package (:mod:`importlib.resources`), never through the repository
layout, so an installed wheel, an editable install (``make install``: the two packages are the
repository's folders) and a clone behave the same.

This module imports nothing of ours.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _mapped(subpackage: str, repo_folder: str) -> Path:
    try:
        return Path(str(resources.files(f"toolkit.{subpackage}")))
    except ModuleNotFoundError:
        pass
    # a checkout used without installing it (PYTHONPATH=.): the repository's folder
    checkout = _PACKAGE.parent / repo_folder
    if (checkout / "__init__.py").is_file():
        return checkout
    # where an installed package keeps it: a missing file is then named at its real place
    return _PACKAGE / subpackage


def notebooks_dir() -> Path:
    """The folder of the audit notebooks (``*.ipynb``)."""
    return _mapped("notebooks", "notebooks")


def expectations_dir() -> Path:
    """The folder of the committed Great Expectations suites (``*.json``)."""
    return _mapped("expectations", "expectations")


def data_dir() -> Path:
    """The package's reference data (cookie classes, ...)."""
    return _PACKAGE / "data"


def mappings_dir() -> Path:
    """The shipped mapping files (``shopify.yaml``, ...)."""
    return _PACKAGE / "mappings"


def policies_dir() -> Path:
    """The shipped policies (``contractstatus.nl.yaml``, ...)."""
    return _PACKAGE / "policies"


def templates_dir() -> Path:
    """The Jinja2 templates of the report (``report.html.j2``, ...)."""
    return _PACKAGE / "templates"
