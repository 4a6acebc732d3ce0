"""Console pages of billing.statements (operators), included by billing/console_urls.py."""

urlpatterns: list = []
