"""Global quotas at the top: one limit per project over every site, enforced atomically, shown
and changed with the ordinary `openstack quota` / `limits` commands, and held under a burst of
concurrent creates spread over three sites (openstacksdk in threads)."""

from __future__ import annotations

import concurrent.futures
import uuid

import openstack
import openstack.config
import pytest
import yaml

from simharness import Osc, wait_for

INSTANCES = 50
CREATES = 200


@pytest.fixture(scope="module")
def tenant(fed, tmp_path_factory):
    """A fresh project and member user at the top (so other tests' servers do not count), with
    a clouds.yaml that has it as `quota-tenant` beside the federation's own entries."""
    name = f"e2e-quota-{uuid.uuid4().hex[:8]}"
    project = fed.osc("fedstack", "project", "create", name)
    fed.osc("fedstack", "user", "create", "--project", name, "--password", "secret", name)
    fed.osc("fedstack", "role", "add", "--user", name, "--project", name, "member", json=False)
    workdir = tmp_path_factory.mktemp("quota")
    clouds = yaml.safe_load(fed.clouds_yaml.read_text())
    entry = dict(clouds["clouds"]["fedstack-demo"])
    entry["auth"] = dict(entry["auth"], username=name, password="secret", project_name=name)
    clouds["clouds"]["quota-tenant"] = entry
    path = workdir / "clouds.yaml"
    path.write_text(yaml.safe_dump(clouds))
    osc = Osc(path, workdir)
    # One top network: servers without --network ("auto") go on it, on whichever site.
    net = osc("quota-tenant", "network", "create", "burst-net")
    osc("quota-tenant", "subnet", "create", "--network", net["id"], "--subnet-range", "10.50.0.0/24", "burst-subnet")
    return {"name": name, "id": project["id"], "osc": osc, "clouds_yaml": path, "network": net}


def sdk(tenant) -> openstack.connection.Connection:
    config = openstack.config.OpenStackConfig(config_files=[str(tenant["clouds_yaml"])])
    return openstack.connection.Connection(config=config.get_one(cloud="quota-tenant"))


def test_quota_show_set_and_limits_like_nova(fed, tenant):
    osc = tenant["osc"]
    shown = osc("quota-tenant", "quota", "show", "--compute", tenant["id"])
    by_name = {r["Resource"]: r["Limit"] for r in shown} if isinstance(shown, list) else shown
    assert by_name["instances"] == 10 and by_name["cores"] == 20 and by_name["ram"] == 51200
    # A member cannot change quotas; the operator can, for the whole federation at once.
    err = osc.fails("quota-tenant", "quota", "set", "--instances", "3", tenant["id"])
    assert "403" in err.stderr, err.stderr
    osc("fedstack", "quota", "set", "--instances", str(INSTANCES), "--cores", "200", "--ram", "512000", tenant["name"], json=False)
    limits = osc("quota-tenant", "limits", "show", "--absolute")
    absolute = {r["Name"]: r["Value"] for r in limits}
    assert absolute.get("instances") == INSTANCES, limits
    assert absolute.get("instances_used") == 0, limits


def test_concurrent_creates_over_three_sites_never_exceed_the_quota(fed, tenant):
    conn = sdk(tenant)
    image = conn.image.find_image("cirros", ignore_missing=False)
    flavor = conn.compute.find_flavor("m1.tiny", ignore_missing=False)

    def create(i: int):
        try:
            s = conn.compute.create_server(name=f"burst-{i}", image_id=image.id, flavor_id=flavor.id, networks="auto")
            return ("made", s.id)
        except openstack.exceptions.HttpException as e:
            return ("refused", e.status_code, str(e))

    with concurrent.futures.ThreadPoolExecutor(max_workers=50) as pool:
        outcomes = list(pool.map(create, range(CREATES)))
    made = [o[1] for o in outcomes if o[0] == "made"]
    refused = [o for o in outcomes if o[0] == "refused"]
    try:
        assert len(made) == INSTANCES, [o for o in refused if o[1] != 403][:3]
        assert len(refused) == CREATES - INSTANCES
        assert all(o[1] == 403 and "Quota exceeded for instances" in o[2] for o in refused), refused[:3]
        assert len(set(made)) == INSTANCES
        # Exactly that many servers exist, spread over the three sites, all of them running.
        def all_active():
            servers = list(conn.compute.servers())
            return servers if len(servers) == INSTANCES and all(s.status == "ACTIVE" for s in servers) else None

        servers = wait_for(all_active, timeout=180, what="the burst's servers ACTIVE")
        assert {s.id for s in servers} == set(made)
        zones = {s.availability_zone for s in servers}
        assert zones == {"CloudOne", "CloudTwo", "CloudThree"}, zones
        # One pool over three sites: every address on the top network is distinct.
        addresses = [a["addr"] for s in servers for a in s.addresses.get("burst-net", [])]
        assert len(addresses) == INSTANCES and len(set(addresses)) == INSTANCES, addresses
        assert all(a.startswith("10.50.0.") for a in addresses), addresses
        detail = conn.compute.get(f"/os-quota-sets/{tenant['id']}/detail").json()["quota_set"]
        assert detail["instances"] == {"limit": INSTANCES, "in_use": INSTANCES, "reserved": 0}
        # At the limit, one more is refused with Nova's message and figures.
        again = create(CREATES)
        assert again[0] == "refused" and again[1] == 403
        assert f"Requested 1, but already used {INSTANCES} of {INSTANCES} instances" in again[2]
    finally:
        with concurrent.futures.ThreadPoolExecutor(max_workers=10) as pool:
            list(pool.map(lambda i: conn.compute.delete_server(i, ignore_missing=True), made))
    wait_for(lambda: not list(conn.compute.servers()), timeout=120, what="the burst's servers gone")


def test_volume_quotas_answer_like_cinder(fed, tenant):
    osc = tenant["osc"]
    osc("fedstack", "quota", "set", "--volumes", "2", "--gigabytes", "5", tenant["name"], json=False)
    shown = osc("quota-tenant", "quota", "show", "--volume", tenant["id"])
    by_name = {r["Resource"]: r["Limit"] for r in shown} if isinstance(shown, list) else shown
    assert by_name["volumes"] == 2 and by_name["gigabytes"] == 5 and by_name["snapshots"] == 10
    made = []
    try:
        # Over gigabytes first: 6G asked of 5G.
        err = osc.fails("quota-tenant", "volume", "create", "--size", "6", "big")
        assert "VolumeSizeExceedsAvailableQuota" in err.stderr and "Requested 6G, quota is 5G and 0G has been consumed" in err.stderr, err.stderr
        for i, zone in enumerate(["CloudOne", "CloudTwo"]):
            v = osc("quota-tenant", "volume", "create", "--size", "1", "--availability-zone", zone, f"qv-{i}")
            made.append(v["id"])
        # The third volume is one too many, whichever site it would go to.
        err = osc.fails("quota-tenant", "volume", "create", "--size", "1", "--availability-zone", "CloudThree", "qv-3")
        assert "413" in err.stderr and "VolumeLimitExceeded: Maximum number of volumes allowed (2) exceeded for quota 'volumes'." in err.stderr, err.stderr
        absolute = sdk(tenant).block_storage.get("/limits").json()["limits"]["absolute"]
        assert (absolute["maxTotalVolumes"], absolute["totalVolumesUsed"], absolute["totalGigabytesUsed"]) == (2, 2, 2)
        # The operator cannot lower the limit below what is used.
        err = osc.fails("fedstack", "quota", "set", "--volumes", "1", tenant["name"])
        assert "Current usage is 2 and the requested limit is 1" in err.stderr, err.stderr
    finally:
        for v in made:
            osc("quota-tenant", "volume", "delete", v, json=False)


def test_network_quotas_answer_like_neutron(fed, tenant):
    osc = tenant["osc"]
    osc("fedstack", "quota", "set", "--networks", "1", "--ports", "60", tenant["name"], json=False)
    shown = osc("quota-tenant", "quota", "show", "--network", tenant["id"])
    by_name = {r["Resource"]: r["Limit"] for r in shown} if isinstance(shown, list) else shown
    assert by_name["networks"] == 1 and by_name["ports"] == 60, by_name
    # The tenant already has its one network: a second one is over quota, on any site.
    err = osc.fails("quota-tenant", "network", "create", "second-net")
    assert "Quota exceeded for resources: ['network']" in err.stderr, err.stderr
    details = sdk(tenant).network.get(f"/quotas/{tenant['id']}/details").json()["quota"]
    assert details["network"] == {"limit": 1, "used": 1, "reserved": 0}
    err = osc.fails("fedstack", "quota", "set", "--networks", "0", tenant["name"])
    assert "must be greater than or equal to already used 1" in err.stderr, err.stderr
