"""Engine tensors checked against the bundle graph before buffers are bound (no TensorRT)."""

from __future__ import annotations

import pytest

from vsseg_core.bundle import Bundle
from vsseg_core.runtime.base import BackendError
from vsseg_core.runtime.engine_bindings import TensorDesc, check_bindings


@pytest.fixture(scope="module")
def high():
    return Bundle.load().graph("high")


def _tensors(spec) -> list[TensorDesc]:
    return ([TensorDesc(n, True, s, "float32") for n, s in spec.inputs.items()]
            + [TensorDesc(n, False, s, "float32") for n, s in spec.outputs.items()])


def test_matching_engine_passes(high) -> None:
    check_bindings(high, _tensors(high), engine="e.engine")


def test_every_difference_is_named_at_once(high) -> None:
    tensors = _tensors(high)
    low, deep, logits = tensors
    broken = [TensorDesc(low.name, True, (-1, *low.shape[1:]), "float16"),  # dynamic + fp16
              TensorDesc(deep.name, True, deep.shape, "float32"),           # wrong direction
              TensorDesc("scores", False, logits.shape, "float32")]         # renamed output
    with pytest.raises(BackendError) as error:
        check_bindings(high, broken, engine="old.engine")
    message = str(error.value)
    for part in ("old.engine", "graph 'high'", "input 'low' has shape (-1, 24, 64, 128)",
                 "input 'low' is float16", "'deep' is an input", "output 'logits' is missing",
                 "tensors ['scores'] are not in the bundle", "--force-rebuild"):
        assert part in message, (part, message)


def test_duplicate_names(high) -> None:
    tensors = _tensors(high)
    with pytest.raises(BackendError, match="twice"):
        check_bindings(high, [*tensors, tensors[0]], engine="e")
