"""Benchmarks (`make bench`): measured, never asserted in the unit tests."""
