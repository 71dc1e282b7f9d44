"""Fault settings: latency that grows with the payload (the benchmarks' fair latency model)."""

from __future__ import annotations

from connector.sandbox.core import Faults


def test_payload_latency_grows_with_size_and_is_settable() -> None:
    faults = Faults()
    assert faults.payload_delay(10_000) == 0.0
    faults.update({"latency_ms": [50, 150], "latency_per_kb_ms": 1.0})
    assert faults.payload_delay(0) == 0.0
    assert faults.payload_delay(2048) == 0.002
    assert faults.payload_delay(1024 * 300) == 0.3  # a 300 KiB batch pays 300 ms more than an empty call
    assert faults.to_json()["latency_per_kb_ms"] == 1.0
