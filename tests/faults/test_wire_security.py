"""The pool executor's driver port lets in its own slots only: nothing a stranger sends is deserialised, a wrong key
is refused, and no frame may claim more than the size limit."""

from __future__ import annotations

import pickle
import socket
import struct
import time
from pathlib import Path
from typing import Any

import pytest

from sparksweep.executors import SparkPoolExecutor

pytestmark = pytest.mark.spark


class _Planted:
    """Unpickling this creates a file: what an attacker's payload would do."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> Any:
        return (open, (str(self.path), "w"))


def _wait_for(condition: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return bool(condition())


def _closed_by_peer(sock: socket.socket, seconds: float) -> bool:
    """Whether the other end closes ``sock`` within ``seconds`` (whatever it sends first is read and dropped)."""
    sock.settimeout(seconds)
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            if not sock.recv(1 << 16):
                return True
    except TimeoutError:
        return False
    except OSError:  # reset by the peer
        return True
    return False


@pytest.fixture
def pool(spark: Any) -> Any:
    executor = SparkPoolExecutor(spark, parallelism=2)
    executor.prepare()
    assert _wait_for(lambda: len(executor._slots.connections) == 2, 60), "the pool's own slots did not connect"
    yield executor
    executor.shutdown()


def _frames(payload: bytes) -> list[bytes]:
    """``payload`` framed every way the port might read it: an 8-byte and a 4-byte length header."""
    return [struct.pack("!Q", len(payload)) + payload, struct.pack("!I", len(payload)) + payload]


@pytest.mark.parametrize("framing", [0, 1])
def test_a_pickle_sent_to_the_driver_port_is_never_unpickled(pool: Any, tmp_path: Path, framing: int) -> None:
    planted = tmp_path / "planted.txt"
    payload = pickle.dumps(("hello", _Planted(planted), 0))
    with socket.create_connection((pool._slots.host, pool._slots.port), timeout=5) as sock:
        sock.sendall(_frames(payload)[framing])
        assert _closed_by_peer(sock, 5.0), "the driver kept a connection that did not authenticate"
    time.sleep(0.2)
    assert not planted.exists(), "the driver unpickled what a stranger sent to its port"
    assert len(pool._slots.connections) == 2, "the stranger became a slot"


def test_a_client_with_the_wrong_key_is_refused(pool: Any) -> None:
    from sparksweep.executors._pool._wire import WireError, connect

    with pytest.raises(WireError, match="authenticat"):
        connect(pool._slots.host, pool._slots.port, key=b"not the key" * 3, timeout=5.0)
    assert len(pool._slots.connections) == 2


def test_an_oversized_frame_is_refused_at_the_driver_port(pool: Any) -> None:
    with socket.create_connection((pool._slots.host, pool._slots.port), timeout=5) as sock:
        sock.sendall(struct.pack("!Q", 1 << 40) + bytes(64))  # claims a terabyte
        assert _closed_by_peer(sock, 5.0), "the driver waited for a frame of 1 TiB"
    assert len(pool._slots.connections) == 2


def test_a_silent_peer_is_dropped_after_the_handshake_timeout(pool: Any) -> None:
    from sparksweep.executors._pool._wire import HANDSHAKE_TIMEOUT

    with socket.create_connection((pool._slots.host, pool._slots.port), timeout=5) as sock:
        sock.sendall(struct.pack("!Q", 1 << 40))  # a header, then nothing
        assert _closed_by_peer(sock, HANDSHAKE_TIMEOUT + 3.0), "the driver held a silent connection open"
    assert len(pool._slots.connections) == 2


def test_an_oversized_frame_is_refused_with_its_size_and_the_limit() -> None:
    from sparksweep.executors._pool._wire import Channel, WireError

    left, right = socket.socketpair()
    with left, right:
        right.sendall(struct.pack("!I", 1 << 31))
        with pytest.raises(WireError, match=r"2147483648 bytes.*256 MiB"):
            Channel(left).recv_bytes()


def test_both_ends_must_hold_the_key_and_messages_pass_once_they_do() -> None:
    from concurrent.futures import ThreadPoolExecutor

    from sparksweep.executors._pool import _wire

    key = _wire.new_key()
    server = _wire.listen("127.0.0.1")
    server.settimeout(10.0)
    port = server.getsockname()[1]

    def driver() -> Any:
        sock, _ = server.accept()
        return _wire.accept(sock, key)

    with server, ThreadPoolExecutor(1) as pool:
        accepted = pool.submit(driver)
        slot = _wire.connect("127.0.0.1", port, key, timeout=5.0)
        driver_end = accepted.result(timeout=10)
        slot.send(("hello", 7))
        assert driver_end.recv() == ("hello", 7)
        slot.close()
        driver_end.close()

        refused = pool.submit(driver)
        with pytest.raises(_wire.WireError, match="refused to authenticate"):
            _wire.connect("127.0.0.1", port, b"a wrong key", timeout=5.0)
        with pytest.raises(_wire.WireError, match="did not authenticate"):
            refused.result(timeout=10)
