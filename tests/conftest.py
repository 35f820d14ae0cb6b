"""Shared pytest configuration for all test levels."""

pytest_plugins = ["tests.kafka_broker"]
