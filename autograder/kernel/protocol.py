"""The wire format between the trusted side and the sandbox: plain data only.

A message is one frame: an 8-byte header (two big-endian unsigned 32-bit lengths), a JSON document, and a
safetensors blob holding the tensors the document refers to (``{"$tensor": KEY}``). Neither part can run code
when it is read: the trusted side never unpickles anything that comes from the sandbox.

Values are encoded by :func:`encode` and decoded by :func:`decode`:

- ``None``, ``bool``, ``int``, ``float`` (NaN and infinities included), ``str``: as JSON;
- ``list`` and ``tuple``: ``{"$list": [...]}`` and ``{"$tuple": [...]}``; ``dict`` with ``str`` keys:
  ``{"$dict": {...}}``;
- a dense tensor of a dtype safetensors stores: ``{"$tensor": KEY, "requires_grad": bool}``;
- anything else: ``{"$opaque": {"type": NAME, "repr": TEXT}}``, decoded as an :class:`Opaque` stand-in.

Examples:
    >>> import torch
    >>> tensors = {}
    >>> data = encode((torch.ones(2), 1.5, None), tensors)
    >>> data
    {'$tuple': [{'$tensor': 't0', 'requires_grad': False}, 1.5, None]}
    >>> decode(data, tensors)
    (tensor([1., 1.]), 1.5, None)
"""

from __future__ import annotations

import json
import math
import socket
import struct
from typing import Any

import torch
from safetensors.torch import load as _load_tensors
from safetensors.torch import save as _save_tensors

__all__ = [
    "MAX_BLOB",
    "MAX_HEADER",
    "FrameTooLarge",
    "Opaque",
    "RemoteError",
    "decode",
    "encode",
    "recv",
    "send",
]

#: The largest JSON document and tensor blob a frame may carry; a larger one ends the conversation.
MAX_HEADER = 8 * 1024 * 1024
MAX_BLOB = 256 * 1024 * 1024
_LENGTHS = struct.Struct(">II")
_REPR_LIMIT = 2000


class FrameTooLarge(Exception):
    """A frame announced more bytes than :data:`MAX_HEADER` or :data:`MAX_BLOB`."""


class Opaque:
    """Stands for a value of the sandbox that is not plain data: its type name and a (shortened) repr."""

    def __init__(self, type_name: str, text: str) -> None:
        self.type_name, self.text = type_name, text

    def __repr__(self) -> str:
        return self.text


class RemoteError(Exception):
    """An exception raised by the student's code, rebuilt from its type name and message."""


def encode(value: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """Encode ``value`` as JSON-ready data, putting its tensors into ``tensors`` (key -> contiguous tensor)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int) and type(value) is int:
        return value
    if isinstance(value, float) and type(value) is float:
        return value
    if type(value) in (list, tuple):
        return {f"${type(value).__name__}": [encode(v, tensors) for v in value]}
    if type(value) is dict and all(type(k) is str for k in value):
        return {"$dict": {k: encode(v, tensors) for k, v in value.items()}}
    if type(value) is torch.Size:
        return {"$tuple": [int(v) for v in value]}
    if type(value) is torch.Tensor and value.layout == torch.strided and not value.is_complex():
        # Only a plain tensor: a subclass could run its own code (its detach, its __torch_function__) after the
        # student's call has returned, out of the detector's sight; it crosses as an opaque object.
        with torch._C.DisableTorchFunction():
            key = f"t{len(tensors)}"
            tensors[key] = torch.Tensor.detach(value).contiguous()
            return {"$tensor": key, "requires_grad": bool(value.requires_grad)}
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - the sandbox's objects may raise anything from __repr__
        text = "<unprintable>"
    return {"$opaque": {"type": str(type(value).__name__), "repr": text[:_REPR_LIMIT]}}


def decode(data: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """The inverse of :func:`encode`; unknown markers are rejected.

    Raises:
        ValueError: the data is not what :func:`encode` writes.
    """
    if data is None or isinstance(data, (bool, int, float, str)):
        return data
    if isinstance(data, dict) and len(data) in (1, 2):
        if "$tensor" in data:
            tensor = tensors[str(data["$tensor"])]
            return tensor.requires_grad_(True) if data.get("requires_grad") and tensor.is_floating_point() \
                else tensor
        if "$list" in data:
            return [decode(v, tensors) for v in data["$list"]]
        if "$tuple" in data:
            return tuple(decode(v, tensors) for v in data["$tuple"])
        if "$dict" in data:
            return {str(k): decode(v, tensors) for k, v in data["$dict"].items()}
        if "$ref" in data:  # an object the other side rebuilds (a module, an optimizer)
            return {"$ref": str(data["$ref"])}
        if "$opaque" in data:
            return Opaque(str(data["$opaque"].get("type", "object")), str(data["$opaque"].get("repr", ""))[:2000])
    raise ValueError(f"not an encoded value: {str(data)[:200]}")


def _pack(tensors: dict[str, torch.Tensor]) -> tuple[dict[str, list[Any]], bytes]:
    """Many small tensors as one flat tensor per dtype (safetensors pays per tensor): ``(layout, blob)``, the
    layout giving each key's ``[dtype, offset, shape]``."""
    layout: dict[str, list[Any]] = {}
    flats: dict[str, list[torch.Tensor]] = {}
    sizes: dict[str, int] = {}
    for key, tensor in tensors.items():
        dtype = str(tensor.dtype).removeprefix("torch.")
        layout[key] = [dtype, sizes.get(dtype, 0), list(tensor.shape)]
        flats.setdefault(dtype, []).append(tensor.reshape(-1))
        sizes[dtype] = sizes.get(dtype, 0) + tensor.numel()
    return layout, _save_tensors({dtype: torch.cat(parts) for dtype, parts in flats.items()})


def _unpack(layout: Any, blob: bytes) -> dict[str, torch.Tensor]:
    try:
        return _unpack_checked(layout, blob)
    except (TypeError, KeyError, IndexError, RuntimeError) as err:
        raise ValueError(f"a frame's tensors do not match its layout: {type(err).__name__}") from None


def _unpack_checked(layout: Any, blob: bytes) -> dict[str, torch.Tensor]:
    if not isinstance(layout, dict):
        raise ValueError("a frame's tensor layout must be an object")
    flats = _load_tensors(blob) if blob else {}
    tensors = {}
    ends: dict[str, int] = {}
    for key, (dtype, offset, shape) in layout.items():
        flat = flats[str(dtype)]
        size = math.prod(int(n) for n in shape)
        # Regions follow one another without overlap, as _pack lays them out: a frame can never unpack to more
        # than it carries.
        if int(offset) != ends.get(str(dtype), 0) or int(offset) + size > flat.numel() or min(shape, default=0) < 0:
            raise ValueError(f"tensor {key} lies outside the frame or over another")
        ends[str(dtype)] = int(offset) + size
        tensors[str(key)] = flat[int(offset): int(offset) + size].reshape([int(n) for n in shape]).clone()
    return tensors


def send(sock: socket.socket, message: dict[str, Any], tensors: dict[str, torch.Tensor] | None = None) -> None:
    """Send one frame: ``message`` as JSON, and ``tensors`` as safetensors."""
    blob = b""
    if tensors:
        message = {**message, "$tensors": None}
        message["$tensors"], blob = _pack(tensors)
    header = json.dumps(message, allow_nan=True).encode()
    sock.sendall(_LENGTHS.pack(len(header), len(blob)) + header + blob)


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    chunks, remaining = [], size
    while remaining:
        chunk = sock.recv(min(remaining, 1 << 20))
        if not chunk:
            raise EOFError("the other side closed the connection")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def recv(sock: socket.socket) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Receive one frame: ``(message, tensors)``.

    Raises:
        EOFError: the connection closed.
        FrameTooLarge: the frame is larger than the limits.
        ValueError: the frame is not JSON and safetensors.
    """
    header_size, blob_size = _LENGTHS.unpack(_recv_exactly(sock, _LENGTHS.size))
    if header_size > MAX_HEADER or blob_size > MAX_BLOB:
        raise FrameTooLarge(f"a message of {header_size + blob_size} bytes")
    message = json.loads(_recv_exactly(sock, header_size))
    if not isinstance(message, dict):
        raise ValueError("a message must be a JSON object")
    blob = _recv_exactly(sock, blob_size) if blob_size else b""
    return message, _unpack(message.pop("$tensors", {}) or {}, blob)
