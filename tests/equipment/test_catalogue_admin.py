"""The catalogue in the admin console: both languages side by side, photos and documents
added and removed through the services (a refused upload shown at its file, nothing
saved)."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from equipment import services
from equipment.models import Equipment, EquipmentDocument, EquipmentPhoto
from tests.equipment.test_catalogue import PDF, image_file, stored_files
from tests.equipment.test_write_path import form_post

pytestmark = pytest.mark.django_db


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def management(prefix: str, total: int, initial: int = 0) -> dict:
    return {
        f"{prefix}-TOTAL_FORMS": str(total),
        f"{prefix}-INITIAL_FORMS": str(initial),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }


def change(admin_client, equipment, **inlines):
    data = {
        **form_post(equipment),
        **management("maintenance_windows", 0),
        **management("photos", 0),
        **management("documents", 0),
        "_save": "Save",
        **inlines,
    }
    return admin_client.post(reverse("admin:equipment_equipment_change", args=[equipment.pk]), data)


def test_the_change_page_has_both_languages(admin_client, equipment):
    page = admin_client.get(
        reverse("admin:equipment_equipment_change", args=[equipment.pk])
    ).content.decode()
    for field in ("name_en", "name_zh_hans", "description_en", "description_zh_hans"):
        assert f'name="{field}"' in page
    hub_page = admin_client.get(
        reverse("admin:equipment_hub_change", args=[equipment.hub.pk])
    ).content.decode()
    assert 'name="name_zh_hans"' in hub_page and 'name="address_zh_hans"' in hub_page


def test_a_chinese_name_is_saved_through_the_service(admin_client, equipment):
    response = change(admin_client, equipment, name_zh_hans="DMU 50五轴加工中心")
    assert response.status_code == 302, response.content[:600]
    equipment.refresh_from_db()
    assert (equipment.name_en, equipment.name_zh_hans) == ("DMU 50", "DMU 50五轴加工中心")


def test_photos_and_documents_are_added_through_the_services(admin_client, equipment, media):
    response = change(
        admin_client,
        equipment,
        **{
            **management("photos", 1),
            "photos-0-file": image_file(),
            "photos-0-caption_en": "Front",
            "photos-0-caption_zh_hans": "正面",
            "photos-0-position": "0",
            **management("documents", 1),
            "documents-0-file": SimpleUploadedFile("data.pdf", PDF),
            "documents-0-kind": "safety",
            "documents-0-title_en": "Safety rules",
            "documents-0-title_zh_hans": "安全规程",
        },
    )
    assert response.status_code == 302, response.content[:600]
    photo = EquipmentPhoto.objects.get(equipment=equipment)
    assert (photo.width, photo.caption_zh_hans) == (1600, "正面")
    document = EquipmentDocument.objects.get(equipment=equipment)
    assert (document.kind, document.title_en, document.size) == ("safety", "Safety rules", len(PDF))


def test_a_refused_upload_is_shown_at_its_file_and_nothing_is_saved(admin_client, equipment, media):
    response = change(
        admin_client,
        equipment,
        name_en="Renamed",
        **{
            **management("photos", 1),
            "photos-0-file": SimpleUploadedFile("cell.jpg", PDF, content_type="image/jpeg"),
            "photos-0-position": "0",
        },
    )
    assert response.status_code == 200
    assert "A photo must be a JPEG, PNG or WebP image" in response.content.decode()
    assert not EquipmentPhoto.objects.exists() and stored_files(media) == []
    assert Equipment.objects.get(pk=equipment.pk).name_en == "DMU 50"


def test_a_photo_is_removed_through_the_service(admin_client, equipment, operator, media):
    photo = services.add_equipment_photo(equipment=equipment, by=operator, upload=image_file())
    response = change(
        admin_client,
        equipment,
        **{
            **management("photos", 1, initial=1),
            "photos-0-id": str(photo.pk),
            "photos-0-equipment": str(equipment.pk),
            "photos-0-DELETE": "on",
        },
    )
    assert response.status_code == 302, response.content[:600]
    assert not EquipmentPhoto.objects.exists()


def test_the_dictionary_pages_open(admin_client):
    for name in ("speclabel", "metric"):
        for view, args in (("changelist", []), ("add", [])):
            url = reverse(f"admin:equipment_{name}_{view}", args=args)
            assert admin_client.get(url).status_code == 200, url


def test_dictionary_words_are_saved_in_both_languages_through_the_service(admin_client):
    from django.utils import translation

    from equipment.models import Metric

    response = admin_client.post(
        reverse("admin:equipment_metric_add"),
        {
            "key": "cycle_time",
            "label_en": "Cycle time",
            "label_zh_hans": "节拍时间",
            "unit": "s",
            "_save": "Save",
        },
    )
    assert response.status_code == 302, response.content[:600]
    metric = Metric.objects.get(key="cycle_time")
    with translation.override("zh-hans"):
        assert (metric.label, metric.unit) == ("节拍时间", "s")
    refused = admin_client.post(
        reverse("admin:equipment_metric_add"),
        {"key": "cycle_time", "label_en": "Again", "unit": "", "_save": "Save"},
    )
    assert refused.status_code == 200 and Metric.objects.count() == 1


def test_only_staff_keep_the_dictionary(operator):
    from core.errors import Forbidden
    from equipment.models import Metric

    with pytest.raises(Forbidden):
        services.save_catalogue_word(word=Metric(key="x", label_en="X"), staff_user=None)
    assert not Metric.objects.exists()
