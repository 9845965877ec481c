"""The driver's view of one slot's connection: the trials it was sent, the one it computes, and how each message
the slot sends resolves a trial's futures."""

from __future__ import annotations

import threading
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from sparksweep.errors import TrialLostError

if TYPE_CHECKING:
    from sparksweep.executors._pool._wire import Channel
    from sparksweep.trial import TrialResult

__all__ = ["Flight", "Link", "TrialFuture"]


class TrialFuture(Future["TrialResult"]):
    """A trial's future, with a second one that resolves when its slot has computed it (and records it while it
    takes the next trial)."""

    def __init__(self) -> None:
        super().__init__()
        self.computed: Future[float | None] = Future()
        """Resolves to the trial's value as computed (None: failed or pruned) when its slot is free again."""

    def free_slot(self, value: float | None) -> None:
        if not self.computed.done():
            self.computed.set_result(value)

    def lose(self, error: TrialLostError) -> None:
        """The trial will not report back: its slot is free and its future fails with ``error``."""
        self.free_slot(None)
        if not self.done():
            self.set_exception(error)


@dataclass(eq=False)
class Flight:
    """A trial sent to a slot that has not reported its result yet."""

    number: int
    future: TrialFuture
    run_id: str | None = None
    draft: TrialResult | None = None
    """The result as the slot computed it, while the slot records it (see :meth:`Link.fail_lost`)."""


@dataclass(eq=False)
class Link:
    """A slot's connection as the driver sees it: the trial it computes and the one it records.

    Its state changes under the pool's lock (held by the callers of :meth:`send_trial`, :meth:`on_message` and
    :meth:`close`); futures are resolved outside it, by :meth:`resolve`.
    """

    slot: int
    channel: Channel
    flights: dict[int, Flight] = field(default_factory=dict)
    computing: int | None = None
    """The trial the slot computes (it gets the next one once this one is computed)."""
    free: threading.Event = field(default_factory=threading.Event)
    closed: bool = False

    def recording(self) -> list[Flight]:
        return [f for n, f in self.flights.items() if n != self.computing]

    def send_trial(self, number: int, future: TrialFuture) -> None:
        """Note trial ``number`` as sent (the caller sends it, outside the lock)."""
        self.flights[number] = Flight(number, future)
        self.computing = number
        self.free.clear()

    def on_message(self, message: Any) -> tuple[Flight, Any] | None:
        """Apply one message of the slot; returns the finished flight and its message when a trial ended (a
        result or an error), for :meth:`resolve`."""
        kind, number = message[0], int(message[1])
        flight = self.flights.get(number)
        if flight is None:
            return None  # a trial already failed by a cancellation
        if kind == "started":
            flight.run_id = str(message[2])
            return None
        if self.computing == number:
            self.computing = None
            self.free.set()
        if kind == "computed":
            flight.future.free_slot(message[2])
            flight.draft = message[3] if len(message) > 3 else None
            return None
        del self.flights[number]
        return flight, message

    @staticmethod
    def resolve(flight: Flight, message: Any) -> None:
        """Resolve a finished trial's future from the slot's "result" or "error" message."""
        if message[0] == "result":
            flight.future.free_slot(message[2].value)
            flight.future.set_result(message[2])
            return
        flight.future.lose(
            TrialLostError(f"trial {flight.number} could not be run or recorded:\n{message[2]}", run_id=flight.run_id)
        )

    def close(self) -> list[Flight]:
        """Mark the connection closed; returns the trials it leaves without a result (see :meth:`fail_lost`)."""
        self.closed = True
        lost = list(self.flights.values())
        self.flights.clear()
        self.computing = None
        return lost

    @staticmethod
    def fail_lost(lost: list[Flight], error: BaseException | None) -> None:
        """Fail the trials a slot's connection left without a result, but one the slot had computed and was still
        recording: its future gets the result as computed (``recorded`` False), which the engine records."""
        for flight in lost:
            if flight.draft is not None:
                flight.future.free_slot(flight.draft.value)
                if not flight.future.done():
                    flight.future.set_result(replace(flight.draft, run_id=flight.run_id or flight.draft.run_id))
                continue
            why = (
                f"the Python worker running trial {flight.number} exited unexpectedly (killed, e.g. by the "
                f"out-of-memory killer, or crashed): its connection to the driver ended ({error})"
            )
            flight.future.lose(TrialLostError(why, run_id=flight.run_id))
