"""Bad requests get the real services' error answers (status, envelope,
headers) and never a 5xx.

Most cases replay the exact request of a captured real sample (IDs of the
capture cloud replaced by the simulator's) and compare with that sample's
answer; the others build a request of the same kind and compare with the
closest sample's envelope.
"""

import json
import re
import socket
import time

import pytest

import res
import samples
from samples import assert_error_like, replay
from simharness import body_of, expect

CAPTURE_SERVERS = (
    "78b4cbd1-d0e9-47f6-a9f2-d656c6b02517",
    "dab94797-926c-42dd-87fd-6ca88bcbf320",
)
CAPTURE_IMAGE = "4e991859-5476-4b79-9e5b-3afe206b9efb"


@pytest.fixture(scope="module")
def seeded_ids(sim):
    demo, admin = sim.api("CloudOne-demo"), sim.api("CloudOne")
    return {
        samples.CAPTURE_MEMBER_PROJECT: demo.project_id,
        samples.CAPTURE_ADMIN_PROJECT: admin.project_id,
        samples.CAPTURE_PUBLIC_IMAGE: res.image_id(demo),
        samples.CAPTURE_SHARED_NETWORK: res.network_id(demo),
    }


@pytest.fixture(scope="module")
def demo_server(sim):
    demo = sim.api("CloudOne-demo")
    s = res.create_server(demo, "e2e-bad-input-vm")
    yield s
    res.delete_server(demo, s["id"], wait=False)


@pytest.fixture(scope="module")
def demo_image(sim):
    demo = sim.api("CloudOne-demo")
    img = res.create_image(demo, "e2e-bad-input-img", b"\0" * 2048)
    yield img
    res.delete_image(demo, img["id"])


def check_replay(sim, name, ids, fresh=False, **kw):
    api = sim.api(samples.cloud_for(name), fresh=fresh)
    resp = replay(api, name, ids, **kw)
    assert_error_like(name, resp, body_of(resp))


# Samples whose requests only reference seeded resources (project, cirros,
# private network) or IDs that do not exist.
REPLAYABLE = [
    "identity/031-users-list-forbidden-as-member",
    "identity/032-projects-list-no-token",
    "identity/033-projects-show-not-found-as-admin",
    "compute/009-flavors-show-not-found",
    "compute/019-keypairs-show-not-found",
    "compute/024-servers-create-bad-flavor",
    "compute/025-servers-create-bad-image",
    "compute/026-servers-create-malformed-json",
    "compute/027-servers-create-missing-name",
    "compute/028-servers-create-no-networks-mv2.103",
    "compute/041-servers-list-bad-marker",
    "compute/086-os-hypervisors-statistics-mv2.103-removed-as-admin",
    "compute/096-os-server-groups-create-bad-policy",
    "compute/102-os-server-groups-show-not-found",
    "compute/106-servers-show-unknown",
    "compute/108-servers-detail-changes-since-bad",
    "compute/109-servers-delete-unknown",
    "compute/110-servers-list-no-token",
    "compute/112-os-hypervisors-forbidden-as-member",
    "compute/113-servers-list-unsupported-microversion",
    "block-storage/002-version-v3-no-token",
    "block-storage/047-volumes-show-not-found",
    "block-storage/048-volumes-create-bad-size",
    "block-storage/049-volumes-create-missing-size",
    "block-storage/050-volumes-create-malformed-json",
    "block-storage/051-volumes-create-too-large-over-quota",
    "block-storage/052-volumes-list-unsupported-microversion",
    "block-storage/053-volumes-list-no-token",
    "block-storage/054-volumes-list-other-project-url",
    "network/050-networks-create-external-forbidden",
    "network/072-networks-show-not-found",
    "network/073-ports-show-not-found",
    "network/074-networks-create-malformed-json",
    "network/075-networks-create-unknown-attribute",
    "network/076-networks-list-no-token",
    "image/026-images-show-not-found",
    "image/030-images-create-bad-disk-format",
    "image/031-images-list-no-token",
]


@pytest.mark.parametrize("sample", REPLAYABLE)
def test_replayed_bad_request(sim, seeded_ids, sample):
    check_replay(sim, sample, seeded_ids)


def test_bad_token_is_401(sim, seeded_ids):
    check_replay(sim, "compute/111-servers-list-bad-token", seeded_ids,
                 token="gAAAAABnot-a-valid-token-e2e")


# Samples about a server of the caller (the capture server -> ours).
SERVER_BOUND = [
    "compute/051-server-metadata-item-show-not-found",
    "compute/052-server-metadata-item-key-mismatch",
    "compute/059-server-tag-check-not-found-mv2.26",
    "compute/060-server-tags-list-mv2.1-not-found",
    "compute/069-server-action-reboot-bad-type",
    "compute/070-server-action-unknown",
    "compute/115-servers-patch-unrouted-method",
    "compute/131-servers-os-volume_attachments-delete-not-attached",
]


@pytest.mark.parametrize("sample", SERVER_BOUND)
def test_replayed_bad_server_request(sim, seeded_ids, demo_server, sample):
    ids = dict(seeded_ids, **{c: demo_server["id"] for c in CAPTURE_SERVERS})
    check_replay(sim, sample, ids)


IMAGE_BOUND = [
    "image/015-images-tag-delete-not-found",
    "image/027-images-update-read-only-attribute",
    "image/028-images-update-bad-op",
    "image/029-images-update-wrong-content-type",
]


@pytest.mark.parametrize("sample", IMAGE_BOUND)
def test_replayed_bad_image_request(sim, seeded_ids, demo_image, sample):
    ids = dict(seeded_ids, **{CAPTURE_IMAGE: demo_image["id"]})
    # own connection: see test_connection_survives_an_early_error_answer
    check_replay(sim, sample, ids, fresh=True)


# ------------------------------------------------------------ wrong types
def test_flavorref_as_object(demo, seeded_ids):
    body = {"server": {"name": "e2e-bad", "imageRef": res.image_id(demo),
                       "flavorRef": {"id": "1"},
                       "networks": [{"uuid": res.network_id(demo)}]}}
    resp = demo.post("compute", "/servers", body)
    # nova's JSON-schema validation error, like a missing field
    assert_error_like("compute/027-servers-create-missing-name", resp, body_of(resp))


def test_volume_size_not_a_number(demo):
    resp = demo.post("block-storage", "/volumes", {"volume": {"size": "abc", "name": "e2e"}})
    assert_error_like("block-storage/048-volumes-create-bad-size", resp, body_of(resp))


def test_network_admin_state_not_a_boolean(demo):
    resp = demo.post("network", "/v2.0/networks",
                     {"network": {"name": "e2e-bad", "admin_state_up": "maybe"}})
    # neutron-lib's convert_to_boolean raises InvalidInput (400), like a bad CIDR
    assert_error_like("network/013-subnets-create-bad-cidr", resp, body_of(resp))


@pytest.mark.parametrize(
    "raw",
    [
        "null",
        "[]",
        '{"server": null}',
        '{"server": []}',
        '{"server": {"name": 42, "imageRef": "x", "flavorRef": "1"}}',
        '{"server": {"name": "e2e", "imageRef": "x", "flavorRef": "1", "networks": "none"}}',
        '{"server": {"name": "", "imageRef": "x", "flavorRef": "1"}}',
        '{"server": {"name": "e2e", "flavorRef": "1", "metadata": {"k": 1}}}',
        '\xff\xfe not utf-8',
    ],
    ids=["null", "array", "server-null", "server-array", "name-int", "networks-str",
         "name-empty", "metadata-int", "not-utf8"],
)
def test_garbage_server_bodies_are_400(demo, raw):
    resp = demo.request("POST", "compute", "/servers", data=raw.encode("latin-1"),
                        headers={"Content-Type": "application/json"})
    assert resp.status_code == 400, f"{resp.status_code}: {resp.text[:300]}"
    assert list(body_of(resp)) == ["badRequest"], resp.text[:300]


# ------------------------------------------------- another project's things
def test_other_projects_server_is_404(demo, admin, seeded_ids, name):
    s = res.create_server(admin, name("admin-vm"), wait=False)
    try:
        resp = demo.get("compute", f"/servers/{s['id']}")
        assert_error_like("compute/106-servers-show-unknown", resp, body_of(resp))
        resp = demo.delete("compute", f"/servers/{s['id']}")
        assert_error_like("compute/109-servers-delete-unknown", resp, body_of(resp))
        resp = demo.post("compute", f"/servers/{s['id']}/action", {"os-stop": None})
        assert resp.status_code == 404, resp.text
        # still there for its owner
        assert res.server(admin, s["id"]) is not None
    finally:
        res.delete_server(admin, s["id"])


def test_other_projects_volume_is_404(demo, admin, name):
    v = res.create_volume(admin, name("admin-vol"), wait=False)
    try:
        resp = demo.get("block-storage", f"/volumes/{v['id']}")
        assert_error_like("block-storage/047-volumes-show-not-found", resp, body_of(resp))
    finally:
        res.wait_volume_status(admin, v["id"], "available")
        res.delete_volume(admin, v["id"])


def test_other_projects_network_is_404(demo, admin, name):
    net = expect(admin.post("network", "/v2.0/networks", {"network": {"name": name("adm")}}), 201)
    try:
        resp = demo.get("network", f"/v2.0/networks/{net['network']['id']}")
        assert_error_like("network/072-networks-show-not-found", resp, body_of(resp))
    finally:
        expect(admin.delete("network", f"/v2.0/networks/{net['network']['id']}"), 204)


def test_other_projects_private_image_is_404(demo, admin, name):
    img = res.create_image(admin, name("adm-img"), b"a" * 1024)
    try:
        resp = demo.get("image", f"/v2/images/{img['id']}")
        assert_error_like("image/026-images-show-not-found", resp, body_of(resp))
    finally:
        res.delete_image(admin, img["id"])


# ------------------------------------------------------------- big bodies
def test_oversized_body_to_nova_is_413(sim):
    """nova's api-paste pipeline runs oslo.middleware's sizelimit filter
    (max_request_body_size 114688) before authtoken and the API router. It is
    a @webob.dec.wsgify middleware, so its HTTPRequestEntityTooLarge comes
    back as webob's own error page: JSON (Accept: application/json) shaped
    like compute/115's {"message", "code": "413 Request Entity Too Large",
    "title"}, not a nova fault body."""
    demo = sim.api("CloudOne-demo", fresh=True)  # the sim may close this connection
    big = json.dumps({"server": {"name": "x" * (2 * 1024 * 1024)}})
    resp = demo.request("POST", "compute", "/servers", data=big,
                        headers={"Content-Type": "application/json"})
    assert resp.status_code == 413, f"{resp.status_code}: {resp.text[:300]}"
    body = body_of(resp)
    webob_404 = samples.load("compute/115-servers-patch-unrouted-method")["response"]["body"]
    assert isinstance(body, dict) and set(body) == set(webob_404), body
    assert body["code"] == "413 Request Entity Too Large", body
    assert body["title"] == "Request Entity Too Large", body
    assert body["message"].startswith("Request is too large."), body


def test_body_just_under_novas_limit_is_parsed(demo):
    """A 100 KiB body is below the limit, so nova validates it: 400."""
    body = json.dumps({"server": {"name": "x" * (100 * 1024), "flavorRef": "1"}})
    resp = demo.request("POST", "compute", "/servers", data=body,
                        headers={"Content-Type": "application/json"})
    assert resp.status_code == 400, f"{resp.status_code}: {resp.text[:300]}"


# ------------------------------------------------------------- keep-alive
EARLY_ERRORS = [
    # (service, method, path, content type, body): answered without needing
    # the body (bad content type, unknown resource, validation)
    ("image", "PATCH", "/v2/images/{image}", "application/json", b"[]"),
    ("image", "PUT", "/v2/images/{image}/file", "application/octet-stream", b"again"),
    ("image", "PUT", "/v2/images/00000000-0000-4000-8000-000000000000/file",
     "application/octet-stream", b"data"),
    ("compute", "POST", "/servers", "application/json", b'{"server": {"name": 1}}'),
    ("block-storage", "POST", "/volumes", "application/json", b'{"volume": {"size": "x"}}'),
    ("network", "POST", "/v2.0/networks", "application/json", b'{"network": {"colour": 1}}'),
]


@pytest.mark.parametrize("service,method,path,ctype,body", EARLY_ERRORS,
                         ids=[f"{e[0]}-{e[1]}-{e[2].split('/')[-1]}" for e in EARLY_ERRORS])
def test_connection_survives_an_early_error_answer(
    demo, demo_image, service, method, path, ctype, body
):
    """HTTP clients (requests/keystoneauth, used by OSC and the SDK) send the
    headers and the body of a request separately and reuse the connection.
    Answering an error without reading the body must leave the keep-alive
    connection usable, as eventlet/uwsgi do for the real services; otherwise
    the client's next call fails with "Remote end closed connection"."""
    url = demo.base(service) + path.format(image=demo_image["id"])
    m = re.match(r"http://([^/:]+):(\d+)(/.*)", url)
    host, port, target = m.group(1), int(m.group(2)), m.group(3)
    with socket.create_connection((host, port), timeout=10) as sock:
        head = (
            f"{method} {target} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Accept: application/json\r\nX-Auth-Token: {demo.token}\r\n"
            f"Content-Type: {ctype}\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        sock.sendall(head)
        time.sleep(0.2)  # the body arrives after the headers, as with requests
        try:
            sock.sendall(body)
            first = _read_response(sock)
            assert 400 <= first < 500, first
            sock.sendall(
                f"GET {demo.root('identity')[len(f'http://{host}:{port}'):]}/v3 "
                f"HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: application/json\r\n\r\n".encode()
            )
            second = _read_response(sock)
        except OSError as exc:
            pytest.fail(f"{method} {target}: the connection was closed after the "
                        f"error answer ({exc!r})")
        assert second == 200, f"next request on the same connection: {second}"


def _read_response(sock) -> int:
    """Read one HTTP/1.1 response (Content-Length bodies); return its status."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionResetError("closed before a response")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length, chunked = 0, False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
        if name.strip().lower() == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    while chunked and not rest.endswith(b"0\r\n\r\n"):
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionResetError("closed inside a chunked response")
        rest += chunk
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionResetError("closed inside a response body")
        rest += chunk
    return status
