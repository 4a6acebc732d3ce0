"""Admin console of billing.claims (platform staff): through the services only."""
