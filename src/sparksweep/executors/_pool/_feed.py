"""The driver's ends of the slots' connections: the port that admits a slot once it has authenticated, a feeder per
slot that hands it its next trial as soon as it has computed the last, and a listener per slot that resolves its
trials' futures from what it reports."""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from sparksweep.executors._pool._link import Link
from sparksweep.executors._pool._wire import WireError, accept

if TYPE_CHECKING:
    import socket

    from sparksweep.executors._pool._slots import TrialQueue

__all__ = ["Feed"]

_LOG = logging.getLogger(__name__)


class Feed:
    """Admits the slots that connect to ``server`` and feeds them the trials of ``trials``.

    ``admit(slot)`` is asked under ``lock`` whether a slot that connected is welcome (False: the pool closes);
    ``requeued()`` is called when a trial went back to the queue because its slot went away first.
    """

    def __init__(
        self,
        server: socket.socket,
        key: bytes,
        lock: threading.Condition,
        trials: TrialQueue,
        admit: Callable[[int], bool],
        requeued: Callable[[], None],
    ) -> None:
        self.server = server
        self._key = key
        self.lock = lock
        self.trials = trials
        self._admit = admit
        self._requeued = requeued
        self.links: list[Link] = []
        self.closing = False

    def start(self) -> None:
        threading.Thread(target=self._accept, name="sparksweep-pool-accept", daemon=True).start()

    def _accept(self) -> None:
        while not self.closing:
            try:
                sock, _ = self.server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._greet, args=(sock,), name="sparksweep-pool-greet", daemon=True).start()

    def _greet(self, sock: socket.socket) -> None:
        """Authenticate a new connection (nothing it sends is unpickled before), then read the slot's hello."""
        try:
            channel = accept(sock, self._key)
        except WireError as exc:
            _LOG.warning("sparksweep pool: %s", exc)
            return
        try:
            hello = channel.recv()
            slot = int(hello[1]) if hello[0] == "hello" else None
        except (OSError, EOFError, TypeError, ValueError, IndexError):
            slot = None
        if slot is None:
            channel.close()
            return
        link = Link(slot=slot, channel=channel)
        with self.lock:
            if self.closing or not self._admit(slot):
                channel.close()
                return
            self.links.append(link)
        self._feed(link)

    def _feed(self, link: Link) -> None:
        """Hand trials to one slot: the next one as soon as the slot has computed its last (its results are recorded
        meanwhile, and reported to :meth:`_listen`)."""
        threading.Thread(target=self._listen, args=(link,), name=f"sparksweep-listen-{link.slot}", daemon=True).start()
        link.free.set()
        while True:
            link.free.wait()
            if link.closed:
                return
            item = self.trials.get()
            if item is None:
                try:  # a slot already gone has nothing left to stop
                    link.channel.send(("stop",))
                except OSError:
                    return
                return
            task, future = item
            with self.lock:
                if link.closed:  # the slot went away while this thread waited for work: another slot takes it
                    self.trials.put(item)
                    break
                if not self.trials.claim(item):
                    continue  # cancelled while queued: the engine records it
                link.send_trial(task.number, future)
            try:
                link.channel.send(("trial", dataclasses.replace(task, slot=link.slot)))  # its run's tag
            except OSError:
                return  # the listener fails the trial (its connection is gone)
        self._requeued()

    def _listen(self, link: Link) -> None:
        """Read one slot's messages and resolve its trials' futures; fail the ones left when the slot goes."""
        error: BaseException | None = None
        try:
            while True:
                message = link.channel.recv()
                with self.lock:
                    finished = link.on_message(message)
                    if finished is not None:
                        self.lock.notify_all()
                if finished is not None:
                    Link.resolve(*finished)
        except (OSError, EOFError) as exc:
            error = exc
        finally:
            with self.lock:
                lost = link.close()
                self.links.remove(link)
                self.lock.notify_all()
            link.free.set()  # wakes the feeder, which ends
            link.channel.close()
            Link.fail_lost(lost, error)

    def busy(self) -> list[Link]:
        """The links whose slot computes a trial."""
        with self.lock:
            return [link for link in self.links if link.computing is not None]

    def computing(self, number: int) -> Link | None:
        """The link whose slot computes trial ``number`` (call under the lock)."""
        return next((link for link in self.links if link.computing == number), None)

    def holds(self, number: int) -> bool:
        """Whether a slot was sent trial ``number`` and has not reported its result (call under the lock)."""
        return any(number in link.flights for link in self.links)
