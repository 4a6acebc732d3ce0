"""Operators' reports on bookings: utilization and billing. ``selectors`` computes them
(and their CSV), ``api`` serves them at ``/api/v1/reports/…``, ``admin`` shows them with
charts in the console."""
