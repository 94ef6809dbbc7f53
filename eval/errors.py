"""The one exception type evaluation raises for bad input that is not a dataset or bundle error."""

from __future__ import annotations


class EvalError(ValueError):
    """Evaluation cannot proceed as asked (e.g. bundle/dataset mismatch, unreadable image).

    The message is one line that names the problem (file, column, value, bundle).
    """
