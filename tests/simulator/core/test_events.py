"""The journal: numbering, retention and the per-command batch."""

from __future__ import annotations

from simulator.core.events import BalanceChanged, Journal


def _event(i: int) -> BalanceChanged:
    return BalanceChanged(i, "u", 0, 1, i, "deposit")


def test_journal_keeps_the_newest_events_and_keeps_counting():
    journal = Journal(retain=8)

    seqs = [journal.append(_event(i)) for i in range(30)]

    kept = journal.since(0)
    assert seqs == list(range(1, 31))
    assert journal.last_seq == 30
    assert [seq for seq, _ in kept] == list(range(kept[0][0], 31))
    assert 8 <= len(kept) <= 11
    assert [seq for seq, _ in journal.since(27)] == [28, 29, 30]


def test_journal_tells_the_first_retained_seq_and_what_it_dropped():
    journal = Journal(retain=8)
    assert (journal.first_seq, journal.dropped_after(0)) == (1, False)

    for i in range(30):
        journal.append(_event(i))

    first = journal.since(0)[0][0]
    assert journal.first_seq == first > 1
    assert journal.dropped_after(0) and journal.dropped_after(first - 2)
    assert not journal.dropped_after(first - 1) and not journal.dropped_after(30)


def test_a_batch_keeps_every_event_of_a_command_even_past_retention():
    journal = Journal(retain=8)
    journal.append(_event(0))

    journal.start_batch(collect=True)
    for i in range(1, 41):
        journal.append(_event(i))
    batch = journal.end_batch()

    assert [seq for seq, _ in batch] == list(range(2, 42))
    assert [event.ts_ms for _, event in batch] == list(range(1, 41))
    assert journal.end_batch() == []


def test_a_batch_that_does_not_collect_is_empty():
    journal = Journal()
    journal.start_batch(collect=False)
    journal.append(_event(1))
    assert journal.end_batch() == []
    assert journal.last_seq == 1
