"""The committed Great Expectations suites, shipped as ``toolkit.expectations`` (see ``toolkit.resources``)."""
