"""Console routes: floor (see console/urls.py)."""

urlpatterns: list = []
