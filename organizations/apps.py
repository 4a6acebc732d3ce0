from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OrganizationsConfig(AppConfig):
    name = "organizations"
    verbose_name = _("Organisations")

    def ready(self):
        # The OpenAPI auth extension; the receiver telling owners of disabled endpoints; the
        # receivers that invalidate cached API keys when a key or organisation changes.
        from . import auth, schema, webhooks  # noqa: F401
