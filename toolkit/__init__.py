"""privaudit: does a webshop's practice match its privacy statement and the GDPR?

The library is the product; the ``privaudit`` command line is a thin layer over it::

    import toolkit
    result = toolkit.load("exports/", db="data/audit.duckdb")
"""

__version__ = "0.1.0"

from .findings import AuditResult, audit  # noqa: E402
from .ingest import LoadResult, load  # noqa: E402
from .policy import Policy, load_policy  # noqa: E402
from .preview import InspectResult  # noqa: E402
from .preview import inspect_export as inspect  # noqa: E402

__all__ = ["__version__", "load", "LoadResult", "audit", "AuditResult", "load_policy", "Policy",
           "inspect", "InspectResult"]
