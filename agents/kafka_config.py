"""Kafka client security options derived from the settings, for each client library."""

from __future__ import annotations

import ssl
from typing import Any

from agents.settings import Settings


def kafka_python_security(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for kafka-python clients (admin, producers in tools and tests)."""
    options: dict[str, Any] = {"security_protocol": settings.security_protocol}
    if settings.sasl_mechanism:
        options.update(
            sasl_mechanism=settings.sasl_mechanism,
            sasl_plain_username=settings.sasl_username,
            sasl_plain_password=settings.sasl_password,
        )
    if settings.ssl_cafile:
        options["ssl_cafile"] = settings.ssl_cafile
    return options


def faust_broker_credentials(settings: Settings) -> Any:
    """Faust ``broker_credentials`` for TLS and SASL, or None for PLAINTEXT."""
    import faust  # the worker only: keeps tools that just produce free of Faust

    protocol = settings.security_protocol
    if protocol == "PLAINTEXT":
        return None
    context = ssl.create_default_context(cafile=settings.ssl_cafile or None)
    if protocol == "SSL":
        return faust.SSLCredentials(context)
    # SASLCredentials covers PLAIN and SCRAM-SHA-256/512; TLS only under SASL_SSL.
    return faust.SASLCredentials(
        username=settings.sasl_username,
        password=settings.sasl_password,
        mechanism=settings.sasl_mechanism or "PLAIN",
        ssl_context=context if protocol == "SASL_SSL" else None,
    )
