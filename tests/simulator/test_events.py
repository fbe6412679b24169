"""The journal: numbering, retention and the subscription mechanism."""

from __future__ import annotations

from simulator.events import BalanceChanged, Journal


def test_journal_keeps_the_newest_events_and_keeps_counting():
    journal = Journal(retain=8)
    seen: list[int] = []
    journal.subscribe(lambda seq, _event: seen.append(seq))

    for i in range(30):
        journal.append(BalanceChanged(i, "u", 0, 1, i, "deposit"))

    kept = journal.since(0)
    assert journal.last_seq == 30
    assert [seq for seq, _ in kept] == list(range(kept[0][0], 31))
    assert 8 <= len(kept) <= 11
    assert seen == list(range(1, 31))
    assert [seq for seq, _ in journal.since(27)] == [28, 29, 30]


def test_unsubscribe_stops_delivery():
    journal = Journal()
    seen: list[int] = []
    unsubscribe = journal.subscribe(lambda seq, _event: seen.append(seq))

    journal.append(BalanceChanged(0, "u", 0, 1, 1, "deposit"))
    unsubscribe()
    journal.append(BalanceChanged(1, "u", 0, 1, 2, "deposit"))

    assert seen == [1]
