"""Every registered ModelAdmin opens: changelist, add page and one change page, with the
demo data loaded. New models are covered as soon as they are registered."""

from io import StringIO

import pytest
from django.contrib import admin
from django.contrib.admin.utils import quote
from django.core.management import call_command
from django.urls import reverse

from organizations.models import Organization
from organizations.services import create_api_key

pytestmark = pytest.mark.django_db

REGISTERED = sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)


@pytest.fixture
def demo_data():
    call_command("seed_demo", "--no-keys", stdout=StringIO())
    create_api_key(organization=Organization.objects.get(slug="autoworks"), name="admin-test")


def url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def test_the_app_models_are_registered():
    labels = {model._meta.label for model, _ in REGISTERED}
    assert {"organizations.Organization", "organizations.Membership",
            "organizations.OrganizationAPIKey", "equipment.Hub", "equipment.Equipment",
            "equipment.MaintenanceWindow", "equipment.Qualification"} <= labels


def test_every_changelist_and_add_page_opens(admin_client, admin_user, rf, demo_data):
    """Add pages open unless the admin deliberately refuses adding (then 403, not 500)."""
    request = rf.get("/admin/")
    request.user = admin_user
    failures = []
    for model, model_admin in REGISTERED:
        add_status = 200 if model_admin.has_add_permission(request) else 403
        for view, expected in (("changelist", 200), ("add", add_status)):
            response = admin_client.get(url(model, view))
            if response.status_code != expected:
                failures.append((model._meta.label, view, response.status_code))
    assert failures == []


def test_every_changelist_search_opens(admin_client, demo_data):
    failures = []
    for model, model_admin in REGISTERED:
        if model_admin.search_fields:
            response = admin_client.get(url(model, "changelist"), {"q": "demo"})
            if response.status_code != 200:
                failures.append((model._meta.label, response.status_code))
    assert failures == []


def test_a_change_page_opens_for_every_model_with_rows(admin_client, demo_data):
    failures, opened = [], set()
    for model, _model_admin in REGISTERED:
        obj = model._default_manager.order_by("pk").first()
        if obj is None:
            continue
        response = admin_client.get(url(model, "change", quote(obj.pk)))
        if response.status_code != 200:
            failures.append((model._meta.label, response.status_code))
        opened.add(model._meta.label)
    assert failures == []
    assert {"organizations.Organization", "organizations.OrganizationAPIKey", "equipment.Hub",
            "equipment.Equipment", "equipment.Qualification", "auth.User"} <= opened


def test_the_index_shows_the_staff_queues_with_the_demo_data(admin_client, demo_data):
    """The demo's SME awaiting verification is in the first queue, in both languages."""
    for language in ("en", "zh-hans"):
        response = admin_client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE=language)
        assert response.status_code == 200
        queues = {queue.key: queue for queue in response.context["staff_queues"]}
        assert list(queues) == ["queue-verification", "queue-waiting-requests",
                                "queue-failed-deliveries", "queue-stuck-messages"]
        assert [item.title for item in queues["queue-verification"].items] == [
            "NewCo Robotics"]
        assert "NewCo Robotics" in response.content.decode()
