"""The pool's connection protocol: both ends authenticate before anything is deserialised, then length-prefixed
pickled frames, each at most :data:`MAX_FRAME` bytes.

Authentication is a mutual HMAC-SHA256 challenge over fixed-size raw bytes (the scheme of
``multiprocessing.connection``'s ``authkey``, whose Python 3.11 version compares digests with ``==`` and cannot
time out a silent peer): the driver sends a random challenge; the slot answers with its digest of it and a challenge
of its own; the driver checks the digest with :func:`hmac.compare_digest`, closes the connection if it is wrong, and
answers the slot's challenge, which the slot checks in turn. The key never crosses the wire, and a stranger who
reaches the port gets nothing unpickled: the only bytes read before the check are the 64 of the answer.

Example:
    >>> key = new_key()
    >>> len(key)
    32
"""

from __future__ import annotations

import hmac
import pickle
import secrets
import socket
import struct
import threading
from collections.abc import Callable
from typing import Any

from sparksweep.errors import TrialError

__all__ = ["HANDSHAKE_TIMEOUT", "MAX_FRAME", "Channel", "WireError", "accept", "connect", "listen", "new_key"]

MAX_FRAME = 256 << 20
"""The largest frame either end sends or reads (256 MiB): a trial's task or result is far smaller."""
_HEADER = struct.Struct("!I")
_NONCE = 32
_DIGEST = 32  # sha256
HANDSHAKE_TIMEOUT = 5.0
"""Seconds a peer has to authenticate once connected."""


class WireError(TrialError, ConnectionError):
    """The pool's connection failed its protocol: a peer that did not authenticate, or an oversized frame (a
    ``ConnectionError`` too: the connection is unusable)."""


def new_key() -> bytes:
    """A random key for one pool: handed to its slots inside their Spark job, never sent over the connection."""
    return secrets.token_bytes(32)


def _digest(key: bytes, side: bytes, nonce: bytes) -> bytes:
    return hmac.new(key, side + nonce, "sha256").digest()


def _no_delay(sock: socket.socket) -> None:
    """Small messages go out at once (the worker's "started" and "result" follow each other; Nagle's algorithm
    would hold the second until the first is acknowledged)."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class Channel:
    """One authenticated connection: pickled messages in frames of at most :data:`MAX_FRAME` bytes.

    :meth:`send` may be called from several threads; :meth:`recv` from one.
    """

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._sending = threading.Lock()

    def send(self, message: Any) -> None:
        from pyspark import cloudpickle

        self.send_bytes(cloudpickle.dumps(message))  # type: ignore[no-untyped-call]

    def send_bytes(self, payload: bytes) -> None:
        if len(payload) > MAX_FRAME:
            raise WireError(
                f"a message of {len(payload)} bytes is over the {MAX_FRAME >> 20} MiB limit of the pool's connection; "
                "keep what a trial returns small (log large outputs as artifacts of its run)"
            )
        with self._sending:
            self.sock.sendall(_HEADER.pack(len(payload)) + payload)

    def recv_bytes(self) -> bytes:
        """The next frame; raises :class:`WireError` before reading one that claims more than the limit."""
        (size,) = _HEADER.unpack(self.read_exact(_HEADER.size))
        if size > MAX_FRAME:
            raise WireError(
                f"the other end sent a frame of {size} bytes, over the {MAX_FRAME >> 20} MiB limit of the pool's "
                "connection; the connection is closed"
            )
        return self.read_exact(size)

    def recv(self) -> Any:
        return pickle.loads(self.recv_bytes())  # an authenticated peer: one of this pool's slots, or its driver

    def read_exact(self, n: int) -> bytes:
        chunks = bytearray()
        while len(chunks) < n:
            chunk = self.sock.recv(min(n - len(chunks), 1 << 20))
            if not chunk:
                raise ConnectionError("the other end closed the connection")
            chunks.extend(chunk)
        return bytes(chunks)

    def shutdown(self) -> None:
        """Stop both directions now (wakes a thread blocked in :meth:`recv`, on either end); idempotent."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:  # closed already, by either end: nothing left to stop
            return

    def close(self) -> None:
        self.sock.close()


def listen(host: str) -> socket.socket:
    """A listening socket on ``host`` (a free port), polled once a second so that closing it is seen."""
    server = socket.create_server((host, 0))
    server.settimeout(1.0)
    return server


def _authenticated(sock: socket.socket, prove: Callable[[Channel], None], refused: str) -> Channel:
    """``sock`` as a channel once ``prove`` (one side of the handshake) passed in time; closed if it did not.

    Raises:
        WireError: ``prove`` failed (``refused`` says what was refused, with why).
    """
    channel = Channel(sock)
    sock.settimeout(HANDSHAKE_TIMEOUT)
    try:
        prove(channel)
    except OSError as exc:  # a WireError, or the peer closed or timed out
        sock.close()
        raise exc if isinstance(exc, WireError) else WireError(f"{refused}: {exc}") from exc
    sock.settimeout(None)
    _no_delay(sock)
    return channel


def accept(sock: socket.socket, key: bytes) -> Channel:
    """The driver's end of a connection just accepted, once the peer proved it holds ``key`` (closed otherwise).

    Raises:
        WireError: the peer did not answer the challenge with ``key`` in time.
    """

    def prove(channel: Channel) -> None:
        challenge = secrets.token_bytes(_NONCE)
        sock.sendall(challenge)
        answer = channel.read_exact(_DIGEST + _NONCE)
        if not hmac.compare_digest(answer[:_DIGEST], _digest(key, b"slot", challenge)):
            raise WireError("a connection to the pool's driver port did not authenticate; it is closed")
        sock.sendall(_digest(key, b"driver", answer[_DIGEST:]))

    return _authenticated(sock, prove, "a connection to the pool's driver port did not authenticate")


def connect(host: str, port: int, key: bytes, timeout: float) -> Channel:
    """A slot's connection to its driver at ``host:port``, once both proved they hold ``key``.

    Raises:
        WireError: the driver refused ``key``, or the other end is not this pool's driver.
        OSError: the driver could not be reached within ``timeout`` seconds.
    """

    def prove(channel: Channel) -> None:
        challenge = channel.read_exact(_NONCE)
        ours = secrets.token_bytes(_NONCE)
        channel.sock.sendall(_digest(key, b"slot", challenge) + ours)
        if not hmac.compare_digest(channel.read_exact(_DIGEST), _digest(key, b"driver", ours)):
            raise WireError(f"{host}:{port} is not this pool's driver: it did not authenticate")

    sock = socket.create_connection((host, port), timeout=timeout)
    return _authenticated(sock, prove, f"the pool's driver at {host}:{port} refused to authenticate this slot")
