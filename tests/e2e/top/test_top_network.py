"""Neutron at the top, driven by the real `openstack` CLI: top networks stretched over the
three sites of `fedstack up`, the top's IPAM, routers, floating IPs and security groups
copied to the sites (checked on each site with its own admin entry of clouds.yaml)."""

from __future__ import annotations

import ipaddress
import os
import uuid

import pytest
import yaml

from simharness import Osc, OscError, wait_for

SITES = ["CloudOne", "CloudTwo", "CloudThree"]


def uid(kind: str) -> str:
    return f"e2e-{kind}-{uuid.uuid4().hex[:8]}"


class Tenant:
    """A project of its own (so its networks never meet other tests' servers), with a
    member user and the `openstack` CLI set up for it as cloud `net-tenant`."""

    def __init__(self, fed, workdir):
        self.fed = fed
        project, user = uid("netproj"), uid("netuser")
        fed.osc("fedstack", "project", "create", project)
        fed.osc("fedstack", "user", "create", "--password", "pw-net", "--project", project, user)
        fed.osc("fedstack", "role", "add", "--project", project, "--user", user, "member", json=False)
        clouds = yaml.safe_load(fed.clouds_yaml.read_text())
        entry = dict(clouds["clouds"]["fedstack-demo"])
        entry["auth"] = dict(entry["auth"], username=user, password="pw-net", project_name=project)
        clouds["clouds"]["net-tenant"] = entry
        path = workdir / "clouds.yaml"
        path.write_text(yaml.safe_dump(clouds))
        self.osc = Osc(path, workdir)
        self.project_id = fed.osc("fedstack", "project", "show", project)["id"]

    def __call__(self, *args, **kw):
        return self.osc("net-tenant", *args, **kw)

    def fails(self, *args) -> OscError:
        return self.osc.fails("net-tenant", *args)

    def site(self, site: str, *args, **kw):
        """The CLI as the site's own admin."""
        return self.osc(site, *args, **kw)


@pytest.fixture(scope="module")
def tenant(fed, tmp_path_factory):
    return Tenant(fed, tmp_path_factory.mktemp("net-tenant"))


@pytest.fixture(scope="module")
def image(tenant, tmp_path_factory):
    path = tmp_path_factory.mktemp("netimg") / "disk.raw"
    path.write_bytes(os.urandom(64 * 1024))
    return tenant("image", "create", "--file", path, "--disk-format", "raw", "--container-format", "bare", uid("img"))["id"]


@pytest.fixture(scope="module")
def public(fed):
    """The top external network an operator makes once, standing for every site's `public`."""
    found = fed.osc("fedstack", "network", "list", "--external", "--name", "public")
    if found:
        return found[0]["ID"]
    net = fed.osc("fedstack", "network", "create", "--external", "public")
    fed.osc("fedstack", "subnet", "create", "--network", "public", "--subnet-range", "172.24.4.0/24", "--no-dhcp", "public-subnet")
    return net["id"]


def addresses(server: dict, network: str) -> list[str]:
    """The addresses of `server show` on one network (dict or `net=a, b` text)."""
    a = server["addresses"]
    if isinstance(a, dict):
        return list(a.get(network, []))
    out = []
    for part in a.split(";"):
        name, _, addrs = part.strip().partition("=")
        if name == network:
            out += [x.strip() for x in addrs.split(",")]
    return out


def server_create(tenant, image, name, *extra):
    return tenant("server", "create", "--image", image, "--flavor", "m1.tiny", "--wait", *extra, name, timeout=180)


@pytest.fixture(scope="module")
def spread(tenant, image):
    """One top network with a subnet, and one server on it on each site."""
    net = uid("net")
    tenant("network", "create", net)
    subnet = tenant("subnet", "create", "--network", net, "--subnet-range", "10.40.0.0/24", "--dns-nameserver", "192.0.2.53", uid("sub"))
    servers = {site: server_create(tenant, image, uid(site.lower()), "--network", net, "--availability-zone", site) for site in SITES}
    return {"net": net, "subnet": subnet, "servers": servers}


def test_servers_on_one_network_on_three_sites_get_distinct_addresses(tenant, spread):
    net, pool = spread["net"], ipaddress.ip_network("10.40.0.0/24")
    seen = {}
    for site, s in spread["servers"].items():
        shown = tenant("server", "show", s["id"])
        assert shown["status"] == "ACTIVE" and shown["OS-EXT-AZ:availability_zone"] == site
        (addr,) = addresses(shown, net)
        assert ipaddress.ip_address(addr) in pool and addr != "10.40.0.1"
        seen[addr] = site
        # The site has a copy of the subnet (same CIDR, gateway, DNS) and a port with the
        # top's address and MAC.
        (port,) = tenant("port", "list", "--server", s["id"], "--long")
        site_ports = tenant.site(site, "port", "list", "--mac-address", port["MAC Address"], "--long")
        assert len(site_ports) == 1 and addr in str(site_ports[0]["Fixed IP Addresses"])
        site_subnets = [x for x in tenant.site(site, "subnet", "list", "--long") if x["Subnet"] == "10.40.0.0/24"]
        assert len(site_subnets) == 1 and site_subnets[0]["Gateway"] == "10.40.0.1"
        assert "192.0.2.53" in str(tenant.site(site, "subnet", "show", site_subnets[0]["ID"])["dns_nameservers"])
    assert len(seen) == 3, f"one pool, three distinct addresses: {seen}"


def test_explicit_fixed_ip_honoured_and_a_taken_one_refused(tenant, image, spread):
    net = spread["net"]
    netid = tenant("network", "show", net)["id"]
    s = server_create(tenant, image, uid("fixed"), "--nic", f"net-id={netid},v4-fixed-ip=10.40.0.50", "--availability-zone", "CloudTwo")
    assert addresses(tenant("server", "show", s["id"]), net) == ["10.40.0.50"]
    err = tenant.fails("server", "create", "--image", image, "--flavor", "m1.tiny", "--nic", f"net-id={netid},v4-fixed-ip=10.40.0.50", "--availability-zone", "CloudThree", uid("clash"))
    assert "10.40.0.50" in err.stderr and "already in use" in err.stderr and "400" in err.stderr
    # A top port with a chosen address boots on any site with exactly that address.
    port = tenant("port", "create", "--network", net, "--fixed-ip", f"subnet={spread['subnet']['id']},ip-address=10.40.0.60", uid("port"))
    err = tenant.fails("port", "create", "--network", net, "--fixed-ip", f"subnet={spread['subnet']['id']},ip-address=10.40.0.60", uid("port"))
    assert "already allocated" in err.stderr
    p = server_create(tenant, image, uid("onport"), "--port", port["id"], "--availability-zone", "CloudThree")
    assert addresses(tenant("server", "show", p["id"]), net) == ["10.40.0.60"]
    assert tenant("port", "show", port["id"])["device_id"] == p["id"]
    # Deleting the server frees what the top made for it; a port the user made stays.
    tenant("server", "delete", "--wait", s["id"], json=False)
    assert tenant("port", "list", "--fixed-ip", "ip-address=10.40.0.50") == []
    again = server_create(tenant, image, uid("again"), "--nic", f"net-id={netid},v4-fixed-ip=10.40.0.50", "--availability-zone", "CloudOne")
    assert addresses(tenant("server", "show", again["id"]), net) == ["10.40.0.50"], "a freed address is handed out again"
    tenant("server", "delete", "--wait", p["id"], json=False)
    assert tenant("port", "show", port["id"])["device_id"] == ""


def test_security_group_rule_added_at_the_top_appears_on_every_site(tenant, spread):
    groups = tenant("security", "group", "list", "--project", tenant.project_id)
    default = next(g["ID"] for g in groups if g["Name"] == "default")
    tenant("security", "group", "rule", "create", "--protocol", "tcp", "--dst-port", "2222", "--remote-ip", "198.51.100.0/24", default)

    def on_site(site):
        rules = tenant.site(site, "security", "group", "rule", "list", "--long")
        return [r for r in rules if r.get("IP Range") == "198.51.100.0/24" and "2222" in str(r.get("Port Range"))]

    for site in SITES:
        assert len(wait_for(lambda: on_site(site), what=f"the rule on {site}")) == 1
    rule = next(r for r in tenant("security", "group", "rule", "list", default) if r["IP Range"] == "198.51.100.0/24")
    tenant("security", "group", "rule", "delete", rule["ID"], json=False)
    for site in SITES:
        assert on_site(site) == [], f"the rule is gone from {site}"


def test_network_subnet_router_and_floating_ip(tenant, image, public):
    net, sub, router = uid("net"), uid("sub"), uid("router")
    tenant("network", "create", net)
    tenant("subnet", "create", "--network", net, "--subnet-range", "10.50.0.0/24", sub)
    tenant("router", "create", router)
    tenant("router", "set", "--external-gateway", public, router, json=False)
    tenant("router", "add", "subnet", router, sub, json=False)
    shown = tenant("router", "show", router)
    assert public in str(shown["external_gateway_info"])
    assert {n["Name"] for n in tenant("network", "list")} >= {net, "public"}
    s = server_create(tenant, image, uid("fip"), "--network", net, "--availability-zone", "CloudTwo")
    fip = tenant("floating", "ip", "create", public)
    assert fip["floating_network_id"] == public
    tenant("server", "add", "floating", "ip", s["id"], fip["floating_ip_address"], json=False)
    fip = wait_for(lambda: (f := tenant("floating", "ip", "show", fip["id"]))["port_id"] and f, what="associated")
    assert ipaddress.ip_address(fip["floating_ip_address"]) in ipaddress.ip_network("172.24.4.0/24")
    (addr,) = addresses(tenant("server", "show", s["id"]), net)[:1]
    assert fip["fixed_ip_address"] == addr
    # The floating IP is on the server's site, on the site's own external network.
    site_fips = tenant.site("CloudTwo", "floating", "ip", "list", "--long")
    assert any(f["Floating IP Address"] == fip["floating_ip_address"] and f["Fixed IP Address"] == addr for f in site_fips)
    tenant("server", "remove", "floating", "ip", s["id"], fip["floating_ip_address"], json=False)
    assert tenant("floating", "ip", "show", fip["id"])["port_id"] is None
    tenant("floating", "ip", "delete", fip["id"], json=False)
    assert not any(f["Floating IP Address"] == fip["floating_ip_address"] for f in tenant.site("CloudTwo", "floating", "ip", "list"))
    err = tenant.fails("router", "delete", router)
    assert "still has ports" in err.stderr
    tenant("server", "delete", "--wait", s["id"], json=False)
    tenant("router", "remove", "subnet", router, sub, json=False)
    tenant("router", "delete", router, json=False)
    tenant("network", "delete", net, json=False)
    assert net not in {n["Name"] for n in tenant("network", "list")}


def test_remote_group_rule_admits_members_on_other_sites(tenant, image):
    net, group = uid("net"), uid("sg")
    tenant("network", "create", net)
    tenant("subnet", "create", "--network", net, "--subnet-range", "10.41.0.0/24", uid("sub"))
    tenant("security", "group", "create", group)
    members = {}
    for site in ["CloudOne", "CloudTwo"]:
        s = server_create(tenant, image, uid(site.lower()), "--network", net, "--security-group", group, "--availability-zone", site)
        (addr,) = addresses(tenant("server", "show", s["id"]), net)
        members[site] = (s["id"], f"{addr}/32")
    tenant("security", "group", "rule", "create", "--ingress", "--protocol", "tcp", "--dst-port", "8080", "--remote-group", group, group)

    def admits(site, prefix):
        rules = tenant.site(site, "security", "group", "rule", "list", "--long")
        return [r for r in rules if r.get("IP Range") == prefix and "8080" in str(r.get("Port Range"))]

    # Each site's copy of the group admits the member on the other site by its address
    # (a site resolves a remote group only among its own ports), never its own member.
    assert len(admits("CloudOne", members["CloudTwo"][1])) == 1
    assert len(admits("CloudTwo", members["CloudOne"][1])) == 1
    assert admits("CloudOne", members["CloudOne"][1]) == []
    # The member on CloudTwo goes: CloudOne stops admitting its address.
    tenant("server", "delete", "--wait", members["CloudTwo"][0], json=False)
    assert admits("CloudOne", members["CloudTwo"][1]) == []
    tenant("server", "delete", "--wait", members["CloudOne"][0], json=False)


def test_server_add_and_remove_network_and_port(tenant, image, spread):
    other, sub = uid("net"), uid("sub")
    tenant("network", "create", other)
    tenant("subnet", "create", "--network", other, "--subnet-range", "10.42.0.0/24", sub)
    s = server_create(tenant, image, uid("nics"), "--network", spread["net"], "--availability-zone", "CloudTwo")
    tenant("server", "add", "network", s["id"], other, json=False)
    (addr,) = wait_for(lambda: addresses(tenant("server", "show", s["id"]), other), what="the attached network's address")
    assert ipaddress.ip_address(addr) in ipaddress.ip_network("10.42.0.0/24")
    # The top made the port with its own address and MAC; the site's port has exactly them.
    (port,) = [p for p in tenant("port", "list", "--server", s["id"], "--long") if addr in str(p["Fixed IP Addresses"])]
    site_ports = tenant.site("CloudTwo", "port", "list", "--mac-address", port["MAC Address"], "--long")
    assert len(site_ports) == 1 and addr in str(site_ports[0]["Fixed IP Addresses"])
    # Removing the network detaches and frees what the top made for it.
    tenant("server", "remove", "network", s["id"], other, json=False)
    assert addresses(tenant("server", "show", s["id"]), other) == []
    assert tenant("port", "list", "--network", other) == []
    assert tenant.site("CloudTwo", "port", "list", "--mac-address", port["MAC Address"]) == []
    # A port the user made is attached and detached by its top ID, and stays.
    mine = tenant("port", "create", "--network", other, uid("port"))
    tenant("server", "add", "port", s["id"], mine["id"], json=False)
    assert tenant("port", "show", mine["id"])["device_id"] == s["id"]
    mine_addr = mine["fixed_ips"][0]["ip_address"]
    assert mine_addr in addresses(tenant("server", "show", s["id"]), other)
    tenant("server", "remove", "port", s["id"], mine["id"], json=False)
    assert tenant("port", "show", mine["id"])["device_id"] == ""
    assert addresses(tenant("server", "show", s["id"]), other) == []
    tenant("server", "delete", "--wait", s["id"], json=False)
    tenant("port", "delete", mine["id"], json=False)
