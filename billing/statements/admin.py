"""Admin console of billing.statements (platform staff): through the services only."""
