"""Every exercise checker of every chapter returns a verdict, whatever it is passed.

The book promises that a checker never raises: a learner who types an answer
of an unexpected type (a dict, a string, None, a generator, a function that
crashes, ...) reads a message, not a traceback. This test calls every public
``check_*`` function of every chapter module with such answers.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import numpy as np
import pytest
import torch

import rvqlib.exercises
from rvqlib.exercises import CheckResult

MODULES = sorted(
    m.name for m in pkgutil.iter_modules(rvqlib.exercises.__path__) if m.name.startswith("ch")
)


def _checkers() -> list[tuple[str, str]]:
    found = []
    for mod_name in MODULES:
        mod = importlib.import_module(f"rvqlib.exercises.{mod_name}")
        for name, fn in inspect.getmembers(mod, inspect.isfunction):
            if name.startswith("check_") and fn.__module__ == mod.__name__:
                found.append((mod_name, name))
    return found


def _crash(*args, **kwargs):
    raise RuntimeError("a learner's function that crashes")


def _gen():
    yield 1


ODD_ANSWERS = {
    "ellipsis": ...,
    "None": None,
    "string": "0.5",
    "empty string": "",
    "dict": {"a": 1},
    "ragged list": [1, [2, 3]],
    "object": object(),
    "nan": float("nan"),
    "inf": float("inf"),
    "huge int": 10**400,
    "bool": True,
    "empty array": np.array([]),
    "string array": np.array(["a", "b"]),
    "complex": 1 + 2j,
    "tensor with grad": torch.ones(2, requires_grad=True),
    "generator": _gen(),
    "function returning None": lambda *a, **k: None,
    "crashing function": _crash,
    "function returning a dict": lambda *a, **k: {"x": 1},
}


def test_there_are_checkers():
    assert len(_checkers()) >= 8 * 4


@pytest.mark.parametrize(("module", "checker"), _checkers(), ids=lambda x: x)
def test_checker_never_raises(module, checker):
    fn = getattr(importlib.import_module(f"rvqlib.exercises.{module}"), checker)
    n_args = len(
        [
            p
            for p in inspect.signature(fn).parameters.values()
            if p.default is inspect.Parameter.empty
            and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
    )
    for label, odd in ODD_ANSWERS.items():
        for position in range(max(n_args, 1)):
            args = [...] * n_args
            if n_args:
                args[position] = odd
            try:
                result = fn(*args)
            except Exception as exc:  # pragma: no cover - this is the failure being tested
                pytest.fail(f"{module}.{checker} raised {type(exc).__name__} for {label}: {exc}")
            assert isinstance(result, CheckResult), (module, checker, label)
            if label != "None":  # None is the right answer to some questions
                assert not result.ok, f"{module}.{checker} accepted {label} as right"
