"""The wire format between the grader and the sandbox: plain data in, plain data out, never more than was sent."""

from __future__ import annotations

import json
import math
import socket
import struct

import pytest
import torch
from safetensors.torch import save

from autograder.kernel import protocol


def round_trip(value: object) -> object:
    left, right = socket.socketpair()
    with left, right:
        tensors: dict[str, torch.Tensor] = {}
        protocol.send(left, {"value": protocol.encode(value, tensors)}, tensors)
        message, received = protocol.recv(right)
    return protocol.decode(message["value"], received)


def test_plain_values_and_tensors_cross_unchanged() -> None:
    x = torch.randn(3, 4, dtype=torch.float64)
    value = round_trip((x, x.T, torch.tensor(2), torch.zeros(0), [1, 2.5, None, "s", True], {"k": math.inf}))
    assert torch.equal(value[0], x) and torch.equal(value[1], x.T) and value[1].is_contiguous()
    assert value[2].dtype == torch.int64 and value[3].shape == (0,)
    assert value[4] == [1, 2.5, None, "s", True] and value[5] == {"k": math.inf}


def test_requires_grad_crosses_as_a_flag_of_a_fresh_leaf() -> None:
    (back,) = round_trip((torch.ones(2, requires_grad=True),))
    assert back.requires_grad and back.is_leaf


@pytest.mark.parametrize("odd", [torch.nn.Parameter(torch.ones(2)), torch.ones(2, dtype=torch.complex64),
                                 torch.ones(2).to_sparse(), object()])
def test_anything_but_a_plain_tensor_crosses_as_an_opaque_stand_in(odd: object) -> None:
    back = round_trip(odd)
    assert isinstance(back, protocol.Opaque) and back.type_name == type(odd).__name__


def _frame(message: dict, blob: bytes) -> bytes:
    header = json.dumps(message).encode()
    return struct.pack(">II", len(header), len(blob)) + header + blob


def test_a_forged_layout_cannot_unpack_to_more_than_the_frame_carries() -> None:
    """Many keys over one region would multiply the grader's memory: regions must follow one another."""
    blob = save({"float32": torch.zeros(1024)})
    layout = {f"t{i}": ["float32", 0, [1024]] for i in range(32)}
    left, right = socket.socketpair()
    with left, right:
        left.sendall(_frame({"$tensors": layout}, blob))
        with pytest.raises(ValueError, match="over another"):
            protocol.recv(right)


def test_a_frame_larger_than_the_limit_is_refused_before_it_is_read() -> None:
    left, right = socket.socketpair()
    with left, right:
        left.sendall(struct.pack(">II", protocol.MAX_HEADER + 1, 0))
        with pytest.raises(protocol.FrameTooLarge):
            protocol.recv(right)


def test_unknown_markers_are_rejected() -> None:
    with pytest.raises(ValueError):
        protocol.decode({"$pickle": "..."}, {})
