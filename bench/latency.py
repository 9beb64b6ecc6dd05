"""Latency percentiles, computed one way for every benchmark."""

from __future__ import annotations

import statistics


def percentile(values: list[float], share: float) -> float:
    """The value below which `share` of `values` lie (nearest rank); NaN for no values."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def summary(seconds: list[float]) -> dict[str, float]:
    """Count, mean, p50 and p99 of durations given in seconds, in milliseconds."""
    return {
        "n": len(seconds),
        "mean_ms": statistics.fmean(seconds) * 1000,
        "p50_ms": percentile(seconds, 0.50) * 1000,
        "p99_ms": percentile(seconds, 0.99) * 1000,
    }
