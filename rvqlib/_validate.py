"""Input validation shared by every rvqlib module.

The book's library promises two things about bad input: it is never silently
broadcast or coerced into something else, and the error names the argument and
says what was expected. The helpers here implement that once.

Backend rules used throughout ``rvqlib``:

* numpy path: any array-like (list, tuple, ``np.ndarray``) is accepted through
  ``np.asarray``; integer and boolean input is converted to ``float64``,
  floating input keeps its dtype.
* torch path: a ``torch.Tensor`` stays on its device; integer/boolean tensors are
  converted to the default floating dtype, floating tensors keep theirs.
* Mixing ``torch.Tensor`` and numpy/array-like arguments in one call is a
  ``TypeError`` (there is no silent device or library transfer).
"""

from __future__ import annotations

import functools
import math
import numbers
import sys
import types
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

__all__ = [
    "CallableModule",
    "is_torch",
    "check_dense",
    "compiling",
    "eager",
    "finite_max_abs",
    "make_callable",
    "uses_torch",
    "as_float",
    "as_index",
    "check_finite",
    "check_vectors",
    "check_codebook",
    "check_same_dim",
    "common_float",
    "positive_int",
    "nonnegative_float",
    "as_generator",
]


def is_torch(x: Any) -> bool:
    """Return True when ``x`` is a ``torch.Tensor`` (without importing torch)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def compiling() -> bool:
    """True while ``torch.compile`` (Dynamo) or ``torch.export`` traces the caller.

    Zero-copy numpy views of tensors (the CPU fast paths of :mod:`rvqlib.vq`) are
    invisible to a tracer: it would record a copy and lose the writes. Every such
    path checks this first. False when torch was never imported.
    """
    torch = sys.modules.get("torch")
    return torch is not None and bool(torch.compiler.is_compiling())


_F = TypeVar("_F", bound=Callable[..., Any])
_DISABLED: dict[Callable[..., Any], Callable[..., Any]] = {}


def _dynamo_disabled(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``torch._dynamo.disable(fn)``, made once (Dynamo is imported only while compiling)."""
    disabled = _DISABLED.get(fn)
    if disabled is None:
        import torch._dynamo

        disabled = torch._dynamo.disable(fn, recursive=True)
        _DISABLED[fn] = disabled
    return disabled


def eager(fn: _F) -> _F:
    """Run ``fn`` eagerly (as plain Python and torch calls), whoever calls it.

    rvqlib's searches choose their arithmetic from the data (the origin shift,
    the removal of duplicate codewords, the work type for the magnitudes at
    hand) and write through zero-copy numpy views of CPU tensors. Neither can be
    recorded in a graph:

    - Under ``torch.compile`` (or ``torch.export``) the call is handed back to
      Python (``torch._dynamo.disable``; a graph break): the compiled model gets
      exactly the codes of the uncompiled one. ``torch._dynamo`` is imported only
      then, so eager use does not pay for it.
    - Under ``torch.jit.trace`` a trace would freeze those data-dependent choices
      (and lose the numpy writes) into constants, so the call raises a
      ``RuntimeError`` saying so instead of recording silently wrong codes.
    """

    @functools.wraps(fn)
    def inner(*args: Any, **kwargs: Any) -> Any:
        torch = sys.modules.get("torch")
        if torch is not None:
            if torch.compiler.is_compiling():
                return _dynamo_disabled(fn)(*args, **kwargs)
            if torch.jit.is_tracing():
                what = "quantizer modules" if fn.__name__.startswith("_") else fn.__name__
                raise RuntimeError(
                    f"rvqlib's {what} cannot be recorded by torch.jit.trace: the search "
                    "depends on the data (origin shift, duplicate codewords, the work type for "
                    "the magnitudes at hand), which a trace would freeze into constants. Use "
                    "torch.compile, which runs it eagerly inside the compiled model, or call "
                    "it outside the traced function"
                )
        return fn(*args, **kwargs)

    return inner  # type: ignore[return-value]


def check_dense(x: Any, name: str) -> None:
    """Reject tensors that hold no values to compute with.

    Raises
    ------
    TypeError
        For a sparse (or otherwise non-strided) tensor: ``rvqlib`` computes on
        dense arrays; call ``.to_dense()`` first.
    ValueError
        For a tensor on the ``meta`` device, which has a shape but no values.
    """
    import torch

    if x.layout != torch.strided:
        raise TypeError(
            f"{name} must be a dense (strided) tensor, got layout {x.layout}; "
            "call .to_dense() first"
        )
    if x.device.type == "meta":
        raise ValueError(
            f"{name} is a meta tensor (shape {tuple(x.shape)} but no values); "
            "rvqlib needs tensors with data, on a real device"
        )


def uses_torch(**named: Any) -> bool:
    """Decide the backend of a call from its array arguments.

    Parameters
    ----------
    **named
        The array arguments of the call, by name (``None`` values are ignored).

    Returns
    -------
    bool
        True when every argument is a ``torch.Tensor``, False when none is.

    Raises
    ------
    TypeError
        If some arguments are tensors and others are not.
    """
    flags = {name: is_torch(v) for name, v in named.items() if v is not None}
    if flags and any(flags.values()) and not all(flags.values()):
        tensors = [n for n, f in flags.items() if f]
        others = [n for n, f in flags.items() if not f]
        raise TypeError(
            f"cannot mix torch and numpy inputs: {', '.join(tensors)} "
            f"{'is a' if len(tensors) == 1 else 'are'} torch.Tensor but "
            f"{', '.join(others)} {'is' if len(others) == 1 else 'are'} not; "
            "pass all of them as torch tensors or all as numpy arrays"
        )
    return bool(flags) and all(flags.values())


def as_float(x: Any, name: str) -> Any:
    """Return ``x`` as a floating numpy array or floating torch tensor.

    Parameters
    ----------
    x
        Array-like or ``torch.Tensor``.
    name
        Argument name used in error messages.

    Returns
    -------
    numpy.ndarray or torch.Tensor
        Floating array (same dtype if already floating, else float64 for numpy
        and the default float dtype for torch).

    Raises
    ------
    TypeError
        For complex, object, string or otherwise non-numeric input.
    """
    if is_torch(x):
        import torch

        check_dense(x, name)
        if x.is_complex():
            raise TypeError(f"{name} must be a real tensor, got dtype {x.dtype}")
        if x.is_quantized:
            raise TypeError(
                f"{name} must be a floating or integer tensor, got the quantized dtype "
                f"{x.dtype}; call .dequantize() first"
            )
        if not x.is_floating_point():
            x = x.to(torch.get_default_dtype())
        return x
    if isinstance(x, (str, bytes)) or x is None:
        raise TypeError(f"{name} must be an array of real numbers, got {type(x).__name__}")
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError) as err:  # ragged nested lists and the like
        raise TypeError(f"{name} must be an array of real numbers: {err}") from None
    if arr.dtype.kind in "biu":
        arr = arr.astype(np.float64)
    elif arr.dtype.kind != "f":
        raise TypeError(
            f"{name} must be an array of real numbers, got dtype {arr.dtype} "
            f"(from {type(x).__name__})"
        )
    return arr


_INT64_LIMIT = 2.0**63  # int64 holds [-2**63, 2**63): floats at or beyond cannot be indices


def as_index(x: Any, name: str) -> Any:
    """Return ``x`` as an int64 numpy array or a ``torch.long`` tensor.

    Floating input is accepted only when every value is integral. A value that
    int64 cannot hold (NaN, inf, a float of magnitude ``2**63`` or more, an
    unsigned integer of ``2**63`` or more) raises instead of wrapping around, and
    the message shows that value.

    Raises
    ------
    TypeError
        For non-numeric input.
    ValueError
        For non-integral floating values or values beyond the int64 range.
    """
    if is_torch(x):
        import torch

        check_dense(x, name)
        if x.dtype == torch.bool:
            raise TypeError(f"{name} must hold integer indices, got dtype torch.bool")
        if x.is_complex():
            raise ValueError(f"{name} must hold integer indices, got dtype {x.dtype}")
        if x.is_floating_point():
            bad = ~torch.isfinite(x) | (x.abs() >= _INT64_LIMIT)
            if bool(bad.any()):
                raise ValueError(_out_of_int64(name, float(x[bad].flatten()[0])))
            frac = x != torch.round(x)
            if bool(frac.any()):
                raise ValueError(_non_integral(name, float(x[frac].flatten()[0])))
        out = x.to(torch.long)
        if x.dtype == torch.uint64:  # values >= 2**63 wrap to negative int64
            wrapped = out < 0
            if bool(wrapped.any()):
                raise ValueError(_out_of_int64(name, int(out[wrapped].flatten()[0]) + 2**64))
        return out
    if isinstance(x, (str, bytes)) or x is None:
        raise TypeError(f"{name} must be an integer array, got {type(x).__name__}")
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be an integer array: {err}") from None
    if arr.dtype.kind == "u" and arr.dtype.itemsize == 8 and arr.size:
        top = int(arr.max())
        if top >= 2**63:
            raise ValueError(_out_of_int64(name, top))
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64, copy=False)
    if arr.dtype.kind == "f":
        with np.errstate(invalid="ignore"):
            bad = ~np.isfinite(arr) | (np.abs(arr) >= _INT64_LIMIT)
        if bad.any():
            raise ValueError(_out_of_int64(name, float(arr[bad].flat[0])))
        frac = arr != np.round(arr)
        if frac.any():
            raise ValueError(_non_integral(name, float(arr[frac].flat[0])))
        return arr.astype(np.int64)
    raise TypeError(f"{name} must be an integer array, got dtype {arr.dtype}")


def _out_of_int64(name: str, value: float | int) -> str:
    return f"{name} must hold integer indices within the int64 range, got the value {value!r}"


def _non_integral(name: str, value: float) -> str:
    return f"{name} must hold integer indices, got non-integral floats (for example {value!r})"


def numpy_readable(x: Any) -> bool:
    """Whether numpy can read the dense tensor ``x`` in place, for a fast reduction.

    True for CPU float16/32/64 tensors outside ``torch.compile``, except those with
    a lazy negation (``t.conj().imag``), which ``.numpy()`` refuses. numpy's
    reductions on that zero-copy view avoid torch's ``isfinite`` and ``aminmax``,
    which start their thread pool on every call (milliseconds on a busy machine).
    """
    import torch

    return (
        x.device.type == "cpu"
        and x.dtype in (torch.float32, torch.float64, torch.float16)
        and not x.is_neg()
        and not compiling()
    )


def check_finite(x: Any, name: str) -> None:
    """Raise ``ValueError`` naming ``name`` if ``x`` contains NaN or inf."""
    if is_torch(x):
        import torch

        check_dense(x, name)
        if numpy_readable(x):
            ok = bool(np.isfinite(x.detach().numpy()).all())
        else:
            ok = bool(torch.isfinite(x).all())
    else:
        ok = bool(np.isfinite(x).all())
    if not ok:
        raise ValueError(f"{name} must be finite, but it contains NaN or inf")


def check_vectors(z: Any, name: str = "z", *, finite: bool = True) -> Any:
    """Validate a batch of vectors of shape ``(..., D)``.

    Returns the floating array/tensor. Raises ``ValueError`` for a 0-d input,
    ``D == 0`` or (unless ``finite=False``, for callers that check finiteness
    themselves with :func:`finite_max_abs`) non-finite values.
    """
    z = as_float(z, name)
    if z.ndim < 1:
        raise ValueError(f"{name} must have shape (..., D) with at least one axis, got a scalar")
    if z.shape[-1] == 0:
        raise ValueError(f"{name} must have a non-empty last axis (D >= 1), got shape {_shape(z)}")
    if finite:
        check_finite(z, name)
    return z


def check_codebook(codebook: Any, name: str = "codebook") -> Any:
    """Validate a codebook of shape ``(K, D)`` with ``K >= 1`` and ``D >= 1``."""
    codebook = as_float(codebook, name)
    if codebook.ndim != 2:
        raise ValueError(f"{name} must have shape (K, D), got shape {_shape(codebook)}")
    if codebook.shape[0] == 0:
        raise ValueError(f"{name} is empty: it must have at least one codeword (K >= 1)")
    if codebook.shape[1] == 0:
        raise ValueError(f"{name} must have D >= 1 columns, got shape {_shape(codebook)}")
    check_finite(codebook, name)
    return codebook


def finite_max_abs(x: Any, name: str) -> float:
    """``max |x|`` as a Python float, after checking that ``x`` is finite.

    One pass for the maximum and one for the minimum (numpy's reductions on CPU
    tensors' memory; ``aminmax`` elsewhere); NaN propagates through both, so a
    finite result proves every value finite. 0.0 for an empty ``x``.

    Raises
    ------
    ValueError
        If ``x`` contains NaN or inf (the message names ``name``).
    """
    if is_torch(x):
        import torch

        check_dense(x, name)
        if x.numel() == 0:
            return 0.0
        x = x.detach()
        if numpy_readable(x):
            view = x.numpy()
            lo, hi = float(view.min()), float(view.max())
        else:
            mm = torch.aminmax(x)
            lo, hi = float(mm.min), float(mm.max)
    else:
        if x.size == 0:
            return 0.0
        lo, hi = float(np.min(x)), float(np.max(x))
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"{name} must be finite, but it contains NaN or inf")
    return max(hi, -lo)


def check_same_dim(z: Any, zname: str, codebook: Any, cbname: str) -> None:
    """Raise ``ValueError`` unless ``z.shape[-1] == codebook.shape[-1]``."""
    if z.shape[-1] != codebook.shape[-1]:
        raise ValueError(
            f"dimension mismatch: {zname} has last axis D={z.shape[-1]} but {cbname} "
            f"has D={codebook.shape[-1]} (shapes {_shape(z)} and {_shape(codebook)})"
        )


def common_float(a: Any, aname: str, b: Any, bname: str) -> tuple[Any, Any]:
    """Bring two floating arrays/tensors to their promoted common dtype.

    For torch tensors the devices must agree (``ValueError`` otherwise);
    nothing is moved between devices.
    """
    if is_torch(a):
        import torch

        if a.device != b.device:
            raise ValueError(
                f"{aname} is on device {a.device} but {bname} is on {b.device}; "
                "put them on the same device"
            )
        dt = torch.promote_types(a.dtype, b.dtype)
        return a.to(dt), b.to(dt)
    dt = np.result_type(a.dtype, b.dtype)
    return a.astype(dt, copy=False), b.astype(dt, copy=False)


def positive_int(value: Any, name: str, *, minimum: int = 1) -> int:
    """Return ``value`` as ``int`` after checking it is an integer ``>= minimum``.

    Raises
    ------
    TypeError
        If ``value`` is not an integer (bools and floats are rejected).
    ValueError
        If ``value < minimum``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if (
            is_torch(value)
            and value.ndim == 0
            and not value.is_floating_point()
            and not value.is_complex()
            and value.dtype != sys.modules["torch"].bool
        ):
            value = int(value)
        else:
            raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    value = int(value)
    if value < minimum:
        word = "positive" if minimum == 1 else f">= {minimum}"
        raise ValueError(f"{name} must be {word}, got {value}")
    return value


def finite_float(value: Any, name: str) -> float:
    """Return ``value`` as ``float`` after checking it is a finite real number."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


def nonnegative_float(value: Any, name: str) -> float:
    """Return ``value`` as ``float`` after checking it is a finite number ``>= 0``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value}")
    return value


def as_generator(seed: Any, name: str = "seed") -> np.random.Generator:
    """Turn ``None``, an ``int`` or a ``np.random.Generator`` into a Generator.

    A Generator is used as is (and advanced); an int gives a reproducible one.
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None:
        return np.random.default_rng()
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(
            f"{name} must be None, an int or a numpy.random.Generator, got {type(seed).__name__}"
        )
    if int(seed) < 0:
        raise ValueError(f"{name} must be non-negative, got {int(seed)}")
    return np.random.default_rng(int(seed))


def _shape(x: Any) -> tuple[int, ...]:
    return tuple(int(s) for s in x.shape)


class CallableModule(types.ModuleType):
    """A module that can also be called, forwarding to one of its functions.

    ``rvqlib.kmeans``, ``rvqlib.bitrate`` and ``rvqlib.fsq`` are each both a
    submodule and the name of a function in it. Binding the package attribute to
    the function (as a plain ``from rvqlib.kmeans import kmeans`` in ``__init__``
    does) makes ``import rvqlib.kmeans as km`` give the function instead of the
    module. With this class the attribute stays the module, and calling it calls
    the function of the same name, so ``rvqlib.kmeans(x, k)`` keeps working and
    ``rvqlib.kmeans.KMeans`` is the module's class.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return getattr(self, self.__name__.rsplit(".", 1)[1])(*args, **kwargs)


def make_callable(module_name: str) -> None:
    """Turn the module ``module_name`` into a :class:`CallableModule` (in place).

    Also gives it the function's signature, so ``inspect.signature`` and
    ``help`` show the arguments of the call.
    """
    import inspect

    module = sys.modules[module_name]
    module.__class__ = CallableModule
    func = getattr(module, module_name.rsplit(".", 1)[1])
    module.__signature__ = inspect.signature(func)  # type: ignore[attr-defined]
