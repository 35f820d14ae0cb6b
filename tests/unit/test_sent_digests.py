"""Snapshots are published on change only (agents/sent_digests.py)."""

from __future__ import annotations

from agents.sent_digests import SentDigests


def test_a_value_is_sent_when_it_differs_from_the_last_sent_for_its_key() -> None:
    sent = SentDigests()
    assert sent.changed("rep:a", b'{"kpis": 1}')
    assert not sent.changed("rep:a", b'{"kpis": 1}')
    assert sent.changed("rep:b", b'{"kpis": 1}')  # keys are apart
    assert sent.changed("rep:a", b'{"kpis": 2}')
    assert sent.changed("rep:a", b'{"kpis": 1}')  # back to an earlier value: a change
    assert not sent.changed("rep:a", b'{"kpis": 1}')
