"""Benchmarks run by ``make bench`` (``python -m tests.benchmarks.run``), not by pytest:
no module here is named ``test_*``."""
