"""REST helpers to create, wait for and delete resources on the simulator."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from simharness import Api, expect, wait_for

SERVER_TIMEOUT = 60


def image_id(api: Api, name: str = "cirros") -> str:
    images = expect(api.get("image", f"/v2/images?name={name}"), 200)["images"]
    assert images, f"no image named {name!r} visible to {api.cloud_name}"
    return images[0]["id"]


def network_id(api: Api, name: str = "private") -> str:
    nets = expect(api.get("network", f"/v2.0/networks?name={name}"), 200)["networks"]
    assert nets, f"no network named {name!r} visible to {api.cloud_name}"
    return nets[0]["id"]


def server(api: Api, sid: str, microversion: str | None = None) -> dict | None:
    resp = api.get("compute", f"/servers/{sid}", microversion=microversion)
    if resp.status_code == 404:
        return None
    return expect(resp, 200)["server"]


def wait_server_status(api: Api, sid: str, status: str, timeout=SERVER_TIMEOUT) -> dict:
    def check():
        s = server(api, sid)
        assert s is not None, f"server {sid} vanished while waiting for {status}"
        if s["status"] == "ERROR":
            raise AssertionError(f"server {sid} went to ERROR: {s.get('fault')}")
        return s if s["status"] == status and not s.get("OS-EXT-STS:task_state") else None

    return wait_for(check, timeout, what=f"server {sid} to be {status}")


def create_server(
    api: Api,
    name: str,
    *,
    flavor: str = "1",
    image: str | None = None,
    network: str | None = None,
    microversion: str | None = None,
    extra: dict | None = None,
    wait: bool = True,
) -> dict:
    body: dict[str, Any] = {
        "name": name,
        "flavorRef": flavor,
        "imageRef": image or image_id(api),
        "networks": [{"uuid": network or network_id(api)}],
    }
    body.update(extra or {})
    resp = api.post("compute", "/servers", {"server": body}, microversion=microversion)
    created = expect(resp, 202)["server"]
    if wait:
        return wait_server_status(api, created["id"], "ACTIVE")
    return created


def delete_server(api: Api, sid: str, wait: bool = True) -> None:
    resp = api.delete("compute", f"/servers/{sid}")
    if resp.status_code == 404:
        return
    expect(resp, 204)
    if wait:
        wait_for(lambda: server(api, sid) is None, SERVER_TIMEOUT,
                 what=f"server {sid} to be deleted")


def volume(api: Api, vid: str, microversion: str | None = None) -> dict | None:
    resp = api.get("block-storage", f"/volumes/{vid}", microversion=microversion)
    if resp.status_code == 404:
        return None
    return expect(resp, 200)["volume"]


def wait_volume_status(api: Api, vid: str, status: str, timeout=60) -> dict:
    def check():
        v = volume(api, vid)
        assert v is not None, f"volume {vid} vanished while waiting for {status}"
        if v["status"].startswith("error"):
            raise AssertionError(f"volume {vid} went to {v['status']}")
        return v if v["status"] == status else None

    return wait_for(check, timeout, what=f"volume {vid} to be {status}")


def create_volume(api: Api, name: str, size: int = 1, wait: bool = True) -> dict:
    resp = api.post("block-storage", "/volumes", {"volume": {"size": size, "name": name}})
    created = expect(resp, 202)["volume"]
    if wait:
        return wait_volume_status(api, created["id"], "available")
    return created


def delete_volume(api: Api, vid: str) -> None:
    resp = api.delete("block-storage", f"/volumes/{vid}")
    if resp.status_code == 404:
        return
    expect(resp, 202)
    wait_for(lambda: volume(api, vid) is None, 60, what=f"volume {vid} to be deleted")


def create_image(api: Api, name: str, data: bytes, visibility: str = "private") -> dict:
    img = expect(
        api.post(
            "image",
            "/v2/images",
            {
                "name": name,
                "disk_format": "raw",
                "container_format": "bare",
                "visibility": visibility,
            },
        ),
        201,
    )
    expect(
        api.put(
            "image",
            f"/v2/images/{img['id']}/file",
            data=data,
            headers={"Content-Type": "application/octet-stream"},
        ),
        204,
    )
    return wait_for(
        lambda: (lambda i: i if i.get("status") == "active" else None)(
            expect(api.get("image", f"/v2/images/{img['id']}"), 200)
        ),
        60,
        what=f"image {img['id']} active",
    )


def delete_image(api: Api, iid: str) -> None:
    resp = api.delete("image", f"/v2/images/{iid}")
    assert resp.status_code in (204, 404), resp.text


def hashes(data: bytes) -> dict:
    return {
        "md5": hashlib.md5(data).hexdigest(),
        "sha512": hashlib.sha512(data).hexdigest(),
        "size": len(data),
    }


def b64(text: str | bytes) -> str:
    if isinstance(text, str):
        text = text.encode()
    return base64.b64encode(text).decode()

