"""Console routes: setup (see console/urls.py)."""

urlpatterns: list = []
