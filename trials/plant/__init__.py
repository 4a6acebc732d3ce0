"""Simulated plant equipment for tests and the demo: sources that speak the real
protocols (an MTConnect agent over HTTP, …), on loopback, with realistic readings."""
