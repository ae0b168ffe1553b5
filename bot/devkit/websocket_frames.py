"""RFC 6455 by hand: the opening handshake's key and head, and frames, for the Socket Mode double.

Apart from the double so that its tests can speak the same wire format from a raw socket
(to do what slack_sdk's client never does: reuse a ticket, ignore a disconnect) and so that
the double reads as protocol decisions, not bit twiddling. Standard library only: the double
must run wherever the tests run, with nothing to install.
"""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import struct
from dataclasses import dataclass
from enum import IntEnum

# RFC 6455 §1.3: the GUID every server appends to the client's key.
_ACCEPT_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
# Larger heads are not a WebSocket client's: refuse rather than buffer without end.
MAX_HEAD_BYTES = 16384


class Opcode(IntEnum):
    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA


class ProtocolError(Exception):
    """The peer broke RFC 6455: the connection is closed with status 1002."""


@dataclass(frozen=True, slots=True)
class Frame:
    opcode: int
    payload: bytes
    fin: bool = True
    masked: bool = False


def accept_key(key: str) -> str:
    """The Sec-WebSocket-Accept answering a client's Sec-WebSocket-Key."""
    digest = hashlib.sha1((key.strip() + _ACCEPT_GUID).encode()).digest()
    return base64.b64encode(digest).decode()


def new_key() -> str:
    """A client's Sec-WebSocket-Key: 16 random bytes, base64."""
    return base64.b64encode(os.urandom(16)).decode()


def encode_frame(opcode: int, payload: bytes = b"", *, mask: bytes | None = None, fin: bool = True) -> bytes:
    """One frame. Servers send unmasked frames; a client must give a 4-byte ``mask``."""
    first = (0x80 if fin else 0) | opcode
    mask_bit = 0x80 if mask is not None else 0
    length = len(payload)
    if length < 126:
        head = struct.pack("!BB", first, mask_bit | length)
    elif length < 1 << 16:
        head = struct.pack("!BBH", first, mask_bit | 126, length)
    else:
        head = struct.pack("!BBQ", first, mask_bit | 127, length)
    if mask is None:
        return head + payload
    if len(mask) != 4:
        raise ValueError("a mask is 4 bytes")
    return head + mask + _unmask(payload, mask)


def close_payload(code: int, reason: str = "") -> bytes:
    """The body of a close frame: a 2-byte status code, then a UTF-8 reason."""
    return struct.pack("!H", code) + reason.encode()


def close_code(payload: bytes) -> int | None:
    """The status code of a received close frame (None when it carries none, RFC's 1005)."""
    return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None


def _unmask(data: bytes, mask: bytes) -> bytes:
    """XOR with the repeated mask (the same operation masks and unmasks), a word at a time."""
    if not data:
        return data
    repeated = (mask * (len(data) // 4 + 1))[: len(data)]
    return (int.from_bytes(data, "big") ^ int.from_bytes(repeated, "big")).to_bytes(len(data), "big")


def read_head(sock: socket.socket) -> tuple[bytes, bytes] | None:
    """An HTTP head up to its blank line, and any bytes read past it; None if the peer hung up first."""
    data = b""
    while b"\r\n\r\n" not in data:
        if len(data) > MAX_HEAD_BYTES:
            raise ProtocolError("HTTP head too large")
        chunk = sock.recv(4096)
        if not chunk:
            return None
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def parse_head(head: bytes) -> tuple[str, dict[str, str]]:
    """The first line and the headers (names lower-cased) of an HTTP head."""
    first, *lines = head.decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    for line in lines:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return first, headers


class FrameReader:
    """Reads whole frames from a socket, keeping what a recv returned past the current one."""

    def __init__(self, sock: socket.socket, buffered: bytes = b"") -> None:
        self._sock = sock
        self._buffer = bytearray(buffered)

    def read(self) -> Frame | None:
        """The next frame, unmasked; None when the peer closed the TCP connection."""
        head = self._take(2)
        if head is None:
            return None
        first, second = head
        if first & 0x70:
            raise ProtocolError("reserved bits set without an extension")
        opcode, fin = first & 0x0F, bool(first & 0x80)
        if opcode not in Opcode.__members__.values():
            raise ProtocolError(f"unknown opcode {opcode:#x}")
        masked, length = bool(second & 0x80), second & 0x7F
        if opcode >= Opcode.CLOSE and (length > 125 or not fin):
            raise ProtocolError("control frames are short and never fragmented")
        if length >= 126:
            extended = self._take(2 if length == 126 else 8)
            if extended is None:
                return None
            length = int.from_bytes(extended, "big")
        mask = self._take(4) if masked else b""
        payload = self._take(length)
        if mask is None or payload is None:
            return None
        return Frame(opcode, _unmask(payload, mask) if masked else payload, fin=fin, masked=masked)

    def _take(self, count: int) -> bytes | None:
        while len(self._buffer) < count:
            chunk = self._sock.recv(max(4096, count - len(self._buffer)))
            if not chunk:
                return None
            self._buffer += chunk
        taken = bytes(self._buffer[:count])
        del self._buffer[:count]
        return taken
