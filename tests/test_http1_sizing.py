"""How many connections a provider's pace makes worth having (channels/http1_sizing.py)."""
from __future__ import annotations

from channels.http1_sizing import GAIN, RATE_PERIOD_S, WINDOW_S, PoolSizer


def feed(sizer: PoolSizer, *, start: float, seconds: float, per_s: float, round_trip: float) -> float:
    """Answers at a steady rate, each `round_trip` after its request; returns when the last came."""
    now = start
    for _ in range(int(seconds * per_s)):
        now += 1 / per_s
        sizer.answered(round_trip, now)
    return now


def test_a_provider_answering_at_once_is_worth_no_more_than_the_floor() -> None:
    sizer = PoolSizer(floor=4)
    feed(sizer, start=0.0, seconds=2, per_s=2_000, round_trip=0.0005)  # 2,000/s x 0.5 ms = 1 in flight
    assert sizer.worth == 4


def test_a_slow_provider_is_worth_as_many_connections_as_its_delay_keeps_busy() -> None:
    sizer = PoolSizer(floor=4)
    feed(sizer, start=0.0, seconds=2, per_s=1_000, round_trip=0.1)  # 1,000/s x 100 ms = 100 in flight
    assert GAIN * 100 <= sizer.worth <= GAIN * 100 + 1
    assert sizer.fastest_round_trip == 0.1 and round(sizer.answers_per_s) == 1_000


def test_nothing_is_known_before_the_first_answers() -> None:
    sizer = PoolSizer(floor=4)
    assert sizer.worth == 4 and sizer.fastest_round_trip is None and sizer.answers_per_s == 0
    sizer.answered(0.1, 0.1 + RATE_PERIOD_S / 2)
    assert sizer.worth == 4  # one answer is no rate yet


def test_a_provider_that_became_slower_for_good_is_judged_by_its_new_pace() -> None:
    sizer = PoolSizer(floor=4)
    now = feed(sizer, start=0.0, seconds=2, per_s=1_000, round_trip=0.01)
    assert GAIN * 10 <= sizer.worth <= GAIN * 10 + 1
    feed(sizer, start=now, seconds=2.5 * WINDOW_S, per_s=200, round_trip=0.5)  # fast answers forgotten
    assert sizer.fastest_round_trip == 0.5
    assert GAIN * 100 <= sizer.worth <= GAIN * 100 + 1  # 200/s (the old rate forgotten too) x 500 ms
