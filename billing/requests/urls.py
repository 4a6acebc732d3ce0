"""Portal pages of billing.requests (SME side), included by billing/urls.py."""

urlpatterns: list = []
