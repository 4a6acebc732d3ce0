"""Admin console of billing.requests (platform staff): through the services only."""
