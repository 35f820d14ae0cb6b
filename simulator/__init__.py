"""The CRM activity simulator (persona-driven scenarios) and the replay of CRM exports.

Pure generation and mapping live in ``personas``, ``scenario``, ``feed`` and ``replay``;
``cli`` holds the ``latitude simulate`` / ``latitude replay`` entry points (Kafka).
"""
