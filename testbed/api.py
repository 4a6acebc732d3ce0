"""The API v1 router: every app's viewsets, one URL space."""

from django.urls import path
from rest_framework.routers import DefaultRouter

from billing.claims import api as claims_api
from billing.requests import api as requests_api
from billing.statements import api as statements_api
from bookings.api import AvailabilityView, BookingViewSet
from bookings.events_api import BookingEventViewSet, BookingHistoryView
from bookings.feeds.api import CalendarFeedViewSet
from bookings.reports.api import UtilizationReportView
from bookings.search_api import FreeSearchView
from equipment.api import EquipmentViewSet, HubViewSet, MaintenanceWindowViewSet
from organizations.webhooks_api import WebhookDeliveriesView, WebhookEndpointViewSet
from pricing import api as pricing_api
from trials.api import ResultSourceTestView, TrialViewSet
from trials.sharing_api import AgreementViewSet, DatasetViewSet

router = DefaultRouter()
router.register("hubs", HubViewSet, basename="hub")
router.register("equipment", EquipmentViewSet, basename="equipment")
router.register("maintenance-windows", MaintenanceWindowViewSet, basename="maintenance-window")

router.register("bookings", BookingViewSet, basename="booking")
router.register("events", BookingEventViewSet, basename="event")
router.register("trials", TrialViewSet, basename="trial")
router.register("agreements", AgreementViewSet, basename="agreement")
router.register("datasets", DatasetViewSet, basename="dataset")
router.register("webhooks", WebhookEndpointViewSet, basename="webhook")
router.register("calendar-feeds", CalendarFeedViewSet, basename="calendar-feed")
# Money: quotes and vouchers; service requests, statements, settlement claims.
MONEY_APIS = (pricing_api, requests_api, statements_api, claims_api)
for _module in MONEY_APIS:
    _module.register(router)

extra_urlpatterns = [
    # Before the router's equipment/{pk}/, which would take "free" for an id.
    path("equipment/free/", FreeSearchView.as_view(), name="equipment-free"),
    path("equipment/<int:pk>/availability/", AvailabilityView.as_view(),
         name="equipment-availability"),
    # Test connection: served by trials (where the sources are), on the equipment's path.
    path("equipment/<int:pk>/result-source/test/", ResultSourceTestView.as_view(),
         name="equipment-result-source-test"),
    path("bookings/<int:pk>/events/", BookingHistoryView.as_view(), name="booking-events"),
    path("webhooks/<int:pk>/deliveries/", WebhookDeliveriesView.as_view(),
         name="webhook-deliveries"),
    path("reports/utilization/", UtilizationReportView.as_view(), name="report-utilization"),
    path("reports/billing/", statements_api.BillingReportView.as_view(), name="report-billing"),
    *(url for module in MONEY_APIS for url in module.extra_urlpatterns),
]
