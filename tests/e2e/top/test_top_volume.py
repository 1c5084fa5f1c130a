"""Cinder at the federation top, driven by the real `openstack` CLI: volumes in a zone (a
site), attached through Nova at the top, boot from volume, snapshots, types, upload to image,
and microversions forwarded to the sites."""

from __future__ import annotations

import os
import uuid

import pytest

from simharness import wait_for

DEMO = "fedstack-demo"


def uid(kind: str) -> str:
    return f"e2e-{kind}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def image(fed, tmp_path_factory):
    path = tmp_path_factory.mktemp("volimg") / "disk.raw"
    path.write_bytes(os.urandom(64 * 1024))
    return fed.osc(DEMO, "image", "create", "--file", path, "--disk-format", "raw", "--container-format", "bare", uid("img"))


def volume_status(fed, vid: str) -> str:
    return fed.osc(DEMO, "volume", "show", vid)["status"]


def volume(fed, zone: str, *extra: str) -> dict:
    v = fed.osc(DEMO, "volume", "create", "--size", "1", "--availability-zone", zone, *extra, uid("vol"))
    wait_for(lambda: volume_status(fed, v["id"]) == "available", what="volume available")
    return fed.osc(DEMO, "volume", "show", v["id"])


def server(fed, *args: str) -> dict:
    return fed.osc(DEMO, "server", "create", "--flavor", "m1.tiny", "--wait", *args, uid("vm"), timeout=180)


def test_catalog_has_block_storage(fed):
    types = {s["Type"] for s in fed.osc(DEMO, "catalog", "list")}
    assert {"block-storage", "volumev3"} <= types
    zones = {z["Zone Name"] for z in fed.osc(DEMO, "availability", "zone", "list", "--volume")}
    assert zones == {"CloudOne", "CloudTwo", "CloudThree"}


def test_volume_create_in_zone_list_show_update_delete(fed):
    v = volume(fed, "CloudTwo", "--property", "tier=gold")
    assert v["availability_zone"] == "CloudTwo"
    assert v["properties"] == {"tier": "gold"}, "the top's routing marker never shows"
    listed = {x["ID"]: x for x in fed.osc(DEMO, "volume", "list")}
    assert listed[v["id"]]["Status"] == "available"
    fed.osc(DEMO, "volume", "set", "--name", v["name"] + "-renamed", "--property", "k=v", v["id"], json=False)
    shown = fed.osc(DEMO, "volume", "show", v["id"])
    assert shown["name"] == v["name"] + "-renamed"
    assert shown["properties"] == {"tier": "gold", "k": "v"}
    placed = fed.osc(DEMO, "volume", "create", "--size", "1", uid("placed"))
    assert placed["availability_zone"] in {"CloudOne", "CloudTwo", "CloudThree"}
    fed.osc(DEMO, "volume", "delete", v["id"], placed["id"], json=False)
    wait_for(lambda: v["id"] not in {x["ID"] for x in fed.osc(DEMO, "volume", "list")}, what="volume gone from the list")
    err = fed.osc.fails(DEMO, "volume", "show", v["id"])
    assert "No Volume found" in err.stderr or "could not be found" in err.stderr


def test_bad_zone_and_other_tenants(fed):
    err = fed.osc.fails(DEMO, "volume", "create", "--size", "1", "--availability-zone", "Nowhere", uid("bad"))
    assert "Availability zone 'Nowhere' is invalid" in err.stderr
    v = volume(fed, "CloudOne")
    r = fed.admin.get("volume", f"/volumes/{v['id']}")
    assert r.status_code == 200, "an admin sees every project's volume"
    r = fed.demo.post("volume", "/volumes", {"volume": "not an object"})
    assert r.status_code == 400 and r.json()["badRequest"]["code"] == 400
    r = fed.demo.get("volume", f"/volumes/{uuid.uuid4()}")
    assert r.status_code == 404 and "itemNotFound" in r.json()


def test_attach_detach_through_nova_at_the_top(fed, image):
    v = volume(fed, "CloudThree")
    s = server(fed, "--image", image["id"], "--availability-zone", "CloudThree")
    fed.osc(DEMO, "server", "add", "volume", s["id"], v["id"], json=False)
    wait_for(lambda: volume_status(fed, v["id"]) == "in-use", what="volume in-use")
    attachments = fed.osc(DEMO, "volume", "show", v["id"])["attachments"]
    assert attachments[0]["server_id"] == s["id"], "the server's top ID"
    listed = fed.osc(DEMO, "server", "volume", "list", s["id"])
    assert [a["Volume ID"] for a in listed] == [v["id"]]
    shown = fed.osc(DEMO, "server", "show", s["id"])
    assert v["id"] in str(shown["volumes_attached"])
    fed.osc(DEMO, "server", "remove", "volume", s["id"], v["id"], json=False)
    wait_for(lambda: volume_status(fed, v["id"]) == "available", what="volume detached")


def test_cross_site_attach_is_refused_naming_both_sites(fed, image):
    v = volume(fed, "CloudOne")
    s = server(fed, "--image", image["id"], "--availability-zone", "CloudTwo")
    err = fed.osc.fails(DEMO, "server", "add", "volume", s["id"], v["id"])
    assert "400" in err.stderr or "Bad" in err.stderr, err.stderr
    assert "CloudOne" in err.stderr and "CloudTwo" in err.stderr, err.stderr
    assert volume_status(fed, v["id"]) == "available"


def test_boot_from_an_existing_volume_lands_on_its_site(fed, image):
    root = fed.osc(DEMO, "volume", "create", "--size", "1", "--image", image["id"], "--availability-zone", "CloudTwo", uid("root"))
    wait_for(lambda: volume_status(fed, root["id"]) == "available", what="root volume available")
    s = server(fed, "--volume", root["id"])
    assert s["status"] == "ACTIVE", s
    assert s["OS-EXT-AZ:availability_zone"] == "CloudTwo", "placed next to its volume"
    wait_for(lambda: volume_status(fed, root["id"]) == "in-use", what="root volume in-use")
    err = fed.osc.fails(DEMO, "server", "create", "--flavor", "m1.tiny", "--volume", root["id"], "--availability-zone", "CloudOne", uid("vm"))
    assert "CloudTwo" in err.stderr and "CloudOne" in err.stderr, err.stderr


def test_boot_from_image_onto_a_new_volume_adopts_the_volume(fed, image):
    s = server(fed, "--image", image["id"], "--boot-from-volume", "1")
    assert s["status"] == "ACTIVE", s
    zone = s["OS-EXT-AZ:availability_zone"]

    def root_volume():
        vols = fed.demo.get("volume", "/volumes/detail").json()["volumes"]
        return next((x["id"] for x in vols if any(a["server_id"] == s["id"] for a in x["attachments"])), None)

    root = wait_for(root_volume, what="the site-made root volume listed at the top")
    shown = fed.osc(DEMO, "volume", "show", root)
    assert shown["availability_zone"] == zone
    assert shown["attachments"][0]["server_id"] == s["id"]
    assert root in str(fed.osc(DEMO, "server", "show", s["id"])["volumes_attached"])


def test_snapshots_and_volumes_from_them(fed):
    v = volume(fed, "CloudThree")
    snap = fed.osc(DEMO, "volume", "snapshot", "create", "--volume", v["id"], uid("snap"))
    assert snap["volume_id"] == v["id"]
    wait_for(lambda: fed.osc(DEMO, "volume", "snapshot", "show", snap["id"])["status"] == "available", what="snapshot available")
    assert snap["id"] in {x["ID"] for x in fed.osc(DEMO, "volume", "snapshot", "list")}
    clone = fed.osc(DEMO, "volume", "create", "--snapshot", snap["id"], uid("clone"))
    assert clone["availability_zone"] == "CloudThree", "made on the snapshot's site"
    wait_for(lambda: volume_status(fed, clone["id"]) == "available", what="clone available")
    fed.osc(DEMO, "volume", "delete", clone["id"], json=False)
    wait_for(lambda: clone["id"] not in {x["ID"] for x in fed.osc(DEMO, "volume", "list")}, what="clone deleted")
    fed.osc(DEMO, "volume", "snapshot", "delete", snap["id"], json=False)
    wait_for(lambda: snap["id"] not in {x["ID"] for x in fed.osc(DEMO, "volume", "snapshot", "list")}, what="snapshot deleted")


def test_volume_types_are_made_on_a_site_on_demand(fed):
    listed = {t["Name"] for t in fed.osc(DEMO, "volume", "type", "list")}
    assert "__DEFAULT__" in listed
    name = uid("type")
    t = fed.osc("fedstack", "volume", "type", "create", "--property", "tier=gold", name)
    assert t["name"] == name
    err = fed.osc.fails(DEMO, "volume", "type", "create", uid("type"))
    assert "403" in err.stderr or "Policy" in err.stderr, err.stderr
    v = volume(fed, "CloudOne", "--type", name)
    assert v["type"] == name
    site_types = fed.osc("CloudOne", "volume", "type", "list")
    assert name in {x["Name"] for x in site_types}, "the type was made on the volume's site"


def test_upload_to_image_registers_the_image_at_the_top(fed, image):
    v = fed.osc(DEMO, "volume", "create", "--size", "1", "--image", image["id"], "--availability-zone", "CloudTwo", uid("src"))
    wait_for(lambda: volume_status(fed, v["id"]) == "available", what="volume available")
    name = uid("uploaded")
    up = fed.osc(DEMO, "image", "create", "--volume", v["id"], name)
    img_id = up["image_id"]
    shown = wait_for(lambda: (i := fed.osc(DEMO, "image", "show", img_id))["status"] == "active" and i, what="uploaded image active at the top")
    assert shown["name"] == name
    assert img_id in {i["ID"] for i in fed.osc(DEMO, "image", "list")}


@pytest.mark.parametrize("version", ["3.0", "3.40", "3.71"])
def test_microversions_are_forwarded(fed, version):
    v = volume(fed, "CloudOne")
    r = fed.demo.get("volume", f"/volumes/{v['id']}", microversion=version)
    assert r.status_code == 200
    assert r.headers["OpenStack-API-Version"] == f"volume {version}"
    body = r.json()["volume"]
    assert ("volume_type_id" in body) == (version == "3.71")
    shown = fed.osc(DEMO, "--os-volume-api-version", version, "volume", "show", v["id"])
    assert shown["id"] == v["id"]
    r = fed.demo.get("volume", f"/volumes/{v['id']}", microversion="3.72")
    assert r.status_code == 406


def test_a_site_down_keeps_volumes_listed_and_writes_name_the_site(fed):
    v = volume(fed, "CloudThree")
    fed.control.down("CloudThree", "refuse")
    try:
        wait_for(lambda: {x["ID"]: x["Status"] for x in fed.osc(DEMO, "volume", "list")}.get(v["id"]) == "unknown", what="volume unknown while its site is down")
        assert fed.osc(DEMO, "volume", "show", v["id"])["status"] == "unknown", "show falls back to the index"
        err = fed.osc.fails(DEMO, "volume", "delete", v["id"])
        assert "CloudThree" in err.stderr, err.stderr
        err = fed.osc.fails(DEMO, "volume", "create", "--size", "1", "--availability-zone", "CloudThree", uid("x"))
        assert "CloudThree" in err.stderr and "503" in err.stderr, err.stderr
    finally:
        fed.control.up("CloudThree")
    wait_for(lambda: volume_status(fed, v["id"]) == "available", what="volume back once the site answers")
