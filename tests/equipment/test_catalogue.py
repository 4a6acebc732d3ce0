"""The public catalogue's data: names in English and Chinese (modeltranslation, English
the fallback), search in either language, the dictionary of spec labels and metric names,
and photos and documents — judged by their bytes, re-encoded or refused with nothing
stored, documents only ever downloaded."""

from __future__ import annotations

import io

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.template import Context, Template
from django.urls import reverse
from django.utils import translation
from PIL import Image

from core.errors import Forbidden, ValidationFailed
from equipment import selectors, services
from equipment.models import TERMS_CACHE_KEY, Equipment, EquipmentDocument, EquipmentPhoto
from tests.factories import (
    CapabilityFactory,
    CategoryFactory,
    EquipmentFactory,
    HubFactory,
    MetricFactory,
    OrganizationFactory,
)

pytestmark = pytest.mark.django_db

PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]"
    b"/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)


@pytest.fixture(autouse=True)
def _fresh_terms():
    """The dictionary is cached across requests; each test starts and ends without it."""
    cache.delete(TERMS_CACHE_KEY)
    yield
    cache.delete(TERMS_CACHE_KEY)


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def stored_files(root) -> list:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


@pytest.fixture
def machines(hub, category):
    """Two machining centres (one five-axis), a robot, in both languages."""
    category.name_zh_hans = "数控加工"
    category.save()
    robots = CategoryFactory(
        slug="robots", name_en="Industrial robotics", name_zh_hans="工业机器人"
    )
    five_axis = CapabilityFactory(
        slug="5-axis", name_en="Five-axis machining", name_zh_hans="五轴加工"
    )
    return {
        "dmu": EquipmentFactory(
            hub=hub,
            category=category,
            slug="dmu",
            name_en="DMU 50 machining centre",
            name_zh_hans="DMU 50五轴加工中心",
            capabilities=[five_axis],
        ),
        "haas": EquipmentFactory(
            hub=hub,
            category=category,
            slug="haas",
            name_en="Haas VF-2 vertical machining centre",
            name_zh_hans="哈斯VF-2立式加工中心",
        ),
        "yumi": EquipmentFactory(
            hub=hub,
            category=robots,
            slug="yumi",
            name_en="ABB YuMi cobot",
            name_zh_hans="ABB YuMi协作机器人",
        ),
    }


def found(text: str) -> set[str]:
    return {e.slug for e in selectors.search_equipment(Equipment.objects.all(), text)}


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_search_finds_equipment_by_either_language_whatever_the_readers(machines, language):
    with translation.override(language):
        assert found("五轴") == {"dmu"}
        assert found("five-axis") == {"dmu"}
        assert found("Five-Axis machining") == {"dmu"}
        assert found("哈斯") == {"haas"}
        assert found("haas") == {"haas"}
        assert found("加工中心") == {"dmu", "haas"}
        assert found("machining centre") == {"dmu", "haas"}
        assert found("数控加工") == {"dmu", "haas"}  # by category
        assert found("机器人") == {"yumi"}
        assert found("robotics") == {"yumi"}
        assert found("五轴 robotics") == set()  # every word must match
        assert found("激光") == set()


def test_names_read_in_the_readers_language_with_english_as_fallback(hub, category):
    both = EquipmentFactory(
        hub=hub, category=category, name_en="Laser cell", name_zh_hans="激光单元"
    )
    english_only = EquipmentFactory(hub=hub, category=category, name="Press")
    with translation.override("zh-hans"):
        assert (both.name, english_only.name) == ("激光单元", "Press")
    with translation.override("en"):
        assert both.name == "Laser cell"
    assert english_only.name_en == "Press"  # a name given without a language is English


def test_updating_a_name_writes_the_readers_language_only(hub, category, operator):
    equipment = EquipmentFactory(hub=hub, category=category, name="Laser cell")
    with translation.override("zh-hans"):
        services.update_equipment(equipment=equipment, by=operator, data={"name": "激光单元"})
    equipment.refresh_from_db()
    assert (equipment.name_en, equipment.name_zh_hans) == ("Laser cell", "激光单元")
    services.update_equipment(
        equipment=equipment, by=operator, data={"name_en": "Laser welding cell"}
    )
    equipment.refresh_from_db()
    assert (equipment.name_en, equipment.name_zh_hans) == ("Laser welding cell", "激光单元")


def test_metric_names_come_from_the_dictionary_in_the_readers_language():
    MetricFactory(key="cycle_time", label_en="Cycle time", label_zh_hans="节拍时间", unit="s")
    MetricFactory(key="porosity", label_en="Porosity")
    page = Template(
        "{% load catalogue %}{{ a|metric_label }}|{{ b|metric_label }}|{{ c|metric_label }}"
    )
    context = Context({"a": "cycle_time", "b": "porosity", "c": "spindle_load"})
    with translation.override("zh-hans"):
        assert page.render(context) == "节拍时间|Porosity|spindle_load"
    with translation.override("en"):
        assert page.render(context) == "Cycle time|Porosity|spindle_load"


def test_a_changed_metric_name_is_shown_at_once():
    metric = MetricFactory(key="cycle_time", label_en="Cycle time")
    assert selectors.term("metric", "cycle_time") == ("Cycle time", "")
    metric.label_en, metric.unit = "Takt", "s"
    metric.save()
    assert selectors.term("metric", "cycle_time") == ("Takt", "s")


# --- photos ------------------------------------------------------------------------------


def image_file(
    fmt: str = "JPEG", size=(2400, 1200), name: str = "cell.jpg", exif: bool = False
) -> SimpleUploadedFile:
    image = Image.new("RGB", size, (200, 30, 30))
    out = io.BytesIO()
    kwargs = {}
    if exif:
        data = Image.Exif()
        data[0x010F] = "SecretCam"  # Make
        data[0x8825] = {2: (39.0, 54.0, 0.0)}  # GPS latitude
        kwargs["exif"] = data
    image.save(out, fmt, **kwargs)
    return SimpleUploadedFile(name, out.getvalue(), content_type="image/jpeg")


def test_a_photo_is_reencoded_without_metadata_and_gets_a_thumbnail(equipment, operator, media):
    upload = image_file(exif=True)
    assert b"SecretCam" in upload.read()
    photo = services.add_equipment_photo(
        equipment=equipment,
        by=operator,
        upload=upload,
        caption_en="The cell",
        caption_zh_hans="单元",
    )
    with photo.image.open("rb") as f:
        stored = f.read()
    assert b"SecretCam" not in stored
    with Image.open(io.BytesIO(stored)) as image:
        assert image.format == "JPEG" and image.size == (1600, 800)
        assert not image.getexif()
    with photo.thumbnail.open("rb") as f, Image.open(f) as thumbnail:
        assert thumbnail.format == "JPEG" and thumbnail.size == (480, 320)
    assert (photo.width, photo.height) == (1600, 800)
    with translation.override("zh-hans"):
        assert photo.caption == "单元"


def test_a_png_with_transparency_becomes_a_jpeg(equipment, operator, media):
    image = Image.new("RGBA", (300, 200), (0, 0, 0, 0))
    out = io.BytesIO()
    image.save(out, "PNG")
    photo = services.add_equipment_photo(
        equipment=equipment,
        by=operator,
        upload=SimpleUploadedFile("logo.png", out.getvalue(), content_type="image/png"),
    )
    with photo.image.open("rb") as f, Image.open(f) as stored:
        assert stored.format == "JPEG" and stored.getpixel((10, 10)) == (255, 255, 255)


@pytest.mark.parametrize(
    ("name", "content", "code"),
    [
        ("cell.jpg", PDF, "photo_type_not_allowed"),  # the name and type lie
        (
            "cell.svg",
            b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
            "photo_type_not_allowed",
        ),
        ("cell.gif", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "photo_type_not_allowed"),
        ("cell.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "photo_unreadable"),  # damaged
        ("empty.jpg", b"", "upload_empty"),
    ],
)
def test_what_is_not_a_photo_is_refused_and_nothing_is_stored(
    equipment, operator, media, name, content, code
):
    upload = SimpleUploadedFile(name, content, content_type="image/jpeg")
    with pytest.raises(ValidationFailed) as refused:
        services.add_equipment_photo(equipment=equipment, by=operator, upload=upload)
    assert [(v.code, v.field) for v in refused.value.violations] == [(code, "file")]
    assert not EquipmentPhoto.objects.exists() and stored_files(media) == []


def test_a_refusal_says_what_the_file_is():
    with pytest.raises(ValidationFailed) as refused:
        services.reencode_photo(SimpleUploadedFile("x.jpg", PDF))
    assert refused.value.violations[0].message == (
        "A photo must be a JPEG, PNG or WebP image; this file is application/pdf."
    )


def test_an_oversized_photo_is_refused_before_it_is_decoded(equipment, operator, media, settings):
    settings.CATALOGUE_PHOTO_MAX_BYTES = 1024
    with pytest.raises(ValidationFailed) as refused:
        services.add_equipment_photo(equipment=equipment, by=operator, upload=image_file())
    violation = refused.value.violations[0]
    assert violation.code == "upload_too_large" and "at most 1.0\xa0KB" in violation.message
    assert not EquipmentPhoto.objects.exists() and stored_files(media) == []


def test_an_image_of_too_many_pixels_is_refused(equipment, operator, media):
    upload = image_file(fmt="PNG", size=(9000, 5000), name="huge.png")  # 45 MP, tiny file
    with pytest.raises(ValidationFailed) as refused:
        services.add_equipment_photo(equipment=equipment, by=operator, upload=upload)
    assert refused.value.violations[0].code == "photo_unreadable"
    assert stored_files(media) == []


def test_only_the_hubs_operator_adds_photos_and_documents(equipment, media):
    stranger = OrganizationFactory(flagship=True)
    with pytest.raises(Forbidden):
        services.add_equipment_photo(equipment=equipment, by=stranger, upload=image_file())
    with pytest.raises(Forbidden):
        services.add_equipment_document(
            equipment=equipment,
            by=stranger,
            title_en="Data",
            upload=SimpleUploadedFile("d.pdf", PDF),
        )
    assert stored_files(media) == []


def test_photos_are_served_as_jpegs_to_anyone(client, equipment, operator, media):
    photo = services.add_equipment_photo(equipment=equipment, by=operator, upload=image_file())
    for size in ("thumb", "full"):
        response = client.get(reverse("catalog:photo", args=[photo.pk, size]))
        assert response.status_code == 200
        assert response["Content-Type"] == "image/jpeg"
        assert response["X-Content-Type-Options"] == "nosniff"
    assert client.get(reverse("catalog:photo", args=[photo.pk, "other"])).status_code == 404
    url = reverse("catalog:photo", args=[photo.pk, "thumb"])
    services.delete_equipment_photo(photo=photo, by=operator)
    assert client.get(url).status_code == 404


# --- documents ---------------------------------------------------------------------------


def test_a_document_downloads_as_an_attachment_never_inline(client, equipment, operator, media):
    document = services.add_equipment_document(
        equipment=equipment,
        by=operator,
        upload=SimpleUploadedFile("DMU 50 data.pdf", PDF),
        title_en="Datasheet",
        title_zh_hans="技术参数",
        kind=EquipmentDocument.Kind.DATASHEET,
    )
    assert (document.size, document.filename) == (len(PDF), "DMU_50_data.pdf")
    response = client.get(reverse("catalog:document", args=[document.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'attachment; filename="DMU_50_data.pdf"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert b"".join(response.streaming_content) == PDF
    assert client.post(reverse("catalog:document", args=[document.pk])).status_code == 405


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("rules.pdf", b"<html><script>alert(1)</script></html>"),  # claims to be a PDF
        ("rules.pdf", b"PK\x03\x04" + b"\x00" * 40),  # a zip
        ("rules.pdf", image_file().read()),
    ],
)
def test_what_is_not_a_pdf_is_refused_and_nothing_is_stored(
    equipment, operator, media, name, content
):
    with pytest.raises(ValidationFailed) as refused:
        services.add_equipment_document(
            equipment=equipment,
            by=operator,
            title_en="Rules",
            upload=SimpleUploadedFile(name, content, content_type="application/pdf"),
        )
    assert refused.value.violations[0].code == "document_type_not_allowed"
    assert not EquipmentDocument.objects.exists() and stored_files(media) == []


def test_an_oversized_document_is_refused(equipment, operator, media, settings):
    settings.CATALOGUE_DOCUMENT_MAX_BYTES = 64
    with pytest.raises(ValidationFailed) as refused:
        services.add_equipment_document(
            equipment=equipment,
            by=operator,
            title_en="Rules",
            upload=SimpleUploadedFile("r.pdf", PDF),
        )
    assert refused.value.violations[0].code == "upload_too_large"
    assert stored_files(media) == []


def test_catalogue_cards_know_their_first_photo(equipment, operator, media, hub):
    other = EquipmentFactory(hub=hub, category=equipment.category)
    second = services.add_equipment_photo(
        equipment=equipment, by=operator, upload=image_file(), position=2
    )
    first = services.add_equipment_photo(
        equipment=equipment, by=operator, upload=image_file(), position=1
    )
    covers = dict(selectors.equipment_list().values_list("pk", "cover_photo_id"))
    assert covers == {equipment.pk: first.pk, other.pk: None}
    assert second.pk != first.pk


def test_hubs_are_bilingual_too(operator):
    hub = HubFactory(
        operator=operator,
        name_en="Yizhuang Hub",
        name_zh_hans="亦庄基地",
        address_en="8 Kechuang Street",
        address_zh_hans="科创街8号",
    )
    with translation.override("zh-hans"):
        hub.refresh_from_db()
        assert (hub.name, hub.address) == ("亦庄基地", "科创街8号")


def test_the_api_speaks_english_names_with_the_chinese_ones_beside_them(
    hub, category, operator, operator_client
):
    machine = EquipmentFactory(
        hub=hub, category=category, name_en="Laser cell", name_zh_hans="激光单元"
    )
    url = f"/api/v1/equipment/{machine.pk}/"
    body = operator_client.get(url, HTTP_ACCEPT_LANGUAGE="zh-hans").json()
    assert (body["name"], body["name_zh_hans"], body["description"]) == (
        "Laser cell",
        "激光单元",
        "",
    )
    response = operator_client.patch(
        url,
        {"name": "Laser welding cell", "name_zh_hans": "激光焊接单元"},
        format="json",
        HTTP_ACCEPT_LANGUAGE="zh-hans",
    )
    assert response.status_code == 200, response.content
    machine.refresh_from_db()
    # `name` is the English whatever the request's language; the Chinese is its own field.
    assert (machine.name_en, machine.name_zh_hans) == ("Laser welding cell", "激光焊接单元")
    hub_body = operator_client.get(
        f"/api/v1/hubs/{hub.slug}/", HTTP_ACCEPT_LANGUAGE="zh-hans"
    ).json()
    assert hub_body["name"] == hub.name_en and hub_body["name_zh_hans"] is None
    refused = operator_client.patch(url, {"name": ""}, format="json")
    assert refused.status_code == 400 and "name" in refused.json()["errors"]
