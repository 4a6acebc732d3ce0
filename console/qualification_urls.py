"""Console routes: qualification (see console/urls.py)."""

urlpatterns: list = []
