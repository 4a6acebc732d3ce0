"""The API v1 router: every app's viewsets, one URL space."""

from django.urls import path
from rest_framework.routers import DefaultRouter

from bookings.api import AvailabilityView, BookingViewSet
from equipment.api import EquipmentViewSet, HubViewSet, MaintenanceWindowViewSet
from trials.api import TrialViewSet

router = DefaultRouter()
router.register("hubs", HubViewSet, basename="hub")
router.register("equipment", EquipmentViewSet, basename="equipment")
router.register("maintenance-windows", MaintenanceWindowViewSet, basename="maintenance-window")

router.register("bookings", BookingViewSet, basename="booking")
router.register("trials", TrialViewSet, basename="trial")

extra_urlpatterns = [
    path("equipment/<int:pk>/availability/", AvailabilityView.as_view(),
         name="equipment-availability"),
]
