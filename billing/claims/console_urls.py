"""Console pages of billing.claims (operators), included by billing/console_urls.py."""

from django.urls import path

from . import console

urlpatterns: list = [
    path("claims/", console.claim_list, name="claims"),
    path("claims/draft/", console.claim_draft, name="claim-draft"),
    path("claims/<int:pk>/", console.claim_detail, name="claim"),
    path("claims/<int:pk>/submit/", console.claim_submit, name="claim-submit"),
    path("claims/<int:pk>/reopen/", console.claim_reopen, name="claim-reopen"),
    path("claims/<int:pk>/evidence/", console.claim_evidence, name="claim-evidence"),
    path("voucher-use/", console.voucher_report, name="voucher-report"),
]
