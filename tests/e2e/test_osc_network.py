"""Neutron v2.0 through the real `openstack` CLI."""

import ipaddress

import pytest

from samples import assert_error_like, load
from simharness import body_of, expect, field

DEMO = "CloudOne-demo"

# OSC 10.5 `quota show --network` rows carry openstacksdk's attribute names
OSC_NETWORK_QUOTA_NAMES = {
    "floatingip": "floating_ips",
    "security_group_rule": "security_group_rules",
    "security_group": "security_groups",
    "network": "networks",
    "subnet": "subnets",
    "port": "ports",
    "router": "routers",
    "rbac_policy": "rbac_policies",
    "subnetpool": "subnet_pools",
}


class Cleanup:
    """Delete what a test created, in reverse order, via the REST API."""

    def __init__(self, api):
        self.api = api
        self.steps = []

    def add(self, method, path, body=None):
        self.steps.append((method, path, body))

    def run(self):
        for method, path, body in reversed(self.steps):
            try:
                self.api.request(method, "network", path, json_body=body)
            except Exception:  # noqa: BLE001 - best effort
                pass


@pytest.fixture
def cleanup(demo):
    c = Cleanup(demo)
    yield c
    c.run()


@pytest.fixture
def net(osc, name, cleanup):
    """A tenant network with a /24 subnet and a restricted allocation pool."""
    nname, sname = name("net"), name("subnet")
    network = osc(DEMO, "network", "create", nname)
    cleanup.add("DELETE", f"/v2.0/networks/{network['id']}")
    subnet = osc(
        DEMO, "subnet", "create", "--network", network["id"],
        "--subnet-range", "192.168.77.0/24",
        "--allocation-pool", "start=192.168.77.50,end=192.168.77.99",
        "--gateway", "192.168.77.1", sname,
    )
    cleanup.add("DELETE", f"/v2.0/subnets/{subnet['id']}")
    return {"network": network, "subnet": subnet}


def test_network_and_subnet(osc, demo, net):
    network, subnet = net["network"], net["subnet"]
    assert network["status"] == "ACTIVE"
    assert network["shared"] is False
    assert field(network, "project_id") == demo.project_id
    assert subnet["cidr"] == "192.168.77.0/24"
    assert subnet["gateway_ip"] == "192.168.77.1"
    assert subnet["ip_version"] == 4
    assert subnet["network_id"] == network["id"]
    pools = expect(demo.get("network", f"/v2.0/subnets/{subnet['id']}"), 200)["subnet"][
        "allocation_pools"
    ]
    assert pools == [{"start": "192.168.77.50", "end": "192.168.77.99"}]
    shown = osc(DEMO, "network", "show", network["id"])
    assert subnet["id"] in str(shown["subnets"])
    listed = [n["ID"] for n in osc(DEMO, "network", "list")]
    assert network["id"] in listed
    # the shared network is visible to the project too
    assert "private" in [n["Name"] for n in osc(DEMO, "network", "list")]


def test_ports_fixed_ip_and_conflict(osc, demo, net, name, cleanup):
    network, subnet = net["network"], net["subnet"]
    port = osc(
        DEMO, "port", "create", "--network", network["id"],
        "--fixed-ip", f"subnet={subnet['id']},ip-address=192.168.77.10", name("port"),
    )
    cleanup.add("DELETE", f"/v2.0/ports/{port['id']}")
    raw = expect(demo.get("network", f"/v2.0/ports/{port['id']}"), 200)["port"]
    assert raw["fixed_ips"] == [{"subnet_id": subnet["id"], "ip_address": "192.168.77.10"}]
    assert raw["mac_address"].startswith("fa:16:3e:")

    err = osc.fails(
        DEMO, "port", "create", "--network", network["id"],
        "--fixed-ip", f"subnet={subnet['id']},ip-address=192.168.77.10", name("port"),
    )
    assert "409" in err.stderr or "already allocated" in err.stderr, err.stderr
    resp = demo.post(
        "network", "/v2.0/ports",
        {"port": {"network_id": network["id"],
                  "fixed_ips": [{"subnet_id": subnet["id"], "ip_address": "192.168.77.10"}]}},
    )
    assert_error_like("network/020-ports-create-ip-in-use", resp, body_of(resp))

    resp = demo.post(
        "network", "/v2.0/ports",
        {"port": {"network_id": network["id"],
                  "fixed_ips": [{"subnet_id": subnet["id"], "ip_address": "10.99.0.5"}]}},
    )
    assert_error_like("network/021-ports-create-ip-outside-subnet", resp, body_of(resp))

    # without a fixed IP: an address from the allocation pool
    auto = osc(DEMO, "port", "create", "--network", network["id"], name("port"))
    cleanup.add("DELETE", f"/v2.0/ports/{auto['id']}")
    ip = expect(demo.get("network", f"/v2.0/ports/{auto['id']}"), 200)["port"][
        "fixed_ips"
    ][0]["ip_address"]
    assert ipaddress.ip_address("192.168.77.50") <= ipaddress.ip_address(ip) <= ipaddress.ip_address("192.168.77.99"), ip

    # a network with ports cannot be deleted
    resp = demo.delete("network", f"/v2.0/networks/{network['id']}")
    assert_error_like("network/027-networks-delete-in-use", resp, body_of(resp))


def test_security_group_and_rule(osc, demo, name, cleanup):
    sg = osc(DEMO, "security", "group", "create", "--description", "e2e", name("sg"))
    cleanup.add("DELETE", f"/v2.0/security-groups/{sg['id']}")
    raw = expect(demo.get("network", f"/v2.0/security-groups/{sg['id']}"), 200)[
        "security_group"
    ]
    # neutron gives a new group one IPv4 and one IPv6 egress rule
    default_rules = sorted(
        (r["direction"], r["ethertype"]) for r in raw["security_group_rules"]
    )
    assert default_rules == [("egress", "IPv4"), ("egress", "IPv6")]

    rule = osc(
        DEMO, "security", "group", "rule", "create", "--ingress", "--protocol", "tcp",
        "--dst-port", "22", "--remote-ip", "0.0.0.0/0", sg["id"],
    )
    assert rule["port_range_min"] == 22 and rule["port_range_max"] == 22
    assert rule["protocol"] == "tcp"
    assert rule["direction"] == "ingress"
    rules = osc(DEMO, "security", "group", "rule", "list", sg["id"])
    assert rule["id"] in [r["ID"] for r in rules]

    dup = demo.post(
        "network", "/v2.0/security-group-rules",
        {"security_group_rule": {
            "security_group_id": sg["id"], "direction": "ingress", "ethertype": "IPv4",
            "protocol": "tcp", "port_range_min": 22, "port_range_max": 22,
            "remote_ip_prefix": "0.0.0.0/0"}},
    )
    assert_error_like("network/032-security-group-rules-create-duplicate", dup, body_of(dup))
    bad = demo.post(
        "network", "/v2.0/security-group-rules",
        {"security_group_rule": {
            "security_group_id": sg["id"], "direction": "ingress", "ethertype": "IPv4",
            "protocol": "tcp", "port_range_min": 80, "port_range_max": 22,
            "remote_ip_prefix": "0.0.0.0/0"}},
    )
    assert_error_like(
        "network/033-security-group-rules-create-bad-port-range", bad, body_of(bad)
    )


def test_router_gateway_and_floating_ip(osc, demo, net, name, cleanup):
    network, subnet = net["network"], net["subnet"]
    public = expect(demo.get("network", "/v2.0/networks?name=public"), 200)["networks"]
    assert len(public) == 1 and public[0]["router:external"] is True
    public_id = public[0]["id"]

    port = osc(
        DEMO, "port", "create", "--network", network["id"],
        "--fixed-ip", f"subnet={subnet['id']},ip-address=192.168.77.20", name("port"),
    )
    cleanup.add("DELETE", f"/v2.0/ports/{port['id']}")

    router = osc(DEMO, "router", "create", name("router"))
    rid = router["id"]
    cleanup.add("DELETE", f"/v2.0/routers/{rid}")
    osc(DEMO, "router", "add", "subnet", rid, subnet["id"], json=False)
    cleanup.add("PUT", f"/v2.0/routers/{rid}/remove_router_interface",
                {"subnet_id": subnet["id"]})
    ifaces = expect(demo.get("network", f"/v2.0/ports?device_id={rid}"), 200)["ports"]
    assert len(ifaces) == 1
    assert ifaces[0]["fixed_ips"][0]["ip_address"] == "192.168.77.1"
    assert ifaces[0]["device_owner"] == "network:router_interface"

    again = demo.put("network", f"/v2.0/routers/{rid}/add_router_interface",
                     {"subnet_id": subnet["id"]})
    assert_error_like("network/042-routers-add-interface-again-conflict", again, body_of(again))

    osc(DEMO, "router", "set", "--external-gateway", "public", rid, json=False)
    cleanup.add("PUT", f"/v2.0/routers/{rid}", {"router": {"external_gateway_info": {}}})
    shown = expect(demo.get("network", f"/v2.0/routers/{rid}"), 200)["router"]
    gw = shown["external_gateway_info"]
    assert gw["network_id"] == public_id
    assert gw["enable_snat"] is True
    assert len(gw["external_fixed_ips"]) == 1

    fip = osc(DEMO, "floating", "ip", "create", "public")
    cleanup.add("DELETE", f"/v2.0/floatingips/{fip['id']}")
    assert fip["floating_network_id"] == public_id
    assert fip["port_id"] is None
    osc(DEMO, "floating", "ip", "set", "--port", port["id"], fip["id"], json=False)
    shown = osc(DEMO, "floating", "ip", "show", fip["id"])
    assert shown["port_id"] == port["id"]
    assert shown["fixed_ip_address"] == "192.168.77.20"
    assert shown["router_id"] == rid

    # the subnet is in use by the router: cannot be deleted
    resp = demo.delete("network", f"/v2.0/subnets/{subnet['id']}")
    assert_error_like("network/046-subnets-delete-in-use-by-router", resp, body_of(resp))

    # clearing the gateway while a floating IP uses it is a conflict
    resp = demo.put("network", f"/v2.0/routers/{rid}",
                    {"router": {"external_gateway_info": {}}})
    assert_error_like(
        "network/058-routers-clear-gateway-with-fip-conflict", resp, body_of(resp)
    )


def test_floating_ip_on_internal_network_is_rejected(demo):
    private = expect(demo.get("network", "/v2.0/networks?name=private"), 200)["networks"][0]
    resp = demo.post("network", "/v2.0/floatingips",
                     {"floatingip": {"floating_network_id": private["id"]}})
    assert_error_like("network/061-floatingips-create-no-external-net", resp, body_of(resp))


def test_member_cannot_create_external_network(demo, name):
    resp = demo.post("network", "/v2.0/networks",
                     {"network": {"name": name("ext"), "router:external": True}})
    assert_error_like("network/050-networks-create-external-forbidden", resp, body_of(resp))


def test_network_quota_show(osc):
    rows = osc(DEMO, "quota", "show", "--network")
    quotas = {r["Resource"]: r["Limit"] for r in rows}
    real = load("network/068-quotas-show")["response"]["body"]["quota"]
    for key, osc_name in OSC_NETWORK_QUOTA_NAMES.items():
        assert quotas.get(osc_name) == real[key], (osc_name, quotas)
