"""Portal pages of billing.claims (SME side), included by billing/urls.py."""

urlpatterns: list = []
