"""The federation top driven by the real `openstack` CLI: one endpoint over three simulated
sites (and a fourth run as a separate process), as a tenant and an operator would use it."""

from __future__ import annotations

import hashlib
import json
import os
import uuid

import pytest
import requests

from simharness import Api, wait_for

SITES = ["CloudOne", "CloudTwo", "CloudThree"]


def uid(kind: str) -> str:
    return f"e2e-{kind}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def image(fed, tmp_path_factory):
    """A raw image uploaded to the top (on-demand replication)."""
    path = tmp_path_factory.mktemp("img") / "disk.raw"
    path.write_bytes(os.urandom(256 * 1024))
    name = uid("img")
    img = fed.osc("fedstack-demo", "image", "create", "--file", path, "--disk-format", "raw", "--container-format", "bare", name)
    return {"id": img["id"], "name": name, "path": path}


def server_create(fed, name: str, image: dict, *extra: str, cloud: str = "fedstack-demo") -> dict:
    return fed.osc(cloud, "server", "create", "--image", image["id"], "--flavor", "m1.tiny", "--wait", *extra, name, timeout=180)


def test_identity_catalog_zones_flavors(fed):
    tok = fed.osc("fedstack-demo", "token", "issue")
    assert tok["project_id"] and tok["user_id"] and tok["id"]
    types = {s["Type"] for s in fed.osc("fedstack-demo", "catalog", "list")}
    assert {"identity", "compute", "image"} <= types
    zones = {z["Zone Name"]: z["Zone Status"] for z in fed.osc("fedstack-demo", "availability", "zone", "list")}
    assert zones == {s: "available" for s in SITES}
    flavors = {f["Name"] for f in fed.osc("fedstack-demo", "flavor", "list")}
    assert {"m1.tiny", "m1.small"} <= flavors


def test_keypair_create_and_import(fed, tmp_path):
    name = uid("key")
    kp = fed.osc("fedstack-demo", "keypair", "create", "--private-key", tmp_path / "id", name)
    assert kp["name"] == name and kp["fingerprint"]
    assert "PRIVATE KEY" in (tmp_path / "id").read_text()
    public = fed.osc("fedstack-demo", "keypair", "show", "--public-key", name, json=False)
    (tmp_path / "id.pub").write_text(public)
    imported = fed.osc("fedstack-demo", "keypair", "create", "--public-key", tmp_path / "id.pub", name + "-2")
    assert imported["fingerprint"] == kp["fingerprint"]
    names = {k["Name"] for k in fed.osc("fedstack-demo", "keypair", "list")}
    assert {name, name + "-2"} <= names


def test_image_upload_then_save_gives_the_same_bytes(fed, image, tmp_path):
    out = tmp_path / "back.raw"
    fed.osc("fedstack-demo", "image", "save", "--file", out, image["id"], json=False)
    assert out.read_bytes() == image["path"].read_bytes()
    shown = fed.osc("fedstack-demo", "image", "show", image["id"])
    assert shown["status"] == "active"
    assert shown["checksum"] == hashlib.md5(image["path"].read_bytes()).hexdigest()


def test_servers_in_each_zone_and_placed_without_zone(fed, image):
    key = uid("key")
    fed.osc("fedstack-demo", "keypair", "create", key)
    made = {}
    for site in SITES:
        s = server_create(fed, uid(site.lower()), image, "--availability-zone", site, "--key-name", key)
        assert s["status"] == "ACTIVE", s
        assert s["OS-EXT-AZ:availability_zone"] == site
        assert s["key_name"] == key
        made[s["id"]] = site
    placed = server_create(fed, uid("placed"), image)
    assert placed["status"] == "ACTIVE"
    assert placed["OS-EXT-AZ:availability_zone"] in SITES
    made[placed["id"]] = placed["OS-EXT-AZ:availability_zone"]
    # One merged list, answered by the top.
    listed = wait_for(lambda: (ids := {s["ID"] for s in fed.osc("fedstack-demo", "server", "list")}) >= set(made) and ids, what="servers in the merged list")
    assert set(made) <= listed


def test_list_pages_across_sites(fed, image):
    for site in SITES:
        server_create(fed, uid("page"), image, "--availability-zone", site)
    api: Api = fed.demo
    every = [s["id"] for s in api.get("compute", "/servers").json()["servers"]]
    assert len(every) >= 3
    seen, url = [], "/servers?limit=2"
    while url:
        body = api.get("compute", url).json()
        seen += [s["id"] for s in body["servers"]]
        nxt = [l["href"] for l in body.get("servers_links", []) if l["rel"] == "next"]
        url = nxt[0].split("/v2.1", 1)[1] if nxt else None
    assert seen == every, "paging with limit/marker walks the same list, in order, without repeats"


def test_show_stop_start_reboot_delete(fed, image):
    s = server_create(fed, uid("life"), image)
    sid = s["id"]
    fed.osc("fedstack-demo", "server", "stop", sid, json=False)
    wait_for(lambda: fed.osc("fedstack-demo", "server", "show", sid)["status"] == "SHUTOFF", what="SHUTOFF")
    fed.osc("fedstack-demo", "server", "start", sid, json=False)
    wait_for(lambda: fed.osc("fedstack-demo", "server", "show", sid)["status"] == "ACTIVE", what="ACTIVE")
    fed.osc("fedstack-demo", "server", "reboot", "--wait", sid, json=False)
    assert fed.osc("fedstack-demo", "server", "show", sid)["status"] == "ACTIVE"
    fed.osc("fedstack-demo", "server", "delete", "--wait", sid, json=False)
    err = fed.osc.fails("fedstack-demo", "server", "show", sid)
    assert f"No Server found for {sid}" in err.stderr


def test_anti_affinity_group_lands_on_distinct_sites(fed, image):
    group = fed.osc("fedstack-demo", "server", "group", "create", "--policy", "anti-affinity", uid("grp"))
    zones = []
    for _ in SITES:
        s = server_create(fed, uid("anti"), image, "--hint", f"group={group['id']}")
        assert s["status"] == "ACTIVE", s
        zones.append(s["OS-EXT-AZ:availability_zone"])
    assert sorted(zones) == sorted(SITES), "three members, three distinct sites"
    fourth = fed.osc("fedstack-demo", "server", "create", "--image", image["id"], "--flavor", "m1.tiny", "--hint", f"group={group['id']}", uid("anti"))
    failed = wait_for(lambda: (s := fed.osc("fedstack-demo", "server", "show", fourth["id"]))["status"] == "ERROR" and s, what="ERROR")
    assert "No valid host" in str(failed.get("fault"))


def test_a_site_down_keeps_lists_answering(fed, image):
    s = server_create(fed, uid("down"), image, "--availability-zone", "CloudThree")
    fed.control.down("CloudThree", "refuse")
    try:
        wait_for(lambda: {z["Zone Name"]: z["Zone Status"] for z in fed.osc("fedstack-demo", "availability", "zone", "list")}["CloudThree"] == "not available", what="zone down")
        listed = {x["ID"]: x["Status"] for x in fed.osc("fedstack-demo", "server", "list")}
        assert listed[s["id"]] == "UNKNOWN"
        assert fed.osc("fedstack-demo", "server", "show", s["id"])["status"] == "UNKNOWN"
        err = fed.osc.fails("fedstack-demo", "server", "create", "--image", image["id"], "--flavor", "m1.tiny", "--availability-zone", "CloudThree", uid("x"))
        assert "503" in err.stderr and "CloudThree" in err.stderr
        err = fed.osc.fails("fedstack-demo", "server", "stop", s["id"])
        assert "CloudThree" in err.stderr
    finally:
        fed.control.up("CloudThree")
    wait_for(lambda: fed.osc("fedstack-demo", "server", "show", s["id"])["status"] == "ACTIVE", what="back ACTIVE")


def test_tenants_are_isolated(fed, image):
    a = server_create(fed, uid("iso"), image)
    project, user = uid("proj"), uid("user")
    fed.osc("fedstack", "project", "create", project)
    fed.osc("fedstack", "user", "create", "--password", "pw-b", "--project", project, user)
    fed.osc("fedstack", "role", "add", "--project", project, "--user", user, "member", json=False)
    b = Api("b", {"auth": {"auth_url": fed.clouds["fedstack"]["auth"]["auth_url"], "username": user, "password": "pw-b", "project_name": project, "user_domain_name": "Default", "project_domain_name": "Default"}})
    assert b.get("compute", "/servers").json()["servers"] == []
    assert b.get("compute", f"/servers/{a['id']}").status_code == 404
    r = b.delete("compute", f"/servers/{a['id']}")
    assert r.status_code == 404 and "itemNotFound" in r.json()
    r = b.post("compute", f"/servers/{a['id']}/action", {"os-stop": None})
    assert r.status_code == 404
    assert fed.osc("fedstack-demo", "server", "show", a["id"])["status"] == "ACTIVE"
    everyone = {s["ID"] for s in fed.osc("fedstack", "server", "list", "--all-projects")}
    assert a["id"] in everyone, "admins list every project with all_tenants"


@pytest.mark.parametrize(
    "body,status,key",
    [
        (b"{not json", 400, "badRequest"),
        (b'{"server": {"imageRef": "x", "flavorRef": "1", "networks": "auto"}}', 400, "badRequest"),
        (b'{"server": {"name": "x", "imageRef": "x", "flavorRef": {"a": 1}, "networks": "auto"}}', 400, "badRequest"),
        (b'{"server": {"name": "x", "imageRef": "x", "flavorRef": "no-such", "networks": "auto"}}', 400, "badRequest"),
        (b'{"server": {"name": "' + b"x" * 200_000 + b'"}}', 413, None),
    ],
)
def test_bad_input_gets_openstack_errors(fed, body, status, key):
    r = fed.demo.post("compute", "/servers", data=body, headers={"Content-Type": "application/json"})
    assert r.status_code == status, r.text[:300]
    if key:
        assert r.json()[key]["code"] == status


def test_unknown_ids_and_missing_tokens(fed):
    r = fed.demo.get("compute", f"/servers/{uuid.uuid4()}")
    assert r.status_code == 404 and "itemNotFound" in r.json()
    url = fed.demo.endpoint("compute") + "/servers"
    r = requests.get(url, timeout=10)
    assert r.status_code == 401 and r.json()["error"]["code"] == 401
    assert r.headers["WWW-Authenticate"].startswith("Keystone uri=")
    r = requests.get(url, headers={"X-Auth-Token": "garbage"}, timeout=10)
    assert r.status_code == 401


def test_a_separate_sim_process_is_a_site(fed, image, external_site):
    listed = fed.fedstack("site", "list", "--os-cloud", "fedstack", "-f", "json")
    assert listed.returncode == 0, listed.stderr
    names = {s["Name"]: s for s in json.loads(listed.stdout)}
    assert "CloudExt" in names
    s = server_create(fed, uid("ext"), image, "--availability-zone", "CloudExt")
    assert s["status"] == "ACTIVE" and s["OS-EXT-AZ:availability_zone"] == "CloudExt"
    fed.osc("fedstack-demo", "server", "stop", s["id"], json=False)
    wait_for(lambda: fed.osc("fedstack-demo", "server", "show", s["id"])["status"] == "SHUTOFF", what="SHUTOFF")
    external_site.down("CloudExt", "refuse")
    try:
        wait_for(lambda: {x["ID"]: x["Status"] for x in fed.osc("fedstack-demo", "server", "list")}.get(s["id"]) == "UNKNOWN", what="UNKNOWN while the process's site is down")
    finally:
        external_site.up("CloudExt")
    # The top sees the site again at its next health check.
    wait_for(lambda: fed.osc("fedstack-demo", "server", "show", s["id"])["status"] == "SHUTOFF", what="back SHUTOFF once the site answers")
    r = fed.fedstack("site", "delete", "CloudExt", "--os-cloud", "fedstack")
    assert r.returncode != 0 and "still holds" in r.stderr, "a site with servers is not deleted"
    fed.osc("fedstack-demo", "server", "delete", "--wait", s["id"], json=False)
    wait_for(lambda: fed.fedstack("site", "delete", "CloudExt", "--os-cloud", "fedstack").returncode == 0, what="site deleted once empty")
