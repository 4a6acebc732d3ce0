"""Trial results: summary, charts (server-side SVG, at most 500 points per metric), CSV,
and consent per covering agreement with its terms shown before the SME agrees."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.factories import CategoryFactory, OrganizationFactory, TrialFactory
from trials import charts, sharing
from trials.models import Consent, DatasetRelease, StandingConsent

from .conftest import collected_trial, local, make_booking

pytestmark = pytest.mark.django_db


@pytest.fixture
def university(db):
    return OrganizationFactory(university=True, name="Tsinghua Manufacturing Lab",
                               slug="tsinghua")


def make_agreement(operator, hub, categories, **terms):
    return sharing.create_agreement(
        operator=operator, university="tsinghua", hub=hub.slug, categories=categories,
        endpoint_url="http://127.0.0.1:9/hooks", title="Machining data",
        valid_from=datetime(2026, 1, 1, tzinfo=UTC), **terms)


@pytest.fixture
def agreement(operator, hub, university, category):
    return make_agreement(operator, hub, [category.slug], anonymize=True, embargo_days=30,
                          shift_timestamps=True, license="CC-BY-NC-4.0")


def test_results_page_has_summary_and_charts(client_sme, trial):
    response = client_sme.get(reverse("trials:detail", args=[trial.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert [row["metric"] for row in response.context["summary"]] == ["spindle_load",
                                                                       "vibration_rms"]
    assert html.count("<svg") == 2 and "spindle load (%) over time" in html
    assert "<script" not in html.split("<svg", 1)[1]  # pygal's script is stripped
    assert "Download CSV (60 readings)" in html


def test_chart_points_are_capped(trial, past_booking):
    many = collected_trial(make_booking(past_booking.equipment, past_booking.organization,
                                        local(-6, 9), local(-6, 12)),
                           metrics=("spindle_load", "cycle_time"), readings=1234)
    series = charts.sampled_series(many)
    assert {m: len(p) for m, p in series.items()} == {"spindle_load": 412, "cycle_time": 412}
    assert series["cycle_time"][0][0] == many.booking.start  # the first reading is kept
    assert all(a[0] < b[0] for a, b in zip(series["cycle_time"], series["cycle_time"][1:]))
    small = charts.sampled_series(trial)
    assert len(small["spindle_load"]) == 30


def test_chart_labels_are_round_local_times():
    from zoneinfo import ZoneInfo

    tz = ZoneInfo("Asia/Shanghai")
    first = datetime(2026, 11, 18, 1, 3, tzinfo=UTC)  # 09:03 in Shanghai
    labels = charts.time_labels(first, first + timedelta(hours=3), tz)
    assert [t.strftime("%H:%M") for t in labels] == [
        "09:30", "10:00", "10:30", "11:00", "11:30", "12:00"]


def test_svg_escapes_metric_names(trial):
    from zoneinfo import ZoneInfo

    svg = charts.render("<script>x</script>", "%", [(trial.booking.start, 1.0),
                                                    (trial.booking.end, 2.0)],
                        ZoneInfo("Asia/Shanghai"), title="<b>bold</b>")
    assert "<script>" not in svg and "<b>" not in svg and "&lt;b&gt;" in svg


def test_csv_download(client_sme, trial):
    response = client_sme.get(reverse("trials:csv", args=[trial.pk]))
    lines = b"".join(response.streaming_content).decode("utf-8-sig").splitlines()  # BOM first
    assert response["Content-Type"].startswith("text/csv")
    assert lines[0] == "timestamp,metric,value,unit" and len(lines) == 61
    assert lines[1].split(",")[0].endswith("+08:00")


def test_pending_trial_says_so(client_sme, equipment, sme):
    booking = make_booking(equipment, sme, local(2, 9), local(2, 10))
    TrialFactory(booking=booking)
    response = client_sme.get(reverse("trials:detail", args=[booking.pk]))
    assert b"No results yet" in response.content and b"<svg" not in response.content


def test_trial_list_queries_do_not_grow(client_sme, equipment, sme):
    def add(n, offset):
        for i in range(n):
            b = make_booking(equipment, sme, local(-offset - i, 9), local(-offset - i, 10))
            TrialFactory(booking=b)

    def count():
        with CaptureQueriesContext(connection) as ctx:
            assert client_sme.get(reverse("trials:list")).status_code == 200
        return len(ctx.captured_queries)

    add(5, 1)
    five = count()
    add(15, 10)
    assert count() == five


def test_terms_are_stated_before_consent(client_sme, trial, agreement):
    html = client_sme.get(reverse("trials:detail", args=[trial.pk])).content.decode()
    section = html[html.index('id="sharing"'):]
    for text in ("Tsinghua Manufacturing Lab", "Released no earlier than 30 days after",
                 "Your organisation&#x27;s name and the trial plan are removed",
                 "Shifted: times are given as seconds", "CC-BY-NC-4.0",
                 "You can revoke your consent at any time"):
        assert text in section, text
    assert section.index("CC-BY-NC-4.0") < section.index('name="agree"')


def test_grant_and_revoke(client_sme, trial, agreement, admin_user):
    url = reverse("trials:grant", args=[trial.pk])
    refused = client_sme.post(url, {"agreement": agreement.pk}, follow=True)
    assert b"Tick the box to confirm" in refused.content and not Consent.objects.exists()
    response = client_sme.post(url, {"agreement": agreement.pk, "agree": "on"})
    assert response["Location"].endswith("#sharing")
    consent = Consent.objects.get()
    assert (consent.trial, consent.agreement, consent.granted_by) == (trial, agreement,
                                                                      admin_user)
    page = client_sme.get(reverse("trials:detail", args=[trial.pk]))
    assert b"You consented on" in page.content and b"Revoke consent" in page.content
    client_sme.post(reverse("trials:revoke", args=[trial.pk, consent.pk]))
    consent.refresh_from_db()
    assert consent.revoked_at is not None and consent.revoked_by == admin_user
    page = client_sme.get(reverse("trials:detail", args=[trial.pk]))
    assert b"Consent revoked" in page.content and b"Consent to sharing with" in page.content


def test_standing_consent_from_the_trial_page(client_sme, client_other, trial, agreement,
                                              admin_user, equipment, sme):
    url = reverse("trials:standing-grant", args=[trial.pk])
    page = client_sme.get(reverse("trials:detail", args=[trial.pk])).content.decode()
    section = page[page.index('id="sharing"'):]
    # Offered under the agreement's terms, after them.
    assert section.index("CC-BY-NC-4.0") < section.index(f'id="standing-{agreement.pk}"')
    refused = client_sme.post(url, {"agreement": agreement.pk}, follow=True)
    assert b"Tick the box to confirm" in refused.content
    assert not StandingConsent.objects.exists()
    # Another SME cannot act through this trial.
    assert client_other.post(url, {"agreement": agreement.pk, "agree": "on"}).status_code == 404

    response = client_sme.post(url, {"agreement": agreement.pk, "agree": "on"}, follow=True)
    assert b"Standing consent given" in response.content
    standing = StandingConsent.objects.get()
    assert (standing.organization, standing.agreement, standing.granted_by,
            standing.revoked_at) == (sme, agreement, admin_user, None)
    assert b"Standing consent since" in response.content
    # Granting again changes nothing.
    client_sme.post(url, {"agreement": agreement.pk, "agree": "on"})
    assert StandingConsent.objects.count() == 1

    # The release run consents this trial and a later one on the SME's behalf.
    later_start = local(-2, 9)
    later = collected_trial(make_booking(equipment, sme, later_start,
                                         later_start + timedelta(hours=2),
                                         status="completed", user=admin_user))
    sharing.schedule_due_releases(now=later.booking.end + timedelta(days=31))
    assert set(Consent.objects.filter(standing=True, revoked_at__isnull=True)
               .values_list("trial_id", flat=True)) == {trial.pk, later.pk}

    stop = reverse("trials:standing-revoke", args=[trial.pk, agreement.pk])
    assert client_other.post(stop).status_code == 404  # not theirs to stop
    response = client_sme.post(stop, follow=True)
    assert b"Standing consent stopped" in response.content
    standing.refresh_from_db()
    assert standing.revoked_at is not None
    assert client_sme.post(stop).status_code == 404  # nothing left to stop
    # Consents already given stay until revoked one by one.
    assert Consent.objects.filter(standing=True, revoked_at__isnull=True).count() == 2


def test_standing_consent_only_for_an_agreement_covering_the_trial(client_sme, trial, operator,
                                                                    hub, university):
    robots = CategoryFactory(slug="robotics")
    other = make_agreement(operator, hub, [robots.slug])
    response = client_sme.post(reverse("trials:standing-grant", args=[trial.pk]),
                               {"agreement": other.pk, "agree": "on"}, follow=True)
    assert b"does not cover this trial" in response.content
    assert not StandingConsent.objects.exists()


def test_agreements_that_do_not_cover_the_trial_are_not_offered(client_sme, trial, operator,
                                                                 hub, university):
    robots = CategoryFactory(slug="robotics")
    other = make_agreement(operator, hub, [robots.slug])
    page = client_sme.get(reverse("trials:detail", args=[trial.pk]))
    assert page.context["panels"] == []
    assert b"No data-sharing agreement covers" in page.content
    response = client_sme.post(reverse("trials:grant", args=[trial.pk]),
                               {"agreement": other.pk, "agree": "on"}, follow=True)
    assert b"does not cover this trial" in response.content and not Consent.objects.exists()


def test_delivered_package_download(client_sme, client_other, trial, agreement):
    release = DatasetRelease.objects.create(trial=trial, agreement=agreement, webhook_id="msg_1",
                                            status=DatasetRelease.Status.DELIVERED,
                                            delivered_at=trial.booking.end)
    from django.core.files.base import ContentFile

    release.package.save("release.zip", ContentFile(b"PK-zip"), save=True)
    url = reverse("trials:package", args=[trial.pk, release.pk])
    page = client_sme.get(reverse("trials:detail", args=[trial.pk]))
    assert url.encode() in page.content
    response = client_sme.get(url)
    assert b"".join(response.streaming_content) == b"PK-zip"
    assert client_other.get(url).status_code == 404
    release.status = DatasetRelease.Status.PENDING
    release.save()
    assert client_sme.get(url).status_code == 404
