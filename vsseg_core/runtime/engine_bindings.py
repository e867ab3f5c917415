"""Checking an engine's input/output tensors against the bundle graph it was built from.

An engine loaded from a cache, or built by a different TensorRT, must expose exactly the
bundle's named static-shape float32 tensors before buffers are bound to them; anything else
(a renamed output, a dynamic dimension, a half-precision input) is reported all at once.
No TensorRT import here: the backend turns its engine into ``TensorDesc`` values first.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from vsseg_core.bundle import GraphSpec
from vsseg_core.runtime.base import BackendError


@dataclass(frozen=True)
class TensorDesc:
    """One engine I/O tensor: ``shape`` in elements (-1 for a dynamic dimension), ``dtype`` a
    numpy-style name ("float32", "float16", ...)."""

    name: str
    is_input: bool
    shape: tuple[int, ...]
    dtype: str


def check_bindings(spec: GraphSpec, tensors: Iterable[TensorDesc], *, engine: str) -> None:
    """Raise BackendError naming every difference between ``tensors`` and ``spec``'s inputs and
    outputs (names, direction, shapes, float32); ``engine`` names the engine in the message."""
    tensors = list(tensors)
    problems = []
    by_name = {t.name: t for t in tensors}
    if len(by_name) != len(tensors):
        problems.append("it lists a tensor name twice")
    for is_input, expected in ((True, spec.inputs), (False, spec.outputs)):
        role = "input" if is_input else "output"
        for name, shape in expected.items():
            tensor = by_name.get(name)
            if tensor is None:
                problems.append(f"{role} {name!r} is missing")
                continue
            if tensor.is_input != is_input:
                problems.append(f"{name!r} is an {'input' if tensor.is_input else 'output'}, "
                                f"the bundle has it as an {role}")
            if tensor.shape != tuple(shape):
                problems.append(f"{role} {name!r} has shape {tensor.shape}, the bundle {tuple(shape)}")
            if tensor.dtype != "float32":
                problems.append(f"{role} {name!r} is {tensor.dtype}, not float32")
    extra = sorted(set(by_name) - set(spec.inputs) - set(spec.outputs))
    if extra:
        problems.append(f"tensors {extra} are not in the bundle")
    if problems:
        raise BackendError(f"engine {engine} does not match graph {spec.name!r} of the bundle: "
                           + "; ".join(problems) + ". Rebuild it with `vsseg build-engine "
                           "--force-rebuild` (or delete the file)")
