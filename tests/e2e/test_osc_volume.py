"""Cinder v3 through the real `openstack` CLI."""

import pytest

import res
from samples import assert_error_like, load
from simharness import body_of, expect, field, wait_for

DEMO = "CloudOne-demo"


@pytest.fixture
def volume(osc, demo, name):
    vname = name("vol")
    created = osc(DEMO, "volume", "create", "--size", "1", vname)
    assert created["size"] == 1
    assert created["name"] == vname
    res.wait_volume_status(demo, created["id"], "available")
    yield created
    res.delete_volume(demo, created["id"])


def test_volume_create_list_show(osc, demo, volume):
    vid = volume["id"]
    listed = {v["ID"]: v for v in osc(DEMO, "volume", "list")}
    assert vid in listed
    assert listed[vid]["Status"] == "available"
    assert listed[vid]["Size"] == 1
    assert listed[vid]["Name"] == volume["name"]
    shown = osc(DEMO, "volume", "show", vid)
    assert shown["status"] == "available"
    assert shown["size"] == 1
    assert shown["type"] == "__DEFAULT__"
    assert shown["availability_zone"] == "nova"
    assert field(shown, "bootable") in ("false", False)
    raw = res.volume(demo, vid)
    assert raw["os-vol-tenant-attr:tenant_id"] == demo.project_id
    assert raw["user_id"] == demo.user_id


def test_volume_attach_detach(osc, demo, volume, name):
    vid = volume["id"]
    srv = res.create_server(demo, name("vm"))
    sid = srv["id"]
    try:
        osc(DEMO, "server", "add", "volume", sid, vid, json=False)
        v = wait_for(
            lambda: (lambda x: x if x["status"] == "in-use" else None)(res.volume(demo, vid)),
            60, what="volume in-use",
        )
        assert len(v["attachments"]) == 1
        att = v["attachments"][0]
        assert att["server_id"] == sid
        assert att["volume_id"] == vid
        assert att["device"].startswith("/dev/")
        attached = osc(DEMO, "server", "volume", "list", sid)
        assert [field(a, "Volume ID", "volume_id") for a in attached] == [vid]
        shown = osc(DEMO, "volume", "show", vid)
        assert sid in str(shown["attachments"])
        nova_view = expect(demo.get("compute", f"/servers/{sid}"), 200)["server"]
        assert nova_view["os-extended-volumes:volumes_attached"] == [{"id": vid}]

        # an attached volume cannot be deleted (cinder: 400)
        resp = demo.delete("block-storage", f"/volumes/{vid}")
        assert_error_like("block-storage/039-volumes-delete-in-use", resp, body_of(resp))

        osc(DEMO, "server", "remove", "volume", sid, vid, json=False)
        v = res.wait_volume_status(demo, vid, "available")
        assert v["attachments"] == []
        assert osc(DEMO, "server", "volume", "list", sid) == []
    finally:
        res.delete_server(demo, sid)


def test_volume_type_list(osc):
    types = osc(DEMO, "volume", "type", "list")
    real = load("block-storage/006-types-list")["response"]["body"]["volume_types"]
    assert {t["Name"] for t in types} >= {t["name"] for t in real}
    assert all(field(t, "Is Public", "is_public") for t in types)


def test_snapshot_create_delete(osc, demo, volume, name):
    sname = name("snap")
    snap = osc(DEMO, "volume", "snapshot", "create", "--volume", volume["id"], sname)
    sid = snap["id"]
    assert snap["volume_id"] == volume["id"]
    assert snap["size"] == 1
    wait_for(
        lambda: expect(demo.get("block-storage", f"/snapshots/{sid}"), 200)["snapshot"][
            "status"] == "available",
        60, what="snapshot available",
    )
    assert osc(DEMO, "volume", "snapshot", "show", sid)["status"] == "available"
    listed = [s["ID"] for s in osc(DEMO, "volume", "snapshot", "list")]
    assert sid in listed
    # a volume with snapshots cannot be deleted
    resp = demo.delete("block-storage", f"/volumes/{volume['id']}")
    assert_error_like(
        "block-storage/029-volumes-delete-with-snapshot-conflict", resp, body_of(resp)
    )
    osc(DEMO, "volume", "snapshot", "delete", sid, json=False)
    wait_for(
        lambda: demo.get("block-storage", f"/snapshots/{sid}").status_code == 404,
        60, what="snapshot gone",
    )
    resp = demo.get("block-storage", f"/snapshots/{sid}")
    assert_error_like("block-storage/031-snapshots-show-not-found", resp, body_of(resp))


def test_volume_delete(osc, demo, name):
    created = osc(DEMO, "volume", "create", "--size", "1", name("vol"))
    res.wait_volume_status(demo, created["id"], "available")
    osc(DEMO, "volume", "delete", created["id"], json=False)
    wait_for(lambda: res.volume(demo, created["id"]) is None, 60, what="volume gone")
    resp = demo.get("block-storage", f"/volumes/{created['id']}")
    assert_error_like("block-storage/057-volumes-show-deleted", resp, body_of(resp))


def test_volume_urls_with_and_without_project_id(demo, volume):
    # cinder accepts /v3/{project_id}/volumes and /v3/volumes alike
    root = demo.root("block-storage")
    a = demo.get("block-storage", f"{root}/v3/{demo.project_id}/volumes/{volume['id']}")
    b = demo.get("block-storage", f"{root}/v3/volumes/{volume['id']}")
    assert a.status_code == 200 and b.status_code == 200, (a.text, b.text)
    assert a.json()["volume"]["id"] == b.json()["volume"]["id"] == volume["id"]


def test_volume_quota_show(osc):
    rows = osc(DEMO, "quota", "show", "--volume")
    quotas = {r["Resource"]: r["Limit"] for r in rows}
    real = load("block-storage/043-os-quota-sets-show")["response"]["body"]["quota_set"]
    for key in ("volumes", "snapshots", "gigabytes", "backups", "backup_gigabytes",
                "groups", "per_volume_gigabytes"):
        osc_key = key.replace("_", "-")
        assert quotas.get(osc_key) == real[key], (osc_key, quotas)
