from django.contrib.auth import get_user_model

from organizations.models import Membership


def member(org, email: str, role: str):
    user = get_user_model().objects.create_user(email, email=email)
    Membership.objects.create(user=user, organization=org, role=role)
    return user
