"""Response bodies validate against tempest's response schemas.

Compute and block-storage calls are validated with the schema tempest itself
uses for that call and microversion (see schema_table.py); image calls with
the JSON schema real Glance publishes; network bodies (tempest has no network
schemas) are compared with the real captured samples' shapes.

Microversions used here stay within what tempest 47.0.0 describes (see
tools/check_samples_against_schemas.py KNOWN_TEMPEST_GAPS): hypervisors up to
2.87, volume attachments up to 2.100, snapshots at 3.0, no with_count/usage.
"""

import os

import jsonschema
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

import res
from samples import assert_same_shape, load
from schema_table import schema_for, validate
from simharness import body_of, expect, wait_for


def check(resp, action=None):
    """Validate ``resp`` against its schema; return the parsed body."""
    method = resp.request.method
    where = f"{method} {resp.fed_root_path} (microversion {resp.fed_microversion})"
    assert resp.status_code < 500, f"{where} -> {resp.status_code}: {resp.text[:300]}"
    schema, source = schema_for(
        resp.fed_service, method, resp.fed_root_path, resp.fed_microversion, action
    )
    body = body_of(resp)
    try:
        validate(schema, resp.status_code, body, resp.headers)
    except jsonschema.ValidationError as exc:
        path = "/".join(str(p) for p in exc.absolute_path)
        raise AssertionError(
            f"{where} does not match {source}: at '{path}': {exc.message}"
        ) from None
    except AssertionError as exc:
        raise AssertionError(f"{where} does not match {source}: {exc}") from None
    return body


def public_key():
    key = ed25519.Ed25519PrivateKey.generate()
    return key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    ).decode()


@pytest.fixture(scope="module")
def world(sim):
    """Resources the read-only calls look at (demo project on CloudOne)."""
    demo, admin = sim.api("CloudOne-demo"), sim.api("CloudOne")
    made = {"demo": demo, "admin": admin}
    key = expect(
        demo.post("compute", "/os-keypairs",
                  {"keypair": {"name": "e2e-schema-key", "public_key": public_key()}}),
        200,
    )["keypair"]
    made["keypair"] = key["name"]
    srv = res.create_server(
        demo, "e2e-schema-vm", microversion="2.52",
        extra={"metadata": {"a": "b"}, "tags": ["t1"], "key_name": key["name"]},
    )
    made["server"] = srv["id"]
    vol = res.create_volume(demo, "e2e-schema-vol")
    made["volume"] = vol["id"]
    snap = expect(
        demo.post("block-storage", "/snapshots",
                  {"snapshot": {"volume_id": vol["id"], "name": "e2e-schema-snap"}}),
        202,
    )["snapshot"]
    made["snapshot"] = snap["id"]
    group = expect(
        demo.post("compute", "/os-server-groups",
                  {"server_group": {"name": "e2e-schema-group", "policies": ["affinity"]}}),
        200,
    )["server_group"]
    made["group"] = group["id"]
    img = res.create_image(demo, "e2e-schema-img", os.urandom(4096))
    made["image"] = img["id"]
    vtypes = expect(demo.get("block-storage", "/types"), 200)["volume_types"]
    made["vtype"] = vtypes[0]["id"]
    actions = expect(demo.get("compute", f"/servers/{srv['id']}/os-instance-actions"), 200)
    made["request_id"] = actions["instanceActions"][0]["request_id"]
    wait_for(
        lambda: expect(demo.get("block-storage", f"/snapshots/{snap['id']}"), 200)[
            "snapshot"]["status"] == "available",
        60, what="snapshot available",
    )
    yield made
    demo.delete("block-storage", f"/snapshots/{snap['id']}")
    demo.delete("compute", f"/os-server-groups/{group['id']}")
    demo.delete("compute", f"/os-keypairs/{key['name']}")
    res.delete_image(demo, img["id"])
    res.delete_server(demo, srv["id"], wait=False)
    wait_for(lambda: demo.get("block-storage", f"/snapshots/{snap['id']}").status_code == 404,
             60, what="snapshot deleted")
    res.delete_volume(demo, vol["id"])


SERVER_MVS = [None, "2.3", "2.9", "2.19", "2.26", "2.47", "2.54", "2.57", "2.63",
              "2.71", "2.73", "2.79", "2.89", "2.96", "2.98", "2.100", "2.103"]

# (cloud, service, method, root-relative path, microversion)
READ_CALLS = [
    ("demo", "compute", "/", None),
    ("demo", "compute", "/v2.1/", None),
    *[("demo", "compute", p, mv)
      for p in ("/v2.1/flavors", "/v2.1/flavors/detail", "/v2.1/flavors/1")
      for mv in (None, "2.55", "2.61", "2.103")],
    *[("demo", "compute", p, mv)
      for p in ("/v2.1/os-keypairs", "/v2.1/os-keypairs/{keypair}")
      for mv in (None, "2.2", "2.103")],
    *[("demo", "compute", p, mv)
      for p in ("/v2.1/servers", "/v2.1/servers/detail", "/v2.1/servers/{server}")
      for mv in SERVER_MVS],
    *[("admin", "compute", "/v2.1/servers/{server}", mv) for mv in (None, "2.3", "2.103")],
    ("demo", "compute", "/v2.1/servers/{server}/ips", None),
    ("demo", "compute", "/v2.1/servers/{server}/metadata", None),
    ("demo", "compute", "/v2.1/servers/{server}/tags", "2.26"),
    ("demo", "compute", "/v2.1/servers/{server}/os-interface", None),
    ("demo", "compute", "/v2.1/servers/{server}/os-interface", "2.70"),
    *[("demo", "compute", p, mv)
      for p in ("/v2.1/servers/{server}/os-instance-actions",
                "/v2.1/servers/{server}/os-instance-actions/{request_id}")
      for mv in (None, "2.51", "2.58", "2.62", "2.84", "2.100")],
    *[("demo", "compute", "/v2.1/servers/{server}/os-volume_attachments", mv)
      for mv in (None, "2.70", "2.79", "2.89", "2.100")],
    *[("demo", "compute", "/v2.1/limits", mv) for mv in (None, "2.36", "2.39", "2.57", "2.103")],
    ("demo", "compute", "/v2.1/os-availability-zone", None),
    ("admin", "compute", "/v2.1/os-availability-zone/detail", None),
    *[("admin", "compute", p, mv)
      for p in ("/v2.1/os-hypervisors", "/v2.1/os-hypervisors/detail",
                "/v2.1/os-hypervisors/{hypervisor}")
      for mv in (None, "2.28", "2.33", "2.53")],
    ("admin", "compute", "/v2.1/os-hypervisors/statistics", None),
    *[("admin", "compute", "/v2.1/os-services", mv) for mv in (None, "2.11", "2.53", "2.103")],
    *[("demo", "compute", p, mv)
      for p in ("/v2.1/os-quota-sets/{project}", "/v2.1/os-quota-sets/{project}/detail",
                "/v2.1/os-quota-sets/{project}/defaults")
      for mv in (None, "2.36", "2.57")],
    *[("demo", "compute", p, mv)
      for p in ("/v2.1/os-server-groups", "/v2.1/os-server-groups/{group}")
      for mv in (None, "2.13", "2.64")],
    ("demo", "block-storage", "/", None),
    ("demo", "block-storage", "/v3/", None),
    *[("demo", "block-storage", p, mv)
      for p in ("/v3/{project}/volumes", "/v3/{project}/volumes/detail",
                "/v3/{project}/volumes/{volume}", "/v3/volumes/{volume}")
      for mv in (None, "3.61", "3.63", "3.64", "3.65", "3.69", "3.71")],
    ("demo", "block-storage", "/v3/{project}/types", None),
    ("demo", "block-storage", "/v3/{project}/types/{vtype}", None),
    ("demo", "block-storage", "/v3/{project}/snapshots", None),
    ("demo", "block-storage", "/v3/{project}/snapshots/detail", None),
    ("demo", "block-storage", "/v3/{project}/snapshots/{snapshot}", None),
    ("demo", "block-storage", "/v3/{project}/limits", None),
    ("demo", "block-storage", "/v3/{project}/os-quota-sets/{project}", None),
    ("demo", "block-storage", "/v3/{project}/os-quota-sets/{project}/defaults", None),
    ("demo", "image", "/v2/images", None),
    ("demo", "image", "/v2/images/{image}", None),
]


def _call_id(call):
    cloud, service, path, mv = call
    return f"{cloud}-{service}-{path}-{mv or 'base'}"


@pytest.mark.parametrize("call", READ_CALLS, ids=[_call_id(c) for c in READ_CALLS])
def test_read_call_matches_schema(world, call):
    cloud, service, path, mv = call
    api = world[cloud]
    values = {k: v for k, v in world.items() if isinstance(v, str)}
    values["project"] = api.project_id
    if "{hypervisor}" in path:
        listed = expect(api.get("compute", "/os-hypervisors", microversion=mv), 200)
        values["hypervisor"] = str(listed["hypervisors"][0]["id"])
    resp = api.request("GET", service, path.format(**values), root=True, microversion=mv)
    check(resp)


# ------------------------------------------------------------ write flows
@pytest.mark.parametrize("mv", [None, "2.52", "2.100"])
def test_server_write_calls_match_schemas(demo, mv, name):
    body = {"server": {"name": name("vm"), "flavorRef": "1",
                       "imageRef": res.image_id(demo),
                       "networks": [{"uuid": res.network_id(demo)}]}}
    created = check(demo.post("compute", "/servers", body, microversion=mv))
    sid = created["server"]["id"]
    try:
        res.wait_server_status(demo, sid, "ACTIVE")
        base = f"/servers/{sid}"
        check(demo.post("compute", f"{base}/metadata", {"metadata": {"k1": "v1"}}))
        check(demo.put("compute", f"{base}/metadata", {"metadata": {"k2": "v2"}}))
        check(demo.put("compute", f"{base}/metadata/k3", {"meta": {"k3": "v3"}}))
        check(demo.get("compute", f"{base}/metadata/k3"))
        check(demo.delete("compute", f"{base}/metadata/k3"))
        tmv = "2.100" if mv == "2.100" else "2.26"  # tags exist from 2.26
        check(demo.put("compute", f"{base}/tags", {"tags": ["a", "b"]}, microversion=tmv))
        check(demo.put("compute", f"{base}/tags/c", microversion=tmv))
        # adding an existing tag: 204 and, unlike tempest's update_tag schema
        # says, no Location header (real nova: sample compute/056)
        again = demo.put("compute", f"{base}/tags/c", microversion=tmv)
        assert again.status_code == 204 and not again.content, again.text
        assert "Location" not in again.headers
        check(demo.get("compute", f"{base}/tags/c", microversion=tmv))
        check(demo.delete("compute", f"{base}/tags/c", microversion=tmv))
        check(demo.delete("compute", f"{base}/tags", microversion=tmv))
        check(demo.post("compute", f"{base}/action", {"os-stop": None}, microversion=mv))
        res.wait_server_status(demo, sid, "SHUTOFF")
        check(demo.post("compute", f"{base}/action", {"os-start": None}, microversion=mv))
        res.wait_server_status(demo, sid, "ACTIVE")
        check(demo.post("compute", f"{base}/action", {"reboot": {"type": "SOFT"}},
                        microversion=mv))
        res.wait_server_status(demo, sid, "ACTIVE")
        resp = demo.post("compute", f"{base}/action",
                         {"createImage": {"name": name("snap")}}, microversion=mv)
        snap = check(resp, action="createImage")
        # 2.45+: {"image_id": ...}; before: the Location header (validated)
        image_id = snap["image_id"] if snap else resp.headers["Location"].rsplit("/", 1)[-1]
        res.wait_server_status(demo, sid, "ACTIVE")
        res.delete_image(demo, image_id)
    finally:
        resp = demo.delete("compute", f"/servers/{sid}", microversion=mv)
        check(resp)


@pytest.mark.parametrize("mv", [None, "2.2", "2.92"])
def test_keypair_write_calls_match_schemas(demo, mv, name):
    kname = name("key")
    body = {"keypair": {"name": kname, "public_key": public_key()}}
    if mv:
        body["keypair"]["type"] = "ssh"
    check(demo.post("compute", "/os-keypairs", body, microversion=mv))
    check(demo.delete("compute", f"/os-keypairs/{kname}", microversion=mv))


def test_generated_keypair_matches_schema(demo, name):
    """Before 2.92 nova generates the key pair when no public key is sent."""
    kname = name("key")
    created = check(demo.post("compute", "/os-keypairs", {"keypair": {"name": kname}}))
    assert "BEGIN" in created["keypair"]["private_key"]
    check(demo.delete("compute", f"/os-keypairs/{kname}"))


@pytest.mark.parametrize("mv", [None, "2.64"])
def test_server_group_write_calls_match_schemas(demo, mv, name):
    body = {"server_group": {"name": name("grp")}}
    if mv == "2.64":
        body["server_group"]["policy"] = "anti-affinity"
    else:
        body["server_group"]["policies"] = ["anti-affinity"]
    group = check(demo.post("compute", "/os-server-groups", body, microversion=mv))
    check(demo.delete("compute", f"/os-server-groups/{group['server_group']['id']}",
                      microversion=mv))


@pytest.mark.parametrize("mv", [None, "2.79", "2.100"])
def test_volume_attachment_calls_match_schemas(demo, world, mv, name):
    vol = res.create_volume(demo, name("vol"))
    sid = world["server"]
    try:
        check(demo.post("compute", f"/servers/{sid}/os-volume_attachments",
                        {"volumeAttachment": {"volumeId": vol["id"]}}, microversion=mv))
        res.wait_volume_status(demo, vol["id"], "in-use")
        check(demo.get("compute", f"/servers/{sid}/os-volume_attachments/{vol['id']}",
                       microversion=mv))
        check(demo.get("compute", f"/servers/{sid}/os-volume_attachments", microversion=mv))
        check(demo.get("block-storage", f"/volumes/{vol['id']}"))
        check(demo.get("block-storage", f"/volumes/{vol['id']}", microversion="3.69"))
        check(demo.delete("compute", f"/servers/{sid}/os-volume_attachments/{vol['id']}",
                          microversion=mv))
        res.wait_volume_status(demo, vol["id"], "available")
    finally:
        res.delete_volume(demo, vol["id"])


@pytest.mark.parametrize("mv", [None, "3.63", "3.69"])
def test_volume_write_calls_match_schemas(demo, mv, name):
    vol = check(demo.post("block-storage", "/volumes",
                          {"volume": {"size": 1, "name": name("vol")}}, microversion=mv))
    vid = vol["volume"]["id"]
    try:
        res.wait_volume_status(demo, vid, "available")
        check(demo.put("block-storage", f"/volumes/{vid}",
                       {"volume": {"description": "e2e"}}))
        check(demo.post("block-storage", f"/volumes/{vid}/metadata",
                        {"metadata": {"k": "v"}}))
        check(demo.get("block-storage", f"/volumes/{vid}/metadata"))
        snap = check(demo.post("block-storage", "/snapshots",
                               {"snapshot": {"volume_id": vid, "name": name("snap")}}))
        sid = snap["snapshot"]["id"]
        wait_for(lambda: demo.get("block-storage", f"/snapshots/{sid}").json()[
            "snapshot"]["status"] == "available", 60, what="snapshot available")
        check(demo.delete("block-storage", f"/snapshots/{sid}"))
        wait_for(lambda: demo.get("block-storage", f"/snapshots/{sid}").status_code == 404,
                 60, what="snapshot deleted")
    finally:
        resp = demo.delete("block-storage", f"/volumes/{vid}")
        check(resp)
        wait_for(lambda: res.volume(demo, vid) is None, 60, what="volume deleted")


def test_image_write_calls_match_glance_schema(demo, name):
    img = check(demo.post("image", "/v2/images",
                          {"name": name("img"), "disk_format": "raw",
                           "container_format": "bare"}))
    try:
        patched = demo.request(
            "PATCH", "image", f"/v2/images/{img['id']}",
            data='[{"op": "add", "path": "/e2e_prop", "value": "x"}]',
            headers={"Content-Type": "application/openstack-images-v2.1-json-patch"},
        )
        assert check(patched)["e2e_prop"] == "x"
    finally:
        res.delete_image(demo, img["id"])


# ------------------------------------------------------------------ network
NETWORK_SHAPES = [
    ("network/003-extensions-list", "GET", "/v2.0/extensions", None),
    ("network/004-extensions-show-router", "GET", "/v2.0/extensions/router", None),
    ("network/068-quotas-show", "GET", "/v2.0/quotas/{project}", None),
    ("network/069-quotas-show-details", "GET", "/v2.0/quotas/{project}/details", None),
    ("network/070-quotas-defaults", "GET", "/v2.0/quotas/{project}/default", None),
    ("network/028-security-groups-list", "GET", "/v2.0/security-groups", None),
]


@pytest.mark.parametrize("sample,method,path,body", NETWORK_SHAPES,
                         ids=[s[0] for s in NETWORK_SHAPES])
def test_network_read_shapes_match_real(demo, sample, method, path, body):
    resp = demo.request(method, "network", path.format(project=demo.project_id))
    real = load(sample)["response"]
    assert resp.status_code == real["status"], resp.text[:300]
    assert_same_shape(real["body"], body_of(resp), sample)


def test_network_resource_shapes_match_real(demo, name):
    """Create the resources the capture created; bodies have neutron's shape."""
    cleanup = []
    try:
        def create(sample, path, body, status=201):
            resp = demo.post("network", path, body)
            real = load(sample)["response"]
            assert resp.status_code == real["status"] == status, resp.text[:300]
            got = body_of(resp)
            assert_same_shape(real["body"], got, sample)
            return got

        net = create("network/005-networks-create", "/v2.0/networks",
                     {"network": {"name": name("net"), "description": "e2e"}})["network"]
        cleanup.append(f"/v2.0/networks/{net['id']}")
        shown = demo.get("network", f"/v2.0/networks/{net['id']}")
        assert_same_shape(load("network/009-networks-show")["response"]["body"],
                          body_of(shown), "network show")
        sub = create("network/012-subnets-create", "/v2.0/subnets",
                     {"subnet": {"network_id": net["id"], "name": name("sub"),
                                 "ip_version": 4, "cidr": "192.168.88.0/24"}})["subnet"]
        cleanup.append(f"/v2.0/subnets/{sub['id']}")
        port = create("network/019-ports-create", "/v2.0/ports",
                      {"port": {"network_id": net["id"], "name": name("port")}})["port"]
        cleanup.append(f"/v2.0/ports/{port['id']}")
        sg = create("network/030-security-groups-create", "/v2.0/security-groups",
                    {"security_group": {"name": name("sg"), "description": "e2e"}})
        cleanup.append(f"/v2.0/security-groups/{sg['security_group']['id']}")
        create("network/031-security-group-rules-create", "/v2.0/security-group-rules",
               {"security_group_rule": {
                   "security_group_id": sg["security_group"]["id"],
                   "direction": "ingress", "ethertype": "IPv4", "protocol": "tcp",
                   "port_range_min": 22, "port_range_max": 22,
                   "remote_ip_prefix": "0.0.0.0/0"}})
        router = create("network/040-routers-create", "/v2.0/routers",
                        {"router": {"name": name("router")}})["router"]
        cleanup.append(f"/v2.0/routers/{router['id']}")
        resp = demo.put("network", f"/v2.0/routers/{router['id']}/add_router_interface",
                        {"subnet_id": sub["id"]})
        assert_same_shape(load("network/041-routers-add-interface-subnet")["response"]["body"],
                          expect(resp, 200), "add_router_interface")
        cleanup.append(("PUT", f"/v2.0/routers/{router['id']}/remove_router_interface",
                        {"subnet_id": sub["id"]}))
        public = expect(demo.get("network", "/v2.0/networks?name=public"), 200)["networks"][0]
        resp = demo.put("network", f"/v2.0/routers/{router['id']}",
                        {"router": {"external_gateway_info": {"network_id": public["id"]}}})
        assert_same_shape(load("network/051-routers-set-gateway")["response"]["body"],
                          expect(resp, 200), "router set gateway")
        cleanup.append(("PUT", f"/v2.0/routers/{router['id']}",
                        {"router": {"external_gateway_info": {}}}))
        fip = create("network/052-floatingips-create", "/v2.0/floatingips",
                     {"floatingip": {"floating_network_id": public["id"],
                                     "port_id": port["id"], "description": "e2e"}})
        cleanup.append(f"/v2.0/floatingips/{fip['floatingip']['id']}")
    finally:
        for item in reversed(cleanup):
            if isinstance(item, tuple):
                demo.request(item[0], "network", item[1], json_body=item[2])
            else:
                demo.delete("network", item)
