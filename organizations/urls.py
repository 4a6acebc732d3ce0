from django.urls import path

from . import views

app_name = "organizations"

urlpatterns = [
    path("organisation/", views.organization_page, name="page"),
    path("organisation/invitations/", views.invite, name="invite"),
    path("organisation/consent-rights/", views.consent_rights, name="consent-rights"),
    path("organisation/invitations/<int:pk>/withdraw/", views.revoke_invitation,
         name="revoke-invitation"),
    path("organisation/members/<int:pk>/role/", views.change_role, name="change-role"),
    path("organisation/members/<int:pk>/remove/", views.remove_member, name="remove-member"),
    path("invitations/<token:token>/", views.invitation, name="invitation"),
    path("invitations/<token:token>/accept/", views.accept_invitation, name="accept"),
]
