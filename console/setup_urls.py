"""Console routes: setup (see console/urls.py): equipment, sharing agreements, webhooks,
API keys, reports; and the universities' datasets."""

from django.urls import path

from .setup import datasets, equipment, keys, reports, sharing, webhooks

urlpatterns = [
    path("equipment/", equipment.equipment_list, name="equipment"),
    path("equipment/<int:pk>/", equipment.equipment_edit, name="equipment-edit"),
    path("equipment/<int:pk>/test/", equipment.equipment_test, name="equipment-test"),
    path("agreements/", sharing.agreement_list, name="agreements"),
    path("agreements/new/", sharing.agreement_create, name="agreement-create"),
    path("agreements/<int:pk>/", sharing.agreement_detail, name="agreement"),
    path("agreements/<int:pk>/revoke/", sharing.agreement_revoke, name="agreement-revoke"),
    path("webhooks/", webhooks.webhook_list, name="webhooks"),
    path("webhooks/<int:pk>/active/", webhooks.webhook_active, name="webhook-active"),
    path("webhooks/<int:pk>/delete/", webhooks.webhook_delete, name="webhook-delete"),
    path("api-keys/", keys.key_list, name="api-keys"),
    path("api-keys/<token:prefix>/revoke/", keys.key_revoke, name="api-key-revoke"),
    path("reports/", reports.report_page, name="reports"),
    path("datasets/", datasets.dataset_list, name="datasets"),
    path("datasets/<int:pk>/", datasets.dataset_detail, name="dataset"),
    path("datasets/<int:pk>/package/", datasets.dataset_package, name="dataset-package"),
]
