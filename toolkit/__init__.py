"""privaudit: does a webshop's practice match its privacy statement and the GDPR?

The library is the product; the ``privaudit`` command line is a thin layer over it::

    import toolkit
    result = toolkit.load("exports/", db="data/audit.duckdb")

The names below are imported on first use, so ``import toolkit`` (and ``privaudit --version``)
stays cheap. A new public name is one line in ``_PUBLIC``.
"""

__version__ = "0.1.0"

# public name -> (the module that defines it, its name there)
_PUBLIC = {
    "load": (".ingest", "load"), "LoadResult": (".ingest", "LoadResult"),
    "audit": (".findings", "audit"), "AuditResult": (".findings", "AuditResult"),
    "load_policy": (".policy", "load_policy"), "Policy": (".policy", "Policy"),
    "inspect": (".preview", "inspect_export"), "InspectResult": (".preview", "InspectResult"),
    "versions": (".provenance", "versions"),
}

__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'toolkit' has no attribute {name!r}")
    from importlib import import_module

    module, attr = _PUBLIC[name]
    value = getattr(import_module(module, __name__), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))
