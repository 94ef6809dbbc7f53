"""Bad input in evaluation and prediction: the exception the pipeline raises.

The commands report it as one ``error: ...`` line with exit code 2 (`configs.cli`).
"""

from __future__ import annotations


class EvalError(ValueError):
    """Evaluation cannot proceed as asked (e.g. bundle/dataset mismatch, unreadable image).

    The message is one line that names the problem (file, column, value, bundle).
    """
