"""An in-memory sink for testing source drivers without the collector's batch writer: it
keeps what a driver hands over, in order, and plays the stored state back."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from django.utils import timezone

from trials.collector.base import Gap, Reading


class MemorySink:
    def __init__(
        self,
        equipment_id: int,
        held_since: datetime | None = None,
        last_held: datetime | None = None,
        state: dict | None = None,
    ):
        self.equipment_id = equipment_id
        self.readings: list[Reading] = []
        self.gaps: list[Gap] = []
        self._state: dict = dict(state or {})
        self._held_since = held_since or timezone.now()
        self._last_held = last_held

    def write(
        self,
        readings: Sequence[Reading],
        *,
        state: dict | None = None,
        on_stored: Callable[[], None] | None = None,
    ) -> None:
        self.readings.extend(readings)
        if state is not None:
            self._state = dict(state)
        if on_stored is not None:
            on_stored()

    def caught_up(self, moment: datetime) -> None:
        self.caught_up_to = max(moment, getattr(self, "caught_up_to", moment))

    def gap(self, gap: Gap) -> None:
        self.gaps.append(gap)

    def state(self) -> dict:
        return self._state

    def held_since(self) -> datetime:
        return self._held_since

    def last_held(self) -> datetime | None:
        return self._last_held
