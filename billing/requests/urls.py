"""Portal pages of billing.requests (SME side), included by billing/urls.py."""

from django.urls import path

from . import views

urlpatterns = [
    path("service-requests/", views.request_list, name="requests"),
    path("service-requests/new/", views.request_new, name="request-new"),
    path("service-requests/<int:pk>/", views.request_detail, name="request-detail"),
    path("service-requests/<int:pk>/accept/", views.request_accept, name="request-accept"),
    path("service-requests/<int:pk>/decline/", views.request_decline, name="request-decline"),
    path("service-requests/<int:pk>/withdraw/", views.request_withdraw,
         name="request-withdraw"),
    path("service-requests/<int:pk>/attachments/", views.request_attach,
         name="request-attach"),
    path("service-requests/<int:pk>/attachments/<int:attachment_pk>/", views.attachment_file,
         name="request-attachment"),
]
