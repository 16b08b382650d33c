"""A call with a body takes application/json only, uploads their own types (CONTRACT §3.1):
a cross-site form (text/plain, urlencoded, multipart) can neither sign in nor lock anyone out."""

from __future__ import annotations

import pytest

from tests.api.helpers import assert_error
from tests.api.returns_helpers import bought, headers_for, open_return, upload
from tests.builders import make_image
from tests.conftest import bearer

TOKEN = "/api/v1/auth/token"
CROSS_SITE_TYPES = [
    ("text/plain", '{"username": "casey", "password": "password123"}'),
    ("application/x-www-form-urlencoded", "username=casey&password=password123"),
    (
        "multipart/form-data; boundary=x",
        '--x\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--x--\r\n',
    ),
]


@pytest.mark.parametrize(("content_type", "body"), CROSS_SITE_TYPES)
def test_it_refuses_a_sign_in_sent_as_a_cross_site_form_could(client, customer, content_type,
                                                               body):  # fmt: skip
    response = client.post(TOKEN, data=body, content_type=content_type)
    error = assert_error(response, 415, "unsupported_media_type")
    assert error["details"]["accepted"] == ["application/json"]


def test_it_counts_no_failure_for_a_refused_body(client, customer):
    wrong = '{"username": "casey", "password": "wrong"}'
    for _ in range(20):
        assert client.post(TOKEN, data=wrong, content_type="text/plain").status_code == 415
    ok = client.post(TOKEN, json={"username": "casey", "password": "password123"})
    assert ok.status_code == 200


def test_it_accepts_json_with_a_charset(client, customer):
    body = '{"username": "casey", "password": "password123"}'
    response = client.post(TOKEN, data=body, content_type="application/json; charset=utf-8")
    assert response.status_code == 200


def test_it_refuses_a_body_without_a_content_type(client, customer):
    body = b'{"username": "casey", "password": "password123"}'
    response = client.post(TOKEN, data=body, headers={"Content-Type": ""})
    assert_error(response, 415, "unsupported_media_type")


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/api/v1/orders"), ("POST", "/api/v1/register"), ("PATCH", "/api/v1/products/1")],
)
def test_it_refuses_other_bodies_on_every_json_call(client, customer, method, path):
    headers = bearer(client, customer)
    response = client.open(path, method=method, data="a=1", headers=headers,
                           content_type="application/x-www-form-urlencoded")  # fmt: skip
    assert_error(response, 415, "unsupported_media_type")


def test_it_leaves_a_call_without_a_body_alone(client, customer):
    response = client.post(TOKEN, content_type="text/plain")
    assert_error(response, 400, "bad_request")  # no body: the JSON object is missing


def test_it_still_answers_404_for_an_unknown_path_with_a_body(client):
    response = client.post("/api/v1/nothing-here", data="x", content_type="text/plain")
    assert_error(response, 404, "not_found")


def test_it_takes_a_photo_only_as_multipart_form_data(app, client, session, customer):
    order, _ = bought(session, app, customer)
    headers = headers_for(customer)
    record = open_return(client, headers, order)
    path = f"/api/v1/returns/{record['id']}/photos"
    raw = client.post(path, data=make_image("PNG"), content_type="image/png", headers=headers)
    error = assert_error(raw, 415, "unsupported_media_type")
    assert error["details"]["accepted"] == ["multipart/form-data"]
    assert upload(client, headers, record["id"], make_image("PNG")).status_code == 201
