"""Nova v2.1 through the real `openstack` CLI."""

import base64
import hashlib
import os

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

import res
from samples import load
from simharness import expect, field, wait_for

DEMO = "CloudOne-demo"
ADMIN = "CloudOne"

# OSC `quota show` row names for nova's quota_set keys
OSC_COMPUTE_QUOTA_NAMES = {
    "cores": "cores",
    "injected_file_content_bytes": "injected-file-size",
    "injected_file_path_bytes": "injected-path-size",
    "injected_files": "injected-files",
    "instances": "instances",
    "key_pairs": "key-pairs",
    "metadata_items": "properties",
    "ram": "ram",
    "server_group_members": "server-group-members",
    "server_groups": "server-groups",
}


def nova_fingerprint(public_key: str) -> str:
    """What nova.crypto.generate_fingerprint computes (MD5 of the key blob)."""
    blob = base64.b64decode(public_key.split()[1])
    raw = hashlib.md5(blob).hexdigest()
    return ":".join(raw[i : i + 2] for i in range(0, len(raw), 2))


def osc_server_create(osc, cloud, name, *extra, wait_api=None):
    """`openstack server create`. Without ``wait_api`` the CLI's own --wait
    (it polls every 5 s); with it, no --wait and the test polls that API."""
    created = osc(
        cloud, "server", "create", "--image", "cirros", "--flavor", "m1.tiny",
        "--network", "private", *([] if wait_api else ["--wait"]), *extra, name,
    )
    if wait_api:
        res.wait_server_status(wait_api, created["id"], "ACTIVE")
    return created


@pytest.fixture
def cleanup_servers(demo, admin):
    ids = []
    yield ids
    for api, sid in ids:
        res.delete_server(api, sid, wait=False)


# ---------------------------------------------------------------- flavors
def test_flavor_list_has_novas_default_flavors(osc):
    flavors = {f["Name"]: f for f in osc(DEMO, "flavor", "list")}
    expected = {"m1.tiny": "1", "m1.small": "2", "m1.medium": "3",
                "m1.large": "4", "m1.xlarge": "5"}
    for fname, fid in expected.items():
        assert fname in flavors, sorted(flavors)
        assert str(flavors[fname]["ID"]) == fid


def test_flavor_show_matches_the_real_flavor(osc):
    real = load("compute/006-flavors-show")["response"]["body"]["flavor"]
    shown = osc(DEMO, "flavor", "show", "m1.tiny")
    assert shown["id"] == real["id"] == "1"
    assert shown["name"] == real["name"]
    assert shown["ram"] == real["ram"]
    assert shown["disk"] == real["disk"]
    assert shown["vcpus"] == real["vcpus"]
    assert field(shown, "os-flavor-access:is_public", "is_public") is True


def test_flavor_show_unknown_fails(osc):
    err = osc.fails(DEMO, "flavor", "show", "no-such-flavor-e2e")
    assert "no-such-flavor-e2e" in err.stderr


# ---------------------------------------------------------------- keypairs
def test_keypair_create_generated(osc, demo, tmp_path, name):
    kname = name("key")
    priv_path = tmp_path / "id_e2e"
    created = osc(DEMO, "keypair", "create", "--private-key", priv_path, kname)
    try:
        private = serialization.load_ssh_private_key(priv_path.read_bytes(), None)
        public = private.public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        ).decode()
        assert created["fingerprint"] == nova_fingerprint(public)
        raw = expect(demo.get("compute", f"/os-keypairs/{kname}"), 200)["keypair"]
        assert raw["public_key"].split()[:2] == public.split()[:2]
        assert raw["fingerprint"] == created["fingerprint"]
        listed = {k["Name"]: k for k in osc(DEMO, "keypair", "list")}
        assert listed[kname]["Fingerprint"] == created["fingerprint"]
    finally:
        osc(DEMO, "keypair", "delete", kname, json=False)
    assert demo.get("compute", f"/os-keypairs/{kname}").status_code == 404


def test_keypair_create_with_public_key(osc, tmp_path, name):
    kname = name("key")
    key = ed25519.Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    ).decode() + " e2e@test"
    pub_path = tmp_path / "id.pub"
    pub_path.write_text(public + "\n")
    created = osc(DEMO, "keypair", "create", "--public-key", pub_path, kname)
    try:
        assert created["fingerprint"] == nova_fingerprint(public)
        assert created["name"] == kname
        # duplicate name -> conflict
        err = osc.fails(DEMO, "keypair", "create", "--public-key", pub_path, kname)
        assert "409" in err.stderr or "already exists" in err.stderr, err.stderr
    finally:
        osc(DEMO, "keypair", "delete", kname, json=False)


# ---------------------------------------------------------------- servers
def test_server_lifecycle(osc, demo, name, cleanup_servers):
    sname = name("vm")
    created = osc_server_create(osc, DEMO, sname)
    sid = created["id"]
    cleanup_servers.append((demo, sid))
    assert created["status"] == "ACTIVE"
    assert created["name"] == sname
    assert "private" in str(created["addresses"]), created["addresses"]

    listed = {s["ID"]: s for s in osc(DEMO, "server", "list")}
    assert sid in listed
    assert listed[sid]["Status"] == "ACTIVE"
    assert listed[sid]["Name"] == sname
    assert "private" in str(listed[sid]["Networks"])

    shown = osc(DEMO, "server", "show", sid)
    assert shown["status"] == "ACTIVE"
    assert "m1.tiny" in str(shown["flavor"])
    assert "cirros" in str(shown["image"])
    ip = demo.get("compute", f"/servers/{sid}/ips").json()["addresses"]["private"][0]["addr"]
    assert ip.startswith("10."), ip

    osc(DEMO, "server", "stop", sid, json=False)
    res.wait_server_status(demo, sid, "SHUTOFF")
    # stopping a stopped server is a conflict
    err = osc.fails(DEMO, "server", "stop", sid)
    assert "409" in err.stderr or "vm_state stopped" in err.stderr, err.stderr

    osc(DEMO, "server", "start", sid, json=False)
    res.wait_server_status(demo, sid, "ACTIVE")

    osc(DEMO, "server", "reboot", "--wait", sid, json=False)
    assert res.server(demo, sid)["status"] == "ACTIVE"

    events = osc(DEMO, "server", "event", "list", sid)
    actions = [field(e, "Action", "action") for e in events]
    for wanted in ("create", "stop", "start", "reboot"):
        assert wanted in actions, actions

    osc(DEMO, "server", "delete", "--wait", sid, json=False)
    assert res.server(demo, sid) is None
    err = osc.fails(DEMO, "server", "show", sid)
    assert "No Server found" in err.stderr or "404" in err.stderr, err.stderr


def test_server_with_properties_tags_key_and_user_data(
    osc, demo, admin, name, tmp_path, cleanup_servers
):
    kname, sname = name("key"), name("vm")
    key = ed25519.Ed25519PrivateKey.generate()
    pub = tmp_path / "k.pub"
    pub.write_text(
        key.public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        ).decode()
    )
    osc(DEMO, "keypair", "create", "--public-key", pub, kname)
    user_data = tmp_path / "user-data"
    user_data.write_text("#!/bin/sh\necho e2e > /tmp/e2e\n")
    try:
        created = osc_server_create(
            osc, DEMO, sname,
            "--os-compute-api-version", "2.52",
            "--property", "purpose=e2e", "--property", "owner=fedstack",
            "--tag", "e2e-a", "--tag", "e2e-b",
            "--key-name", kname, "--user-data", user_data,
            wait_api=demo,
        )
        sid = created["id"]
        cleanup_servers.append((demo, sid))
        shown = osc(DEMO, "--os-compute-api-version", "2.52", "server", "show", sid)
        props = shown["properties"]
        if isinstance(props, str):  # older OSC formats "k='v', ..."
            assert "purpose='e2e'" in props and "owner='fedstack'" in props, props
        else:
            assert props == {"purpose": "e2e", "owner": "fedstack"}
        assert sorted(shown["tags"]) == ["e2e-a", "e2e-b"]
        assert shown["key_name"] == kname

        # metadata and tags through the API as well
        meta = expect(demo.get("compute", f"/servers/{sid}/metadata"), 200)
        assert meta == {"metadata": {"purpose": "e2e", "owner": "fedstack"}}
        tags = expect(demo.get("compute", f"/servers/{sid}/tags", microversion="2.26"), 200)
        assert sorted(tags["tags"]) == ["e2e-a", "e2e-b"]
        listed = expect(demo.get("compute", "/servers?tags=e2e-a", microversion="2.26"), 200)
        assert sid in [s["id"] for s in listed["servers"]]

        # user data is visible to the admin from 2.3 on, base64 as sent
        raw = expect(admin.get("compute", f"/servers/{sid}", microversion="2.3"), 200)["server"]
        assert raw["OS-EXT-SRV-ATTR:user_data"] == res.b64(user_data.read_text())
        assert raw["key_name"] == kname
    finally:
        osc(DEMO, "keypair", "delete", kname, json=False)


def test_server_image_create_matches_the_disk(
    osc, demo, control, name, cleanup_servers
):
    sname, iname = name("vm"), name("snap")
    created = osc_server_create(osc, DEMO, sname, wait_api=demo)
    sid = created["id"]
    cleanup_servers.append((demo, sid))

    # the server's disk starts as a copy of the image
    cirros = expect(demo.get("image", f"/v2/images/{res.image_id(demo)}"), 200)
    disk = control.disk_sha512("CloudOne", sid)
    assert disk["size"] >= cirros["size"]

    # write known bytes, then snapshot: the image must hold exactly them
    data = os.urandom(96 * 1024) + b"fedstack-e2e"
    control.put_disk("CloudOne", sid, data)
    disk = control.disk_sha512("CloudOne", sid)
    want = res.hashes(data)
    assert disk == {"sha512": want["sha512"], "size": want["size"]}
    assert control.disk("CloudOne", sid) == data

    image = osc(DEMO, "server", "image", "create", "--wait", "--name", iname, sid)
    iid = image["id"]
    try:
        raw = expect(demo.get("image", f"/v2/images/{iid}"), 200)
        assert raw["status"] == "active"
        assert raw["name"] == iname
        assert raw["size"] == disk["size"]
        assert raw["os_hash_algo"] == "sha512"
        assert raw["os_hash_value"] == disk["sha512"]
        assert raw["checksum"] == want["md5"]
        assert raw.get("image_type") == "snapshot"
        assert raw.get("instance_uuid") == sid
        blob = demo.get("image", f"/v2/images/{iid}/file")
        assert blob.status_code == 200
        assert blob.content == data
    finally:
        res.delete_image(demo, iid)


def test_anti_affinity_server_group(osc, demo, admin, name, cleanup_servers):
    gname = name("group")
    group = osc(DEMO, "server", "group", "create", "--policy", "anti-affinity", gname)
    gid = group["id"]
    try:
        assert "anti-affinity" in str(field(group, "policy", "policies"))
        listed = osc(DEMO, "server", "group", "list")
        assert gid in [g["ID"] for g in listed]

        sids = []
        for i in range(2):
            s = osc_server_create(osc, DEMO, f"{gname}-{i}", "--hint", f"group={gid}",
                                  wait_api=demo)
            sids.append(s["id"])
            cleanup_servers.append((demo, s["id"]))
        hosts = {
            res.server(admin, sid)["OS-EXT-SRV-ATTR:host"] for sid in sids
        }
        assert len(hosts) == 2, f"anti-affinity members share a host: {hosts}"
        members = osc(DEMO, "server", "group", "show", gid)["members"]
        assert sorted(sids) == sorted(
            members if isinstance(members, list) else members.replace(",", " ").split()
        )
    finally:
        for api, sid in list(cleanup_servers):
            res.delete_server(api, sid)
        cleanup_servers.clear()
        osc(DEMO, "server", "group", "delete", gid, json=False)
    assert demo.get("compute", f"/os-server-groups/{gid}").status_code == 404


# ---------------------------------------------------------------- other
def test_availability_zone_list(osc):
    zones = osc(DEMO, "availability", "zone", "list", "--compute")
    nova = [z for z in zones if z["Zone Name"] == "nova"]
    assert nova, zones
    assert nova[0]["Zone Status"] == "available"


def test_hypervisors(osc, admin):
    hypervisors = osc(ADMIN, "hypervisor", "list")
    assert len(hypervisors) >= 2, "anti-affinity needs at least two hosts"
    first = hypervisors[0]
    shown = osc(ADMIN, "hypervisor", "show", first["ID"])
    assert shown["hypervisor_hostname"] == first["Hypervisor Hostname"]
    assert shown["state"] == "up"
    assert shown["status"] == "enabled"

    stats = osc(ADMIN, "hypervisor", "stats", "show")
    assert stats["count"] == len(hypervisors)
    assert stats["vcpus"] > 0 and stats["memory_mb"] > 0

    # removed from 2.88 on, as in real nova
    resp = admin.get("compute", "/os-hypervisors/statistics", microversion="2.88")
    assert resp.status_code == 404


def test_hypervisors_forbidden_for_member(osc):
    err = osc.fails(DEMO, "hypervisor", "list")
    assert "403" in err.stderr, err.stderr


def test_compute_service_list(osc):
    services = osc(ADMIN, "compute", "service", "list")
    computes = [s for s in services if s["Binary"] == "nova-compute"]
    assert len(computes) >= 2
    assert all(s["State"] == "up" and s["Status"] == "enabled" for s in computes)
    assert {s["Binary"] for s in services} >= {"nova-compute", "nova-scheduler", "nova-conductor"}


def test_quota_show_matches_novas_defaults(osc):
    rows = osc(DEMO, "quota", "show", "--compute")
    quotas = {r["Resource"]: r["Limit"] for r in rows}
    real = load("compute/089-os-quota-sets-show")["response"]["body"]["quota_set"]
    for key, osc_name in OSC_COMPUTE_QUOTA_NAMES.items():
        assert quotas.get(osc_name) == real[key], (osc_name, quotas)


def test_server_build_is_observable(demo, name, cleanup_servers):
    """Right after POST /servers the server is BUILD (like nova), then ACTIVE."""
    created = res.create_server(demo, name("vm"), wait=False)
    cleanup_servers.append((demo, created["id"]))
    first = res.server(demo, created["id"])
    assert first["status"] == "BUILD", first["status"]
    res.wait_server_status(demo, created["id"], "ACTIVE")


def test_server_list_is_scoped_to_the_project(demo, admin, name, cleanup_servers):
    s = res.create_server(admin, name("admin-vm"), wait=False)
    cleanup_servers.append((admin, s["id"]))
    demo_ids = [x["id"] for x in expect(demo.get("compute", "/servers"), 200)["servers"]]
    assert s["id"] not in demo_ids
    wait_for(lambda: res.server(admin, s["id"])["status"] == "ACTIVE", 60,
             what="admin server ACTIVE")
