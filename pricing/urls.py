"""Portal pages of pricing: quotes and the SME's vouchers."""

app_name = "pricing"

urlpatterns: list = []
