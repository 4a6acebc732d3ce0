"""Trial pages: the portal's results and consent pages, and the demo endpoints."""

from .demo import demo_gateway, demo_university_webhook

__all__ = ["demo_gateway", "demo_university_webhook"]
