"""Price-list and programme names in English and Chinese (django-modeltranslation, as the
catalogue: ``equipment/translation.py``)."""

from modeltranslation.translator import register

from equipment.translation import CatalogueOptions

from .models import PricedItem, RateCard, VoucherProgramme


@register(PricedItem)
class PricedItemTranslation(CatalogueOptions):
    fields = ("name",)


@register(VoucherProgramme)
class VoucherProgrammeTranslation(CatalogueOptions):
    fields = ("name", "issuer")


@register(RateCard)
class RateCardTranslation(CatalogueOptions):
    fields = ("name",)
