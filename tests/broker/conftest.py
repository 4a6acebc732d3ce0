import pytest

from .rabbitmq import URL_VARIABLE, RabbitMQUnavailable, configured_url, scratch_vhost


@pytest.fixture
def rabbitmq(request):
    """The URL of a RabbitMQ virtual host of this test's own (tests/broker/rabbitmq.py),
    for tests marked ``rabbitmq``. Skipped, with the reason, where CELERY_TEST_AMQP_URL
    is not set; where it is set (CI), a broker that cannot be used fails the test."""
    assert request.node.get_closest_marker("rabbitmq"), "mark the test rabbitmq"
    url = configured_url()
    if not url:
        pytest.skip(f"needs RabbitMQ ({URL_VARIABLE} is not set; "
                    f"set {URL_VARIABLE}=amqp://guest:guest@127.0.0.1:5672//)")
    try:
        with scratch_vhost(url) as vhost_url:
            yield vhost_url
    except RabbitMQUnavailable as exc:
        pytest.fail(f"{URL_VARIABLE} is set but RabbitMQ cannot be used: {exc}")
