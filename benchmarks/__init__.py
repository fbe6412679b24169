"""Benchmarks of the order book against a peer engine (`bench_matching.py` is the entry point)."""
