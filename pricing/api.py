"""API v1 routes of pricing (registered by testbed/api.py)."""

from __future__ import annotations

extra_urlpatterns: list = []


def register(router) -> None:
    """Register pricing's viewsets on the API v1 router."""
