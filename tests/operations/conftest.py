from tests.factories import MembershipFactory, UserFactory


def member(org, email: str, role: str):
    """A user with ``email``, member of ``org`` in ``role``."""
    return MembershipFactory(user=UserFactory(email=email), organization=org, role=role).user
