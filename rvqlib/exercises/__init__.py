"""Exercise checkers, one module per chapter (``rvqlib.exercises.ch01``, ...).

The shared machinery is in :mod:`rvqlib.exercises._check`; see
:class:`~rvqlib.exercises._check.CheckResult`.
"""

from rvqlib.exercises._check import (
    CheckResult,
    check_array,
    check_choice,
    check_close,
    check_function,
)

__all__ = ["CheckResult", "check_array", "check_choice", "check_close", "check_function"]
