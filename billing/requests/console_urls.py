"""Console pages of billing.requests (operators), included by billing/console_urls.py."""

urlpatterns: list = []
