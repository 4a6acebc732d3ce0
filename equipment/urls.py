from django.urls import path

from . import views

app_name = "catalog"

urlpatterns = [
    path("catalog/equipment/<int:pk>/", views.equipment_detail, name="equipment"),
    path("catalog/hubs/<slug:slug>/", views.hub_detail, name="hub"),
    path("catalog/photos/<int:pk>/<str:size>.jpg", views.photo, name="photo"),
    path("catalog/documents/<int:pk>/", views.document, name="document"),
]
