"""Console pages of pricing (operators): rate cards, under /console/."""

app_name = "pricing-console"

urlpatterns: list = []
