"""Fault injection through the simulator's control API (/sim/v1).

CloudTwo is the victim in every test; CloudOne must keep answering. Each test
restores CloudTwo (up, no latency, no failure rules, hosts recovered).
"""

import time

import pytest
import requests

import res
from simharness import expect, wait_for

VICTIM = "CloudTwo"


@pytest.fixture
def victim(sim, control):
    failed_hosts = []
    yield failed_hosts
    problems = control.reset(VICTIM)
    for host in failed_hosts:
        try:
            control.host_recover(VICTIM, host)
        except Exception as exc:  # noqa: BLE001
            problems.append(str(exc))
    assert not problems, f"could not restore {VICTIM}: {problems}"


def probe(api, timeout=10):
    """GET the site's Keystone version document (no token, no retries)."""
    return requests.get(api.auth_url, headers={"Accept": "application/json"},
                        timeout=timeout)


def compute_get(api, path="/flavors", timeout=10):
    """A raw authenticated Nova GET on the site (no retries)."""
    return requests.get(
        api.base("compute") + path,
        headers={"X-Auth-Token": api.token, "Accept": "application/json"},
        timeout=timeout,
    )


def test_sites_listing(control):
    sites = control.sites()
    text = str(sites)
    assert "CloudOne" in text and "CloudTwo" in text, sites


def test_site_down_refuse_then_up(control, victim, admin, admin2):
    assert probe(admin2).status_code == 200
    control.down(VICTIM, "refuse")
    with pytest.raises(requests.exceptions.ConnectionError):
        probe(admin2)
    with pytest.raises(requests.exceptions.ConnectionError):
        compute_get(admin2)
    # the other site is unaffected
    assert probe(admin).status_code == 200

    control.up(VICTIM)
    resp = wait_for(lambda: _try(lambda: probe(admin2)), 15,
                    what=f"{VICTIM} to answer again")
    assert resp.status_code == 200
    assert compute_get(admin2).status_code == 200


def _try(fn):
    try:
        return fn()
    except requests.exceptions.ConnectionError:
        return None


def test_site_down_503(control, victim, admin, admin2, osc):
    control.down(VICTIM, "503")
    assert probe(admin2).status_code == 503
    assert compute_get(admin2).status_code == 503
    assert probe(admin).status_code == 200
    err = osc.fails("CloudTwo", "token", "issue")
    assert "503" in err.stderr or "Service Unavailable" in err.stderr, err.stderr
    control.up(VICTIM)
    assert probe(admin2).status_code == 200
    osc("CloudTwo", "token", "issue")


def test_latency(control, victim, admin, admin2):
    def timed(api):
        t0 = time.monotonic()
        assert probe(api).status_code == 200
        return time.monotonic() - t0

    baseline = min(timed(admin2) for _ in range(3))
    control.latency(VICTIM, 400)
    slowed = min(timed(admin2) for _ in range(3))
    assert slowed >= 0.4, f"latency 400 ms, request took {slowed:.3f}s"
    assert slowed >= baseline + 0.3, (baseline, slowed)
    assert timed(admin) < 0.4, "the other site is not slowed down"
    control.latency(VICTIM, 0)
    assert timed(admin2) < 0.4


def test_failure_rule(control, victim, admin2):
    control.add_failure(VICTIM, "/compute/v2.1/servers", "POST", rate=1.0, status=500)
    body = {"server": {"flavorRef": "1"}}  # invalid on purpose (no name)
    for _ in range(3):
        resp = admin2.post("compute", "/servers", body)
        assert resp.status_code == 500, resp.text[:200]
    # other methods and paths are fine
    assert admin2.get("compute", "/servers").status_code == 200
    assert admin2.get("compute", "/flavors").status_code == 200
    assert admin2.get("image", "/v2/images").status_code == 200

    control.clear_failures(VICTIM)
    resp = admin2.post("compute", "/servers", body)
    assert resp.status_code == 400, "without the rule nova validates the body"


def test_failure_rule_with_503_on_images(control, victim, admin, admin2):
    control.add_failure(VICTIM, "/image/v2/images", "GET", rate=1.0, status=503)
    assert admin2.get("image", "/v2/images").status_code == 503
    assert admin.get("image", "/v2/images").status_code == 200


def test_host_failure(sim, control, victim, osc, admin2, name):
    server = res.create_server(admin2, name("vm"))
    try:
        host = res.server(admin2, server["id"])["OS-EXT-SRV-ATTR:host"]
        assert host
        victim.append(host)
        control.host_fail(VICTIM, host)

        def state_of(h):
            rows = osc("CloudTwo", "compute", "service", "list", "--service", "nova-compute")
            return {r["Host"]: r["State"] for r in rows}.get(h)

        wait_for(lambda: state_of(host) == "down", 30, interval=1,
                 what=f"nova-compute on {host} down")
        others = osc("CloudTwo", "compute", "service", "list", "--service", "nova-compute")
        assert any(r["Host"] != host and r["State"] == "up" for r in others), others
        # the servers on it keep their status (nova does not change it)
        assert res.server(admin2, server["id"])["status"] == "ACTIVE"
        hyps = expect(admin2.get("compute", "/os-hypervisors/detail",
                                 microversion="2.53"), 200)["hypervisors"]
        states = {h["service"]["host"]: h["state"] for h in hyps}
        assert states.get(host) == "down", states

        control.host_recover(VICTIM, host)
        victim.remove(host)
        wait_for(lambda: state_of(host) == "up", 30, interval=1,
                 what=f"nova-compute on {host} up again")
        assert res.server(admin2, server["id"])["status"] == "ACTIVE"
    finally:
        res.delete_server(admin2, server["id"])


def test_other_site_keeps_its_own_state(admin, admin2, name):
    """The two sites are independent clouds."""
    net = expect(admin.post("network", "/v2.0/networks", {"network": {"name": name("n")}}), 201)
    try:
        nid = net["network"]["id"]
        assert admin2.get("network", f"/v2.0/networks/{nid}").status_code == 404
    finally:
        admin.delete("network", f"/v2.0/networks/{net['network']['id']}")
