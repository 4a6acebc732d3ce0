"""The API v1 router: every app's viewsets, one URL space."""

from rest_framework.routers import DefaultRouter

from equipment.api import EquipmentViewSet, HubViewSet, MaintenanceWindowViewSet

router = DefaultRouter()
router.register("hubs", HubViewSet, basename="hub")
router.register("equipment", EquipmentViewSet, basename="equipment")
router.register("maintenance-windows", MaintenanceWindowViewSet, basename="maintenance-window")

extra_urlpatterns: list = []
