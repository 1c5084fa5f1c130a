"""Cold migration of servers between sites, against real processes: a `fedstack sim` with three
sites and a `fedstack serve` top (fixed port and data directory) that the tests SIGKILL and
restart while the sites live on. Migrations are driven with the `fedstack migration` CLI and the
/fed/v1 API; disks are written and read through the sims' control API."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
import pathlib
import random
import re
import signal
import socket
import subprocess
import threading
import time

import pytest
import yaml

from simharness import Api, Control, load_clouds, wait_for

REPO = pathlib.Path(__file__).resolve().parents[3]
BIN = pathlib.Path(os.environ.get("FEDSTACK_BIN", REPO / "target" / "debug" / "fedstack"))
SITES = ["MigOne", "MigTwo", "MigThree"]
MIB = 1024 * 1024
FINAL = {"done", "rolled_back", "cancelled", "failed"}


class Process:
    """A fedstack process that prints a ready line."""

    def __init__(self, args: list[str], workdir: pathlib.Path, ready: str, log: str, timeout: float = 60):
        self.stderr_path = workdir / log
        self.lines: list[str] = []
        self._ready = threading.Event()
        self.proc = subprocess.Popen([str(BIN), *args], cwd=workdir, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=open(self.stderr_path, "ab"), text=True)
        threading.Thread(target=self._read, args=(ready,), daemon=True).start()
        if not self._ready.wait(timeout):
            self.stop()
            raise RuntimeError(f"{args[0]} not ready in {timeout}s: {self.lines} {self.stderr_path.read_text()[-2000:]}")

    def _read(self, ready: str) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)
            if line.startswith(ready):
                self.ready_line = line
                self._ready.set()

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mig:
    """The sims, the (restartable) top, and ways to talk to them."""

    def __init__(self, workdir: pathlib.Path):
        self.workdir = workdir
        (workdir / "sites.yaml").write_text(yaml.safe_dump({"sites": [{"name": s} for s in SITES], "timing": {"build_ms": 200, "action_ms": 100, "image_ms": 100, "volume_ms": 100}}))
        self.sim = Process(["sim", "--config", "sites.yaml", "--clouds-yaml", "sims.yaml"], workdir, "fedstack sim ready:", "sim.log")
        self.control = Control(re.search(r"control: (\S+)", self.sim.ready_line).group(1))
        port = free_port()
        self.top_url = f"http://127.0.0.1:{port}"
        (workdir / "top.yaml").write_text(yaml.safe_dump({"listen": f"127.0.0.1:{port}", "data_dir": str(workdir / "data"), "health_interval_ms": 500, "sync_interval_ms": 500, "site_timeout_ms": 5000}))
        clouds = yaml.safe_load((workdir / "sims.yaml").read_text())
        clouds["clouds"]["fedstack"] = {"auth": {"auth_url": f"{self.top_url}/identity/v3", "username": "admin", "password": "secret", "project_name": "admin", "user_domain_name": "Default", "project_domain_name": "Default"}, "auth_type": "password", "region_name": "RegionOne", "identity_api_version": 3, "interface": "public"}
        self.clouds_yaml = workdir / "clouds.yaml"
        self.clouds_yaml.write_text(yaml.safe_dump(clouds))
        self.clouds = load_clouds(self.clouds_yaml)
        self.top: Process | None = None
        self.start_top()
        for s in SITES:
            auth_url = self.clouds[s]["auth"]["auth_url"]
            r = self.fedstack("site", "create", s, "--auth-url", auth_url, "--username", "admin", "--password", "secret", "--project-name", "admin")
            assert r.returncode == 0, r.stderr
        self.wait_sites_up()
        self.sites = {s: Api(s, self.clouds[s]) for s in SITES}
        # The suite makes more servers and volumes than the services' default quotas (10
        # instances, 10 volumes), which the top enforces over all sites together; deletes
        # finish on the sites later, so admin gets room rather than waiting for each.
        admin = self.admin.project_id
        r = self.admin.put("compute", f"/os-quota-sets/{admin}", {"quota_set": {"instances": 200, "cores": 400, "ram": 1024000}})
        assert r.status_code == 200, r.text
        r = self.admin.put("volume", f"/os-quota-sets/{admin}", {"quota_set": {"volumes": 200, "snapshots": 200, "gigabytes": 2000}})
        assert r.status_code == 200, r.text
        # Servers go on a top network (central IPAM), made on each site when a port there needs it.
        net = self.admin.post("network", "/v2.0/networks", {"network": {"name": "private"}}).json()["network"]
        r = self.admin.post("network", "/v2.0/subnets", {"subnet": {"network_id": net["id"], "cidr": "10.1.0.0/16", "ip_version": 4, "name": "private-subnet"}})
        assert r.status_code == 201, r.text
        self.nets = {s: net["id"] for s in SITES}
        self.flavor = next(f["id"] for f in self.admin.get("compute", "/flavors").json()["flavors"] if f["name"] == "m1.tiny")
        img = self.admin.post("image", "/v2/images", {"name": "mig-base", "disk_format": "raw", "container_format": "bare"}).json()
        r = self.admin.request("PUT", "image", f"/v2/images/{img['id']}/file", data=os.urandom(64 * 1024), headers={"Content-Type": "application/octet-stream"})
        assert r.status_code == 204, r.text
        self.image = img["id"]
        r = self.admin.post("compute", "/os-keypairs", {"keypair": {"name": "mig-key"}})
        assert r.status_code in (200, 201), r.text
        self.ips = itertools.count(random.randrange(0, 200) * 250)

    def start_top(self) -> None:
        self.top = Process(["serve", "--config", "top.yaml", "--admin-password", "secret"], self.workdir, "fedstack serve ready:", "top.log")
        self.admin = Api("fedstack", self.clouds["fedstack"])

    def restart_top(self) -> None:
        self.start_top()
        self.wait_sites_up()

    def wait_sites_up(self) -> None:
        def up():
            r = self.fedstack("site", "list", "-f", "json")
            return r.returncode == 0 and all(s["State"] == "up" for s in json.loads(r.stdout)) and len(json.loads(r.stdout)) == len(SITES)
        wait_for(up, timeout=60, what="sites up at the top")

    def fedstack(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        env = dict(os.environ, OS_CLIENT_CONFIG_FILE=str(self.clouds_yaml))
        return subprocess.run([str(BIN), *args, "--os-cloud", "fedstack"], capture_output=True, text=True, env=env, cwd=self.workdir, timeout=timeout)

    def fed(self, method: str, path: str, body=None):
        return self.admin.request(method, "compute", f"{self.top_url}/fed/v1{path}", json_body=body)

    def reset_faults(self) -> None:
        for s in SITES:
            assert not self.control.reset(s)

    # -- servers -----------------------------------------------------------
    def site_copies(self, top_id: str) -> dict[str, list[dict]]:
        """The servers carrying `top_id` as their routing marker, per site."""
        out = {}
        for s, api in self.sites.items():
            servers = api.get("compute", "/servers/detail?all_tenants=1", microversion="2.96").json()["servers"]
            out[s] = [x for x in servers if x["metadata"].get("fedstack_top_id") == top_id]
        return out

    def site_server(self, top_id: str) -> tuple[str, dict]:
        copies = {s: c for s, c in self.site_copies(top_id).items() if c}
        assert len(copies) == 1 and len(next(iter(copies.values()))) == 1, f"one copy of {top_id}: {copies}"
        site, [server] = next(iter(copies.items()))
        return site, server

    def boot(self, site: str, disk: bytes | None = None, name: str = "vm") -> dict:
        n = next(self.ips)
        ip = f"10.1.{100 + n // 250 % 150}.{2 + n % 250}"
        body = {"server": {"name": name, "imageRef": self.image, "flavorRef": self.flavor, "availability_zone": site, "networks": [{"uuid": self.nets[site], "fixed_ip": ip}], "metadata": {"role": "db", "name": name}, "tags": ["mig", name], "key_name": "mig-key", "user_data": base64.b64encode(b"#!/bin/sh\necho hi\n").decode()}}
        r = self.admin.post("compute", "/servers", body, microversion="2.52")
        assert r.status_code == 202, r.text
        sid = r.json()["server"]["id"]
        wait_for(lambda: self.show(sid)["status"] == "ACTIVE", timeout=60, what=f"server {sid} ACTIVE")
        _, server = self.site_server(sid)
        if disk is not None:
            self.control.put_disk(site, server["id"], disk)
        mac = server["addresses"]["private"][0]["OS-EXT-IPS-MAC:mac_addr"]
        return {"id": sid, "site": site, "site_id": server["id"], "ip": ip, "mac": mac, "sha512": self.control.disk_sha512(site, server["id"])["sha512"]}

    def show(self, sid: str) -> dict:
        r = self.admin.get("compute", f"/servers/{sid}", microversion="2.96")
        assert r.status_code == 200, r.text
        return r.json()["server"]

    # -- migrations --------------------------------------------------------
    def start(self, sid: str, dest: str, **extra) -> dict:
        r = self.fed("POST", "/migrations", {"migration": {"server_id": sid, "destination": dest, **extra}})
        assert r.status_code in (200, 202), r.text
        return r.json()["migration"]

    def migration(self, mid: str) -> dict:
        r = self.fed("GET", f"/migrations/{mid}")
        assert r.status_code == 200, r.text
        return r.json()["migration"]

    def settle(self, mid: str, timeout: float = 180) -> dict:
        return wait_for(lambda: (m := self.migration(mid))["state"] in FINAL and m, timeout=timeout, interval=0.5, what=f"migration {mid} to end")

    def assert_one_copy_routed(self, server: dict) -> str:
        """Exactly one copy exists, the top routes to it, and it runs; its site."""
        site, copy = self.site_server(server["id"])
        shown = wait_for(lambda: (s := self.show(server["id"]))["OS-EXT-AZ:availability_zone"] == site and s, timeout=30, what="the top to route to the copy")
        assert shown["status"] in ("ACTIVE", "SHUTOFF"), shown
        return site

    def stop(self) -> None:
        if self.top:
            self.top.stop()
        self.sim.stop()


@pytest.fixture(scope="module")
def mig(tmp_path_factory):
    m = Mig(tmp_path_factory.mktemp("fedstack-mig"))
    try:
        yield m
    finally:
        m.stop()
        for log in ("top.log", "sim.log"):
            panics = [l for l in (m.workdir / log).read_text(errors="replace").splitlines() if "panicked" in l]
            assert not panics, f"{log}: {panics}"


@pytest.fixture(autouse=True)
def clean_faults(mig):
    mig.reset_faults()
    yield
    mig.reset_faults()


def test_a_running_server_moves_with_its_disk_address_and_metadata(mig):
    disk = os.urandom(200 * MIB)
    want = hashlib.sha512(disk).hexdigest()
    s = mig.boot("MigOne", disk, name="big")
    assert s["sha512"] == want
    r = mig.fedstack("migration", "start", s["id"], "--destination", "MigTwo", "--wait", "-f", "json")
    assert r.returncode == 0, r.stderr
    assert "MiB/s" in r.stderr, "--wait draws a progress bar with bytes and rate"
    m = json.loads(r.stdout)
    assert m["state"] == "done" and m["bytes_moved"] == len(disk) == m["bytes_total"]
    site, copy = mig.site_server(s["id"])
    assert site == "MigTwo", "the source is gone, the destination holds the only copy"
    assert mig.control.disk_sha512("MigTwo", copy["id"])["sha512"] == want
    shown = mig.show(s["id"])
    assert shown["id"] == s["id"] and shown["status"] == "ACTIVE"
    assert shown["OS-EXT-AZ:availability_zone"] == "MigTwo"
    [addr] = shown["addresses"]["private"]
    assert (addr["addr"], addr["OS-EXT-IPS-MAC:mac_addr"]) == (s["ip"], s["mac"])
    assert shown["metadata"] == {"role": "db", "name": "big"}
    assert sorted(shown["tags"]) == ["big", "mig"] and shown["key_name"] == "mig-key"
    detail = mig.migration(m["id"])
    assert [x["state"] for x in detail["steps"]] == ["done"] * 10
    assert any("sha512 verified" in e["message"] for e in detail["events"])
    # The temporary images are gone from both sites.
    for site_name in ("MigOne", "MigTwo"):
        names = [i["name"] for i in mig.sites[site_name].get("image", "/v2/images").json()["images"]]
        assert not [n for n in names if n.startswith("fedstack-migration-")], names
    metrics = mig.admin.session.get(f"{mig.top_url}/metrics").text
    assert re.search(r'fedstack_jobs\{type="migration",state="done"\} [1-9]', metrics), metrics
    assert 'fedstack_job_duration_seconds_count{type="migration",outcome="done"}' in metrics


def test_a_shutoff_server_arrives_shut_off(mig):
    s = mig.boot("MigOne", os.urandom(MIB), name="off")
    mig.admin.post("compute", f"/servers/{s['id']}/action", {"os-stop": None})
    wait_for(lambda: mig.show(s["id"])["status"] == "SHUTOFF", what="SHUTOFF")
    m = mig.settle(mig.start(s["id"], "MigThree")["id"])
    assert m["state"] == "done", m
    assert mig.assert_one_copy_routed(s) == "MigThree"
    wait_for(lambda: mig.show(s["id"])["status"] == "SHUTOFF", what="still SHUTOFF on the destination")


def test_the_same_server_twice_is_409_others_run_in_parallel(mig):
    servers = [mig.boot("MigOne", os.urandom(4 * MIB), name=f"par{i}") for i in range(3)]
    mig.control.latency("MigTwo", 200)
    first = mig.start(servers[0]["id"], "MigTwo", idempotency_key=f"k-{servers[0]['id']}")
    again = mig.fed("POST", "/migrations", {"migration": {"server_id": servers[0]["id"], "destination": "MigThree"}})
    assert again.status_code == 409, again.text
    assert first["id"] in again.json()["conflictingRequest"]["message"]
    same = mig.fed("POST", "/migrations", {"migration": {"server_id": servers[0]["id"], "destination": "MigTwo", "idempotency_key": f"k-{servers[0]['id']}"}})
    assert same.status_code == 200 and same.json()["migration"]["id"] == first["id"]
    ids = [first["id"]] + [mig.start(s["id"], "MigTwo")["id"] for s in servers[1:]]
    overlap = wait_for(lambda: sum(mig.migration(i)["state"] == "running" for i in ids) >= 2, timeout=60, interval=0.2, what="two migrations running at once")
    assert overlap
    for i in ids:
        assert mig.settle(i)["state"] == "done"
    for s in servers:
        assert mig.assert_one_copy_routed(s) == "MigTwo"
    listed = mig.fed("GET", "/migrations?state=done").json()["migrations"]
    assert set(ids) <= {m["id"] for m in listed}
    bad = mig.fed("GET", "/migrations?state=nope")
    assert bad.status_code == 400 and "badRequest" in bad.json()


def test_destination_failing_mid_transfer_rolls_back(mig):
    s = mig.boot("MigOne", os.urandom(8 * MIB), name="dstfail")
    mig.control.add_failure("MigThree", "/image/v2/images", "PUT", rate=1.0, status=500)
    r = mig.fedstack("migration", "start", s["id"], "--destination", "MigThree", "--wait", "-f", "json")
    assert r.returncode != 0
    assert "rolled_back" in r.stderr and "MigThree" in r.stderr, r.stderr
    m = json.loads(r.stdout)
    assert m["state"] == "rolled_back" and "MigThree" in m["error"], m
    assert mig.assert_one_copy_routed(s) == "MigOne"
    assert mig.show(s["id"])["status"] == "ACTIVE", "the source runs again"
    made_here = f"fedstack-migration-{m['id']}"
    for site in ("MigOne", "MigThree"):
        ports = mig.sites[site].get("network", "/v2.0/ports").json()["ports"]
        assert not [p for p in ports if p["name"].startswith(made_here)]
        images = mig.sites[site].get("image", "/v2/images").json()["images"]
        assert not [i for i in images if i["name"] == made_here], "snapshot and copy are deleted"


def test_source_going_down_mid_way_rolls_back_once_it_returns(mig):
    s = mig.boot("MigOne", os.urandom(8 * MIB), name="srcdown")
    mig.control.latency("MigTwo", 400)
    mid = mig.start(s["id"], "MigTwo")["id"]
    wait_for(lambda: mig.migration(mid)["step"] in ("ports", "boot"), timeout=60, interval=0.1, what="the migration past its transfer")
    mig.control.down("MigOne")
    m = wait_for(lambda: (m := mig.migration(mid))["state"] in ("rolling_back", "rolled_back") and m, timeout=120, interval=0.5, what="rollback")
    assert "MigOne" in m["error"], m
    mig.control.up("MigOne")
    m = mig.settle(mid, timeout=180)
    assert m["state"] == "rolled_back", m
    assert mig.assert_one_copy_routed(s) == "MigOne"
    wait_for(lambda: mig.show(s["id"])["status"] == "ACTIVE", what="the source restarted")


def test_cancel_mid_transfer_rolls_back(mig):
    s = mig.boot("MigOne", os.urandom(16 * MIB), name="cancel")
    mig.control.latency("MigThree", 700)
    mid = mig.start(s["id"], "MigThree")["id"]
    wait_for(lambda: mig.migration(mid)["step"] == "transfer", timeout=60, interval=0.1, what="the transfer")
    r = mig.fedstack("migration", "cancel", mid, "--wait", "-f", "json")
    assert r.returncode != 0 and "cancelled by request" in r.stderr, r.stderr
    m = mig.migration(mid)
    assert m["state"] == "cancelled" and m["error"] == "cancelled by request"
    assert mig.assert_one_copy_routed(s) == "MigOne"
    assert mig.show(s["id"])["status"] == "ACTIVE"
    again = mig.fed("POST", f"/migrations/{mid}/cancel")
    assert again.status_code == 409, again.text


@pytest.mark.timeout(1500)
def test_sigkill_in_each_step_ends_done_or_rolled_back_with_one_copy(mig):
    steps = ["preflight", "stop", "snapshot", "transfer", "volumes", "ports", "boot", "switch", "power", "cleanup"]
    hit = []
    for step in steps:
        if step == "volumes":
            # Only a server with volumes has work in this step.
            s = _boot_from_volume(mig, "MigOne", f"kill-{step}", os.urandom(MIB), os.urandom(MIB))
        else:
            s = mig.boot("MigOne", os.urandom(2 * MIB), name=f"kill-{step}")
        if step == "power":
            mig.admin.post("compute", f"/servers/{s['id']}/action", {"os-stop": None})
            wait_for(lambda: mig.show(s["id"])["status"] == "SHUTOFF", what="SHUTOFF")
        for site in ("MigOne", "MigTwo"):
            mig.control.latency(site, 300)
        mid = mig.start(s["id"], "MigTwo")["id"]
        if step in ("switch", "power", "cleanup"):
            # These steps make few site calls: slower sites widen their window.
            wait_for(lambda: mig.migration(mid)["step"] in ("boot", None), timeout=120, interval=0.05, what="step boot")
            for site in ("MigOne", "MigTwo"):
                mig.control.latency(site, 1500)
        wait_for(lambda: mig.migration(mid)["step"] in (step, None), timeout=120, interval=0.02, what=f"step {step}")
        at = mig.migration(mid)["step"]
        mig.top.kill()
        hit.append(at)
        mig.reset_faults()
        mig.restart_top()
        m = mig.settle(mid, timeout=180)
        assert m["state"] in ("done", "rolled_back"), m
        site = mig.assert_one_copy_routed(s)
        assert site == ("MigTwo" if m["state"] == "done" else "MigOne")
        assert at is None or any(e["kind"] == "resumed" for e in m["events"]), m["events"]
        for top_vol in (s.get("root"), s.get("data")):
            if top_vol:
                copies = wait_for(lambda: [(k, c) for k, v in _site_volumes_of(mig, top_vol).items() for c in v if c["status"] != "deleting"], what="volume copies settled")
                assert [k for k, _ in copies] == [site], f"one copy of volume {top_vol}, beside its server: {copies}"
        # Free the quota of the tenant's project on the sites for the next round.
        assert mig.admin.delete("compute", f"/servers/{s['id']}").status_code == 204
        wait_for(lambda: mig.admin.get("compute", f"/servers/{s['id']}").status_code == 404, what="server deleted")
    assert len(set(hit) - {None}) >= 9, f"killed in steps {hit}"
    assert "volumes" in hit, f"killed in steps {hit}"


def _site_ports_with(mig, site: str, mac: str) -> list[dict]:
    ports = mig.sites[site].get("network", "/v2.0/ports").json()["ports"]
    return [p for p in ports if p["mac_address"] == mac]


def test_a_server_on_a_top_network_keeps_its_top_port_address_mac_and_groups(mig):
    net = mig.admin.post("network", "/v2.0/networks", {"network": {"name": f"mig-top-{random.randrange(10**6)}"}}).json()["network"]
    r = mig.admin.post("network", "/v2.0/subnets", {"subnet": {"network_id": net["id"], "cidr": "10.77.0.0/24", "ip_version": 4, "name": "mig-top-sub"}})
    assert r.status_code == 201, r.text
    sg = mig.admin.post("network", "/v2.0/security-groups", {"security_group": {"name": f"mig-web-{net['id'][:8]}"}}).json()["security_group"]
    r = mig.admin.post("network", "/v2.0/security-group-rules", {"security_group_rule": {"security_group_id": sg["id"], "direction": "ingress", "protocol": "tcp", "port_range_min": 443, "port_range_max": 443}})
    assert r.status_code == 201, r.text
    port = mig.admin.post("network", "/v2.0/ports", {"port": {"network_id": net["id"], "fixed_ips": [{"ip_address": "10.77.0.42"}], "security_groups": [sg["id"]]}}).json()["port"]
    body = {"server": {"name": "topnet", "imageRef": mig.image, "flavorRef": mig.flavor, "availability_zone": "MigOne", "networks": [{"port": port["id"]}]}}
    r = mig.admin.post("compute", "/servers", body, microversion="2.52")
    assert r.status_code == 202, r.text
    sid = r.json()["server"]["id"]
    wait_for(lambda: mig.show(sid)["status"] == "ACTIVE", timeout=60, what="server ACTIVE")
    [on_one] = _site_ports_with(mig, "MigOne", port["mac_address"])
    assert on_one["fixed_ips"][0]["ip_address"] == "10.77.0.42"
    assert not _site_ports_with(mig, "MigTwo", port["mac_address"])

    r = mig.fedstack("migration", "start", sid, "--destination", "MigTwo", "--wait", "-f", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["state"] == "done"
    assert mig.assert_one_copy_routed({"id": sid}) == "MigTwo"

    # The destination site holds the port with the top's address and MAC, bound to the new
    # server and in the site's copy of the top's group; the source no longer has it.
    [on_two] = _site_ports_with(mig, "MigTwo", port["mac_address"])
    _, copy = mig.site_server(sid)
    assert on_two["fixed_ips"][0]["ip_address"] == "10.77.0.42" and on_two["device_id"] == copy["id"]
    [site_sg_id] = on_two["security_groups"]
    site_sg = mig.sites["MigTwo"].get("network", f"/v2.0/security-groups/{site_sg_id}").json()["security_group"]
    assert site_sg["name"] == sg["name"]
    assert any(r_["port_range_min"] == 443 for r_ in site_sg["security_group_rules"]), site_sg
    wait_for(lambda: not _site_ports_with(mig, "MigOne", port["mac_address"]), timeout=30, what="the source port gone")

    # At the top: the same port, address and MAC on the top network, now in MigTwo's zone.
    shown = mig.show(sid)
    [addr] = shown["addresses"][net["name"]]
    assert (addr["addr"], addr["OS-EXT-IPS-MAC:mac_addr"]) == ("10.77.0.42", port["mac_address"])
    top_port = mig.admin.get("network", f"/v2.0/ports/{port['id']}").json()["port"]
    assert top_port["device_id"] == sid and top_port["device_owner"] == "compute:MigTwo"
    assert top_port["fixed_ips"][0]["ip_address"] == "10.77.0.42"
    assert mig.admin.delete("compute", f"/servers/{sid}").status_code == 204
    wait_for(lambda: mig.admin.get("compute", f"/servers/{sid}").status_code == 404, what="server deleted")


def test_a_failed_migration_of_a_top_network_server_leaves_its_port_on_the_source(mig):
    net = mig.admin.post("network", "/v2.0/networks", {"network": {"name": f"mig-rb-{random.randrange(10**6)}"}}).json()["network"]
    assert mig.admin.post("network", "/v2.0/subnets", {"subnet": {"network_id": net["id"], "cidr": "10.78.0.0/24", "ip_version": 4}}).status_code == 201
    body = {"server": {"name": "topnet-rb", "imageRef": mig.image, "flavorRef": mig.flavor, "availability_zone": "MigOne", "networks": [{"uuid": net["id"]}]}}
    r = mig.admin.post("compute", "/servers", body, microversion="2.52")
    assert r.status_code == 202, r.text
    sid = r.json()["server"]["id"]
    wait_for(lambda: mig.show(sid)["status"] == "ACTIVE", timeout=60, what="server ACTIVE")
    [addr] = mig.show(sid)["addresses"][net["name"]]
    mac = addr["OS-EXT-IPS-MAC:mac_addr"]
    # The destination refuses every server create: the boot step fails after the ports step.
    mig.control.add_failure("MigThree", "/compute/v2.1/servers", "POST", rate=1.0, status=400)
    m = mig.settle(mig.start(sid, "MigThree")["id"])
    assert m["state"] == "rolled_back", m
    assert not _site_ports_with(mig, "MigThree", mac), "rollback removes the destination's piece"
    [still] = _site_ports_with(mig, "MigOne", mac)
    assert still["fixed_ips"][0]["ip_address"] == addr["addr"]
    assert mig.assert_one_copy_routed({"id": sid}) == "MigOne"
    assert mig.admin.delete("compute", f"/servers/{sid}").status_code == 204


# -- volumes -----------------------------------------------------------------
def _site_volumes_of(mig, top_id: str) -> dict[str, list[dict]]:
    """The volumes carrying `top_id` as their routing marker, per site."""
    out = {}
    for s, api in mig.sites.items():
        vols = api.get("block-storage", "/volumes/detail?all_tenants=1").json()["volumes"]
        out[s] = [v for v in vols if v["metadata"].get("fedstack_top_id") == top_id]
    return out


def _boot_from_volume(mig, site: str, name: str, root_data: bytes, data: bytes) -> dict:
    """A server on `site` booted from a new volume, with a data volume attached; the guest
    has written `root_data` on its root disk and `data` on the data volume."""
    body = {"server": {"name": name, "flavorRef": mig.flavor, "availability_zone": site, "networks": [{"uuid": mig.nets[site]}], "metadata": {"role": "bfv"},
                       "block_device_mapping_v2": [{"boot_index": 0, "uuid": mig.image, "source_type": "image", "destination_type": "volume", "volume_size": 1, "delete_on_termination": True}]}}
    r = mig.admin.post("compute", "/servers", body, microversion="2.67")
    assert r.status_code == 202, r.text
    sid = r.json()["server"]["id"]
    wait_for(lambda: mig.show(sid)["status"] == "ACTIVE", timeout=60, what="server ACTIVE")
    r = mig.admin.post("block-storage", "/volumes", {"volume": {"size": 1, "name": f"{name}-data", "availability_zone": site, "metadata": {"tier": "gold"}}})
    assert r.status_code == 202, r.text
    vol = r.json()["volume"]["id"]
    wait_for(lambda: mig.admin.get("block-storage", f"/volumes/{vol}").json()["volume"]["status"] == "available", what="data volume available")
    r = mig.admin.post("compute", f"/servers/{sid}/os-volume_attachments", {"volumeAttachment": {"volumeId": vol}}, microversion="2.79")
    assert r.status_code == 200, r.text
    wait_for(lambda: mig.admin.get("block-storage", f"/volumes/{vol}").json()["volume"]["status"] == "in-use", what="data volume in-use")
    _, server = mig.site_server(sid)
    mig.control.put_disk(site, server["id"], root_data)
    [[data_copy]] = [c for c in _site_volumes_of(mig, vol).values() if c]
    mig.control.put_volume(site, data_copy["id"], data)
    root = next(a["id"] for a in mig.show(sid)["os-extended-volumes:volumes_attached"] if a["id"] != vol)
    return {"id": sid, "root": root, "data": vol}


def test_a_volume_backed_server_moves_with_its_root_and_data_volumes(mig):
    root_data, data = os.urandom(3 * MIB), os.urandom(5 * MIB)
    s = _boot_from_volume(mig, "MigOne", "bfv", root_data, data)
    r = mig.fedstack("migration", "start", s["id"], "--destination", "MigThree", "--wait", "-f", "json")
    assert r.returncode == 0, r.stderr
    m = json.loads(r.stdout)
    assert m["state"] == "done", m
    assert m["bytes_moved"] == m["bytes_total"] >= len(root_data) + len(data)
    site, copy = mig.site_server(s["id"])
    assert site == "MigThree"
    # The server boots from the moved root volume, whose bytes are the guest's.
    assert mig.control.disk_sha512("MigThree", copy["id"])["sha512"] == hashlib.sha512(root_data).hexdigest()
    shown = mig.show(s["id"])
    assert shown["image"] == "" and shown["OS-EXT-AZ:availability_zone"] == "MigThree"
    assert shown["metadata"] == {"role": "bfv"}
    # Same top volume IDs, attached to the same top server, now on MigThree; one copy each.
    assert sorted(a["id"] for a in shown["os-extended-volumes:volumes_attached"]) == sorted([s["root"], s["data"]])
    for top_vol, want in ((s["root"], root_data), (s["data"], data)):
        copies = wait_for(lambda: (c := _site_volumes_of(mig, top_vol)) and not c["MigOne"] and c, timeout=30, what=f"source copy of {top_vol} gone")
        assert not copies["MigTwo"] and len(copies["MigThree"]) == 1, copies
        assert mig.control.volume_sha512("MigThree", copies["MigThree"][0]["id"])["sha512"] == hashlib.sha512(want).hexdigest()
        vol = mig.admin.get("block-storage", f"/volumes/{top_vol}").json()["volume"]
        assert vol["status"] == "in-use" and vol["availability_zone"] == "MigThree", vol
        assert [a["server_id"] for a in vol["attachments"]] == [s["id"]]
    data_vol = mig.admin.get("block-storage", f"/volumes/{s['data']}").json()["volume"]
    assert data_vol["name"] == "bfv-data" and data_vol["metadata"] == {"tier": "gold"} and data_vol["bootable"] == "false"
    # No temporary image is left on any site.
    for site_name in SITES:
        names = [i["name"] for i in mig.sites[site_name].get("image", "/v2/images").json()["images"]]
        assert not [n for n in names if n.startswith("fedstack-migration-")], names
    # The volumes are still counted once each at the top.
    listed = [v["id"] for v in mig.admin.get("block-storage", "/volumes").json()["volumes"]]
    assert listed.count(s["root"]) == 1 and listed.count(s["data"]) == 1
    assert mig.admin.delete("compute", f"/servers/{s['id']}").status_code == 204
    wait_for(lambda: mig.admin.get("compute", f"/servers/{s['id']}").status_code == 404, what="server deleted")


def test_a_volume_backed_server_failing_at_boot_rolls_back_with_its_volumes(mig):
    s = _boot_from_volume(mig, "MigOne", "bfv-rb", os.urandom(MIB), os.urandom(MIB))
    mig.control.add_failure("MigTwo", "/compute/v2.1/servers", "POST", rate=1.0, status=400)
    m = mig.settle(mig.start(s["id"], "MigTwo")["id"])
    assert m["state"] == "rolled_back", m
    assert mig.assert_one_copy_routed({"id": s["id"]}) == "MigOne"
    assert mig.show(s["id"])["status"] == "ACTIVE", "restarted where it was"
    for top_vol in (s["root"], s["data"]):
        copies = _site_volumes_of(mig, top_vol)
        assert len(copies["MigOne"]) == 1 and not copies["MigTwo"], copies
        vol = mig.admin.get("block-storage", f"/volumes/{top_vol}").json()["volume"]
        assert vol["status"] == "in-use" and vol["availability_zone"] == "MigOne", vol
    names = [i["name"] for i in mig.sites["MigTwo"].get("image", "/v2/images").json()["images"]]
    assert not [n for n in names if n.startswith("fedstack-migration-")], names
    assert mig.admin.delete("compute", f"/servers/{s['id']}").status_code == 204


def test_a_transfer_cut_by_a_crash_resumes_where_the_spool_ends(mig):
    disk = os.urandom(300 * MIB)
    s = mig.boot("MigOne", disk, name="resume")
    mid = mig.start(s["id"], "MigTwo")["id"]
    # Kill the top once a good part of the bytes went through, before the end.
    at = wait_for(lambda: (m := mig.migration(mid))["step"] == "transfer" and len(disk) // 5 < m["bytes_moved"] < len(disk) * 4 // 5 and m["bytes_moved"],
                  timeout=120, interval=0.02, what="the transfer under way")
    mig.top.kill()
    mig.restart_top()
    m = mig.settle(mid, timeout=180)
    assert m["state"] == "done", m
    resumed = [e["message"] for e in m["events"] if e["message"].startswith("resumed at byte")]
    assert resumed, m["events"]
    offset = int(resumed[0].split()[3])
    assert at // 2 <= offset < len(disk), (at, resumed)
    assert m["bytes_moved"] == m["bytes_total"] == len(disk)
    site, copy = mig.site_server(s["id"])
    assert site == "MigTwo"
    assert mig.control.disk_sha512("MigTwo", copy["id"])["sha512"] == hashlib.sha512(disk).hexdigest()
    assert not list((mig.workdir / "data" / "spool").glob(f"{mid}*")), "the spool is removed once the job is done"
    assert mig.admin.delete("compute", f"/servers/{s['id']}").status_code == 204


def _site_prefixes_admitted(mig, site: str, group_name: str) -> set[str]:
    """The remote_ip_prefix rules of the site's copies of a top group."""
    api = mig.sites[site]
    groups = [g for g in api.get("network", "/v2.0/security-groups").json()["security_groups"] if g["name"] == group_name]
    return {r["remote_ip_prefix"] for g in groups for r in g["security_group_rules"] if r["remote_ip_prefix"]}


def test_remote_group_rules_follow_a_migrated_member(mig):
    net = mig.admin.post("network", "/v2.0/networks", {"network": {"name": f"mig-rg-{random.randrange(10**6)}"}}).json()["network"]
    assert mig.admin.post("network", "/v2.0/subnets", {"subnet": {"network_id": net["id"], "cidr": "10.79.0.0/24", "ip_version": 4}}).status_code == 201
    name = f"mig-rg-{net['id'][:8]}"
    sg = mig.admin.post("network", "/v2.0/security-groups", {"security_group": {"name": name}}).json()["security_group"]
    servers = {}
    for site, ip in (("MigOne", "10.79.0.11"), ("MigTwo", "10.79.0.12")):
        port = mig.admin.post("network", "/v2.0/ports", {"port": {"network_id": net["id"], "fixed_ips": [{"ip_address": ip}], "security_groups": [sg["id"]]}}).json()["port"]
        body = {"server": {"name": f"rg-{site}", "imageRef": mig.image, "flavorRef": mig.flavor, "availability_zone": site, "networks": [{"port": port["id"]}]}}
        r = mig.admin.post("compute", "/servers", body, microversion="2.52")
        assert r.status_code == 202, r.text
        servers[site] = r.json()["server"]["id"]
    for sid in servers.values():
        wait_for(lambda: mig.show(sid)["status"] == "ACTIVE", timeout=60, what="server ACTIVE")
    r = mig.admin.post("network", "/v2.0/security-group-rules", {"security_group_rule": {"security_group_id": sg["id"], "direction": "ingress", "protocol": "tcp", "port_range_min": 8080, "port_range_max": 8080, "remote_group_id": sg["id"]}})
    assert r.status_code == 201, r.text
    # Each site admits the member on the other site by its address.
    assert "10.79.0.11/32" in _site_prefixes_admitted(mig, "MigTwo", name)
    assert "10.79.0.12/32" in _site_prefixes_admitted(mig, "MigOne", name)
    r = mig.fedstack("migration", "start", servers["MigOne"], "--destination", "MigTwo", "--wait", "-f", "json")
    assert r.returncode == 0 and json.loads(r.stdout)["state"] == "done", r.stderr
    # Both members now live on MigTwo, which resolves the group natively: no address rule for
    # the moved member is left there.
    assert "10.79.0.11/32" not in _site_prefixes_admitted(mig, "MigTwo", name)
    for sid in servers.values():
        assert mig.admin.delete("compute", f"/servers/{sid}").status_code == 204
