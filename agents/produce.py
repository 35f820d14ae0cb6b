"""Produce the sample event stream into the input topics at a steady rate."""

from __future__ import annotations

import itertools
import time

from kafka import KafkaProducer

from agents.kafka_config import kafka_python_security
from agents.sample_events import sample_records
from agents.settings import Settings
from agents.topics import MAX_RECORD_BYTES


def produce_samples(settings: Settings, *, count: int, rate: float, seed: int) -> int:
    """Send ``count`` sample records (0: until interrupted) at about ``rate`` per second."""
    producer = KafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        max_request_size=MAX_RECORD_BYTES,
        linger_ms=20,
        **kafka_python_security(settings),
    )
    records = sample_records(seed)
    if count:
        records = itertools.islice(records, count)
    started = time.monotonic()
    try:
        for sent, (family, key, value) in enumerate(records, start=1):
            producer.send(settings.topic(family), key=key, value=value)
            # Pace against the start time so slow sends do not lower the average rate.
            ahead = sent / rate - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)
    except KeyboardInterrupt:
        pass
    finally:
        producer.flush()
        producer.close()
    return 0
