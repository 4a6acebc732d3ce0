from django.urls import path

from .views import consent, results

app_name = "trials"

urlpatterns = [
    path("trials/", results.trial_list, name="list"),
    path("trials/<int:pk>/", results.trial_detail, name="detail"),
    path("trials/<int:pk>/measurements.csv", results.measurements_csv, name="csv"),
    path("trials/<int:pk>/live/", results.live_panel, name="live"),
    path("trials/<int:pk>/releases/<int:release_id>/package/", results.release_package,
         name="package"),
    path("trials/<int:pk>/consents/", consent.grant, name="grant"),
    path("trials/<int:pk>/consents/<int:consent_id>/revoke/", consent.revoke, name="revoke"),
    path("trials/<int:pk>/standing-consent/", consent.grant_standing, name="standing-grant"),
    path("trials/<int:pk>/standing-consent/<int:agreement_id>/stop/", consent.revoke_standing,
         name="standing-revoke"),
]
