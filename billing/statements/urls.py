"""Portal pages of billing.statements (SME side), included by billing/urls.py."""

urlpatterns: list = []
