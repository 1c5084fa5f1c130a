"""Glance v2 through the real `openstack` CLI."""

import os

import pytest

import res
from samples import assert_error_like
from simharness import body_of, expect

DEMO = "CloudOne-demo"
ADMIN = "CloudOne"


def image_hash(shown: dict) -> str:
    """OSC shows os_hash_value as hash_value (SDK name) or among properties."""
    for key in ("os_hash_value", "hash_value"):
        if shown.get(key):
            return shown[key]
    props = shown.get("properties") or {}
    if isinstance(props, dict) and props.get("os_hash_value"):
        return props["os_hash_value"]
    raise AssertionError(f"no os_hash_value in {shown}")


@pytest.fixture
def uploaded(osc, demo, tmp_path, name):
    """A ~1 MiB raw image uploaded with `openstack image create --file`."""
    data = os.urandom(1024 * 1024 + 17)
    src = tmp_path / "disk.raw"
    src.write_bytes(data)
    iname = name("img")
    shown = osc(
        DEMO, "image", "create", "--file", src, "--disk-format", "raw",
        "--container-format", "bare", "--private", iname,
    )
    yield {"data": data, "shown": shown, "name": iname, "id": shown["id"]}
    res.delete_image(demo, shown["id"])


def test_image_create_and_save_roundtrip(osc, demo, uploaded, tmp_path):
    shown, data = uploaded["shown"], uploaded["data"]
    want = res.hashes(data)
    assert shown["status"] == "active"
    assert shown["size"] == len(data)
    assert shown["disk_format"] == "raw"
    assert shown["container_format"] == "bare"
    assert shown["visibility"] == "private"
    assert shown["checksum"] == want["md5"]
    assert image_hash(shown) == want["sha512"]

    raw = expect(demo.get("image", f"/v2/images/{uploaded['id']}"), 200)
    assert raw["os_hash_algo"] == "sha512"
    assert raw["os_hash_value"] == want["sha512"]
    assert raw["checksum"] == want["md5"]
    assert raw["owner"] == demo.project_id

    out = tmp_path / "saved.raw"
    osc(DEMO, "image", "save", "--file", out, uploaded["id"], json=False)
    assert out.read_bytes() == data

    resp = demo.get("image", f"/v2/images/{uploaded['id']}/file")
    assert resp.status_code == 200
    assert resp.headers.get("Content-MD5") == want["md5"]
    assert resp.headers.get("Content-Type") == "application/octet-stream"
    assert int(resp.headers["Content-Length"]) == len(data)


def test_image_properties_and_tags(osc, demo, uploaded):
    iid = uploaded["id"]
    osc(DEMO, "image", "set", "--property", "color=blue", "--property",
        "kind=e2e", iid, json=False)
    raw = expect(demo.get("image", f"/v2/images/{iid}"), 200)
    assert raw["color"] == "blue" and raw["kind"] == "e2e"

    osc(DEMO, "image", "unset", "--property", "kind", iid, json=False)
    raw = expect(demo.get("image", f"/v2/images/{iid}"), 200)
    assert "kind" not in raw and raw["color"] == "blue"

    osc(DEMO, "image", "set", "--tag", "e2e-green", iid, json=False)
    assert "e2e-green" in expect(demo.get("image", f"/v2/images/{iid}"), 200)["tags"]
    tagged = osc(DEMO, "image", "list", "--tag", "e2e-green")
    assert [i["ID"] for i in tagged] == [iid]

    osc(DEMO, "image", "unset", "--tag", "e2e-green", iid, json=False)
    assert "e2e-green" not in expect(demo.get("image", f"/v2/images/{iid}"), 200)["tags"]
    assert expect(demo.get("image", "/v2/images?tag=e2e-green"), 200)["images"] == []
    # removing a tag that is not there: 404 like glance
    resp = demo.delete("image", f"/v2/images/{iid}/tags/e2e-green")
    assert_error_like("image/015-images-tag-delete-not-found", resp, body_of(resp))


def test_image_list_filters(osc, demo, uploaded):
    iid, iname = uploaded["id"], uploaded["name"]
    by_name = osc(DEMO, "image", "list", "--name", iname)
    assert [i["ID"] for i in by_name] == [iid]
    private = [i["ID"] for i in osc(DEMO, "image", "list", "--private")]
    assert iid in private
    public = {i["Name"]: i for i in osc(DEMO, "image", "list", "--public")}
    assert "cirros" in public and iid not in [i["ID"] for i in public.values()]
    # another project does not see a private image
    other = [i["ID"] for i in osc("CloudTwo-demo", "image", "list")]
    assert iid not in other
    limited = expect(demo.get("image", "/v2/images?limit=1"), 200)
    assert len(limited["images"]) == 1 and "next" in limited


def test_cirros_is_public_and_active(osc):
    shown = osc(DEMO, "image", "show", "cirros")
    assert shown["visibility"] == "public"
    assert shown["status"] == "active"
    assert 0 < shown["size"] < 1024 * 1024


def test_image_delete(osc, demo, name):
    img = res.create_image(demo, name("img"), b"x" * 4096)
    osc(DEMO, "image", "delete", img["id"], json=False)
    resp = demo.get("image", f"/v2/images/{img['id']}")
    assert_error_like("image/033-images-show-deleted", resp, body_of(resp))
    err = osc.fails(DEMO, "image", "show", img["id"])
    assert img["id"] in err.stderr or "No Image found" in err.stderr, err.stderr


def test_upload_twice_is_conflict(sim, uploaded):
    # own connection: see test_bad_input.py::test_connection_survives_an_early_error_answer
    demo = sim.api("CloudOne-demo", fresh=True)
    resp = demo.put(
        "image", f"/v2/images/{uploaded['id']}/file", data=b"again",
        headers={"Content-Type": "application/octet-stream"},
    )
    assert_error_like("image/011-images-upload-file-again-conflict", resp, body_of(resp))
