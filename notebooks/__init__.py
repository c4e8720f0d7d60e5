"""The audit notebooks, shipped in the package as ``toolkit.notebooks`` (see ``toolkit.resources``)."""
