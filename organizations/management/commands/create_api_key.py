from django.core.management.base import BaseCommand, CommandError

from organizations.models import Organization
from organizations.services import create_api_key


class Command(BaseCommand):
    help = "Create an API key for an organisation and print it once."

    def add_arguments(self, parser):
        parser.add_argument("--org", required=True, help="organisation slug")
        parser.add_argument("--name", required=True, help="a name for the key")

    def handle(self, *args, org, name, **options):
        organization = Organization.objects.filter(slug=org).first()
        if organization is None:
            raise CommandError(f"No organisation with slug {org!r}.")
        _, secret = create_api_key(organization=organization, name=name)
        self.stdout.write(secret)
        self.stderr.write(
            f"API key {name!r} for {organization.name}; it is shown only this once."
        )
