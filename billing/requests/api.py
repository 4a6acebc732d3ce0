"""API v1 routes of billing.requests (registered by testbed/api.py)."""

from __future__ import annotations

# Paths beside the router's, e.g. actions that are not viewset routes.
extra_urlpatterns: list = []


def register(router) -> None:
    """Register this area's viewsets on the API v1 router."""
