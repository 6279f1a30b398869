from django.core.management.base import BaseCommand, CommandError

from hubspot_sync.client import HubSpotClient, HubSpotError
from hubspot_sync.setup import SetupError, ensure_properties


class Command(BaseCommand):
    help = "Create the custom HubSpot properties Tally needs (safe to run again)."

    def handle(self, *args, **options):
        client = HubSpotClient()
        try:
            report = ensure_properties(client)
        except (HubSpotError, SetupError) as exc:
            raise CommandError(f"HubSpot setup failed: {exc}") from exc
        finally:
            client.close()
        for label in report.created:
            self.stdout.write(f"created  {label}")
        for label in report.existing:
            self.stdout.write(f"exists   {label}")
