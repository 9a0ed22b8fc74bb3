"""Django's cache through django-redis, and DRF's throttles, pointed at `spillway proxy`: the
incident's stack. A throttle key built from a 10 KB payload arrives hashed; with redis full,
requests through the proxy answer 200 while the same stack straight against redis answers 500
(the incident)."""

import django
import pytest
from django.conf import settings

from conftest import MAX_KEY_BYTES, upstream_keys

REQUESTS = 2000


@pytest.fixture(scope="module")
def django_app(stack):
    settings.configure(
        DEBUG=False,
        SECRET_KEY="spillway-proxy-tests",
        ALLOWED_HOSTS=["*"],
        ROOT_URLCONF=__name__,
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "rest_framework"],
        DATABASES={},
        CACHES={
            "default": {
                "BACKEND": "django_redis.cache.RedisCache",
                "LOCATION": stack.proxy_url + "/0",
                "OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient"},
            },
            "direct": {
                "BACKEND": "django_redis.cache.RedisCache",
                "LOCATION": stack.redis_url + "/0",
                "OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient"},
            },
        },
        REST_FRAMEWORK={"UNAUTHENTICATED_USER": None, "DEFAULT_AUTHENTICATION_CLASSES": [], "DEFAULT_PERMISSION_CLASSES": []},
        LOGGING_CONFIG=None,
    )
    django.setup()
    return stack


def make_views():
    from django.core.cache import caches
    from rest_framework.response import Response
    from rest_framework.throttling import SimpleRateThrottle
    from rest_framework.views import APIView

    class PayloadThrottle(SimpleRateThrottle):
        """The incident's throttle: its key is built from the request's raw payload (~10 KB)."""

        rate = "100000/hour"

        def get_cache_key(self, request, view):
            return "throttle_" + request.query_params.get("payload", "")

    class DirectThrottle(PayloadThrottle):
        cache = caches["direct"]

    class Upload(APIView):
        throttle_classes = [PayloadThrottle]

        def get(self, request):
            return Response({"ok": True})

    class DirectUpload(APIView):
        throttle_classes = [DirectThrottle]

        def get(self, request):
            return Response({"ok": True})

    return Upload.as_view(), DirectUpload.as_view()


urlpatterns = []


@pytest.fixture(scope="module")
def client(django_app):
    from django.test import Client
    from django.urls import path

    upload, direct = make_views()
    urlpatterns[:] = [path("upload", upload), path("direct-upload", direct)]
    return Client(raise_request_exception=False)


def test_cache_round_trip_through_django_redis(client, clean):
    from django.core.cache import cache

    cache.set("greeting", {"hello": "world"}, 30)
    assert cache.get("greeting") == {"hello": "world"}
    big = "v" * (200 * 1024)
    cache.set("big", big, 30)
    assert cache.get("big") == big
    long_key = "report:" + "r" * 10 * 1024
    cache.set(long_key, 42, 30)
    assert cache.get(long_key) == 42
    assert cache.add("hits", 0) and cache.incr("hits") == 1
    assert all(len(k) <= MAX_KEY_BYTES for k in upstream_keys(clean))


def test_throttle_key_from_a_ten_kilobyte_payload_arrives_hashed(client, clean):
    payload = "p" * 10 * 1024
    assert client.get("/upload", {"payload": payload}).status_code == 200
    stored = upstream_keys(clean, ":1:throttle_*")
    assert len(stored) == 1, stored
    assert len(stored[0]) <= MAX_KEY_BYTES and b"#v1:" in stored[0]
    assert clean.direct.strlen(stored[0]) > 0  # the throttle's history is there, under the short key


def test_full_redis_answers_no_500_through_the_proxy_and_500_straight(client, clean):
    payloads = [f"{i:05d}" + "p" * 10 * 1024 for i in range(REQUESTS)]
    clean.fill()
    through = [client.get("/upload", {"payload": p}).status_code for p in payloads]
    straight = [client.get("/direct-upload", {"payload": p}).status_code for p in payloads[:20]]
    assert through.count(500) == 0 and through.count(200) == REQUESTS
    assert straight.count(500) == 20  # the incident: the throttle's cache.set raises OOM
