"""The catalogue's words in English and Chinese (django-modeltranslation): each field
listed gets a column per language (``name_en``, ``name_zh_hans``); reading ``name`` gives
the active language's text, or the English one where there is none (settings:
``MODELTRANSLATION_*``). English is required where the field itself is; an empty
translation is stored as NULL (so unique names stay unique per language)."""

from modeltranslation.translator import TranslationOptions, register

from .models import (
    Capability,
    Category,
    Equipment,
    EquipmentDocument,
    EquipmentPhoto,
    Hub,
    Metric,
    SpecLabel,
)


class CatalogueOptions(TranslationOptions):
    empty_values = None
    required_languages = ("en",)


@register(Hub)
class HubTranslation(CatalogueOptions):
    fields = ("name", "address", "description")


@register(Category)
class CategoryTranslation(CatalogueOptions):
    fields = ("name", "description")


@register(Capability)
class CapabilityTranslation(CatalogueOptions):
    fields = ("name",)


@register(Equipment)
class EquipmentTranslation(CatalogueOptions):
    fields = ("name", "description")


@register(SpecLabel)
class SpecLabelTranslation(CatalogueOptions):
    fields = ("label",)


@register(Metric)
class MetricTranslation(CatalogueOptions):
    fields = ("label",)


@register(EquipmentPhoto)
class EquipmentPhotoTranslation(CatalogueOptions):
    fields = ("caption",)


@register(EquipmentDocument)
class EquipmentDocumentTranslation(CatalogueOptions):
    fields = ("title",)
