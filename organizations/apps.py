from django.apps import AppConfig


class OrganizationsConfig(AppConfig):
    name = "organizations"
    verbose_name = "Organisations"

    def ready(self):
        from . import schema  # noqa: F401  (registers the OpenAPI auth extension)
