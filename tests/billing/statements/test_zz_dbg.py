from django.urls import reverse
from .test_wording_and_admin import *  # noqa
def test_dbg(staff_client, issued):
    html = staff_client.get(reverse("admin:billing_statement_change", args=[issued.pk])).content.decode()
    i = html.find('<div class="js-inline-admin-formset')
    import re
    print(re.sub(r"\s+"," ",html[i:i+6000]))
