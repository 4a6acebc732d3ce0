from django.apps import AppConfig


class OrganizationsConfig(AppConfig):
    name = "organizations"
    verbose_name = "Organisations"

    def ready(self):
        # The OpenAPI auth extension; the receiver telling owners of disabled endpoints.
        from . import schema, webhooks  # noqa: F401
