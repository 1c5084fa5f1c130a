"""Keystone v3 through the real `openstack` CLI (and a few raw checks)."""

import re

import pytest

from samples import assert_error_like, assert_same_shape, load
from simharness import Api, body_of, expect, field

SITE_CLOUDS = {
    "CloudOne": ("admin", "admin", "admin"),
    "CloudOne-demo": ("demo", "demo", "member"),
    "CloudTwo": ("admin", "admin", "admin"),
    "CloudTwo-demo": ("demo", "demo", "member"),
}


def test_clouds_yaml_has_an_admin_and_a_demo_entry_per_site(sim):
    ports = {}
    for cloud, (user, project, _role) in SITE_CLOUDS.items():
        entry = sim.clouds[cloud]
        site = cloud.split("-")[0]
        assert entry["auth_type"] == "password"
        assert entry["region_name"] == site
        assert str(entry["identity_api_version"]) == "3"
        auth = entry["auth"]
        assert auth["username"] == user
        assert auth["project_name"] == project
        assert auth["user_domain_name"] == "Default"
        assert auth["project_domain_name"] == "Default"
        assert auth["password"]
        m = re.fullmatch(r"http://127\.0\.0\.1:(\d+)/identity/v3/?", auth["auth_url"])
        assert m, f"{cloud}: auth_url {auth['auth_url']!r}"
        ports.setdefault(site, set()).add(m.group(1))
    # one port per site, different sites on different ports
    assert all(len(p) == 1 for p in ports.values()), ports
    assert len({next(iter(p)) for p in ports.values()}) == len(ports), ports


def test_token_issue(sim, osc, admin):
    tok = osc("CloudOne", "token", "issue")
    assert field(tok, "project_id") == admin.project_id
    assert field(tok, "user_id") == admin.user_id
    assert tok["id"] and tok["expires"]
    # the token the CLI got is valid on the site's keystone
    resp = admin.get(
        "identity", "/auth/tokens", headers={"X-Subject-Token": tok["id"]}
    )
    body = expect(resp, 200)
    assert body["token"]["user"]["name"] == "admin"
    assert body["token"]["project"]["name"] == "admin"


def test_token_issue_demo_on_second_site(osc, demo2):
    tok = osc("CloudTwo-demo", "token", "issue")
    assert field(tok, "project_id") == demo2.project_id
    roles = {r["name"] for r in demo2.token_body["roles"]}
    assert "member" in roles and "admin" not in roles, roles


def test_catalog_list(osc, admin):
    catalog = osc("CloudOne", "catalog", "list")
    types = {field(e, "Type", "type") for e in catalog}
    for wanted in ("compute", "image", "network", "identity"):
        assert wanted in types, types
    assert types & {"block-storage", "volumev3"}, types
    port = admin.host_port()
    text = str(catalog)
    assert f"127.0.0.1:{port.split(':')[1]}" in text, text
    assert "CloudOne" in text, "catalog endpoints carry the region"


def test_catalog_urls_follow_the_contract(admin, admin2):
    for api in (admin, admin2):
        hp = api.host_port()
        assert api.endpoint("compute") == f"http://{hp}/compute/v2.1"
        assert api.endpoint("image") == f"http://{hp}/image"
        assert api.endpoint("network") == f"http://{hp}/networking"
        assert api.endpoint("block-storage") in (
            f"http://{hp}/volume/v3",
            f"http://{hp}/volume/v3/{api.project_id}",
        )
        assert api.endpoint("identity") in (
            f"http://{hp}/identity",
            f"http://{hp}/identity/v3",
        )
    assert admin.host_port() != admin2.host_port()


def test_project_user_role_flow(sim, osc, name):
    pname, uname, password = name("proj"), name("user"), "s3cret-e2e"
    project = osc("CloudOne", "project", "create", "--domain", "default", pname)
    assert project["name"] == pname
    try:
        user = osc(
            "CloudOne", "user", "create", "--domain", "default",
            "--project", pname, "--password", password, uname,
        )
        assert user["name"] == uname
        try:
            osc("CloudOne", "role", "add", "--user", uname, "--project", pname,
                "member", json=False)
            assignments = osc(
                "CloudOne", "role", "assignment", "list",
                "--user", uname, "--project", pname, "--names",
            )
            roles = [field(a, "Role", "role") for a in assignments]
            assert any(r == "member" or r.startswith("member@") for r in roles), assignments
            assert all(pname in field(a, "Project", "project") for a in assignments)

            # the new user can now get a token scoped to the new project
            api = Api(
                "new-user",
                {
                    "auth": {
                        "auth_url": sim.clouds["CloudOne"]["auth"]["auth_url"],
                        "username": uname,
                        "password": password,
                        "project_name": pname,
                        "user_domain_name": "Default",
                        "project_domain_name": "Default",
                    },
                    "region_name": "CloudOne",
                },
            )
            assert api.project_id == project["id"]
            assert {r["name"] for r in api.token_body["roles"]} >= {"member"}
        finally:
            osc("CloudOne", "user", "delete", uname, json=False)
    finally:
        osc("CloudOne", "project", "delete", pname, json=False)
    admin = sim.api("CloudOne")
    assert admin.get("identity", f"/projects/{project['id']}").status_code == 404


def test_duplicate_project_is_409(admin, name):
    pname = name("dup")
    body = {"project": {"name": pname, "domain_id": "default"}}
    created = expect(admin.post("identity", "/projects", body), 201)["project"]
    try:
        resp = admin.post("identity", "/projects", body)
        assert_error_like(
            "identity/006-projects-create-duplicate-as-admin", resp, body_of(resp)
        )
    finally:
        expect(admin.delete("identity", f"/projects/{created['id']}"), 204)


def test_demo_user_list_is_forbidden(osc, demo):
    err = osc.fails("CloudOne-demo", "user", "list")
    assert "403" in err.stderr, err.stderr
    resp = demo.get("identity", "/users")
    assert_error_like("identity/031-users-list-forbidden-as-member", resp, body_of(resp))


def test_wrong_password_is_401(admin):
    body = admin.password_auth_body(password="definitely-wrong")
    resp = admin.post("identity", "/auth/tokens", body, token=False)
    assert_error_like("identity/015-auth-tokens-wrong-password", resp, body_of(resp))


def test_revoked_token_no_longer_validates(sim, admin):
    fresh = sim.api("CloudOne-demo", fresh=True)
    expect(admin.delete("identity", "/auth/tokens",
                        headers={"X-Subject-Token": fresh.token}), 204)
    resp = admin.get("identity", "/auth/tokens", headers={"X-Subject-Token": fresh.token})
    assert_error_like("identity/022-auth-tokens-validate-revoked", resp, body_of(resp))
    # and the services refuse it
    resp = fresh.get("compute", "/servers")
    assert resp.status_code == 401, resp.text


def test_role_assignment_list_shows_admin(osc, admin):
    rows = osc("CloudOne", "role", "assignment", "list", "--user", "admin",
               "--project", "admin", "--names")
    roles = {field(r, "Role", "role").split("@")[0] for r in rows}
    assert "admin" in roles, rows
    # the raw API answer has the real keystone's shape
    resp = admin.get(
        "identity",
        f"/role_assignments?user.id={admin.user_id}"
        f"&scope.project.id={admin.project_id}&include_names=true",
    )
    real = load("identity/012-role-assignments-list-as-admin")["response"]["body"]
    assert_same_shape(real, expect(resp, 200), "role_assignments")


@pytest.mark.parametrize("value", ["true", "True", "1"])
def test_role_assignments_include_names_flag(admin, value):
    """keystone's query_filter_is_true: any value but "0" is true (OSC sends
    include_names=True)."""
    resp = admin.get(
        "identity",
        f"/role_assignments?user.id={admin.user_id}"
        f"&scope.project.id={admin.project_id}&include_names={value}",
    )
    assignments = expect(resp, 200)["role_assignments"]
    assert assignments
    for a in assignments:
        assert "name" in a["role"], a
        assert a["user"]["name"] == "admin", a
        assert a["scope"]["project"]["name"] == "admin", a
