"""The console's setup pages (flagship members): equipment, sharing agreements, webhooks,
API keys (the organisation's admins) and reports; and the universities' datasets.

Every page reads through a selector that takes ``request.organization`` (another
organisation's object is a 404) and writes through the owning app's service."""
