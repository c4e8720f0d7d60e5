"""The privacy statement itself: its text checked against GDPR Art. 12-14 and against the data
(``review``), and a policy drafted from it (``draft_policy``).

    from toolkit.statement import review
    res = review("privacy.txt", db="data/audit.duckdb", as_of="2026-10-31", out="review/")
    res.exit_code          # 1 when a check is missing, invalid or outdated
"""

from .checks import Check
from .document import Document, Sentence, read_statement
from .review import ReviewResult, review, statement_policy

__all__ = ["review", "ReviewResult", "Check", "Document", "Sentence", "read_statement",
           "statement_policy", "draft_policy"]


def draft_policy(file, out=None, base=None) -> str:
    """A policy YAML drafted from the statement ``file`` (see :mod:`toolkit.statement.draft`)."""
    from .draft import draft_policy as _draft
    return _draft(file, out=out, base=base)
