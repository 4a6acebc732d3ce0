"""Console pages of billing.claims (operators), included by billing/console_urls.py."""

urlpatterns: list = []
