"""Replay captured real-OpenStack requests that do not depend on captured
resource IDs and compare the simulator's answers with the real ones:
status code, the relevant headers (Content-Type, OpenStack-API-Version,
X-OpenStack-Nova-API-Version, WWW-Authenticate, Location) and the body's
shape (same keys recursively, same value types; IDs, timestamps and URLs'
host:port are ignored). For the constant documents (version documents, Glance
schemas, default quotas, availability zones) the values are compared too.
"""

import pytest

import res
import samples
from samples import header_diffs, is_url, load, replay, shape_diff

# sample -> "exact" (values compared too) or "shape"
REPLAY = {
    # identity
    "identity/001-versions": "exact",
    "identity/002-version-v3": "exact",
    "identity/008-roles-list-as-admin": "shape",
    "identity/009-roles-list-filter-name-as-admin": "shape",
    "identity/023-auth-catalog": "shape",
    "identity/024-auth-projects": "shape",
    "identity/034-domains-list-as-admin": "shape",
    # compute
    "compute/001-versions": "exact",
    "compute/002-version-v2.1": "exact",
    "compute/003-version-v2.1-slash": "exact",
    "compute/004-flavors-list": "shape",
    "compute/005-flavors-detail": "shape",
    "compute/006-flavors-show": "exact",
    "compute/007-flavors-detail-mv2.103": "shape",
    "compute/008-flavors-show-mv2.103": "exact",
    "compute/077-limits": "shape",
    "compute/078-limits-mv2.103": "shape",
    "compute/079-os-availability-zone": "exact",
    "compute/080-os-availability-zone-detail-as-admin": "shape",
    "compute/081-os-hypervisors-list-as-admin": "shape",
    "compute/082-os-hypervisors-detail-as-admin": "shape",
    "compute/083-os-hypervisors-detail-mv2.53-as-admin": "shape",
    "compute/084-os-hypervisors-detail-mv2.103-as-admin": "shape",
    "compute/085-os-hypervisors-statistics-as-admin": "shape",
    "compute/087-os-services-as-admin": "shape",
    "compute/088-os-services-mv2.103-as-admin": "shape",
    "compute/089-os-quota-sets-show": "exact",
    "compute/090-os-quota-sets-detail": "shape",
    "compute/091-os-quota-sets-detail-mv2.103": "shape",
    "compute/092-os-quota-sets-defaults": "exact",
    "compute/093-os-quota-sets-show-as-admin": "exact",
    # image
    "image/001-versions": "exact",
    "image/002-versions-v2": "exact",
    "image/022-schemas-image": "exact",
    "image/023-schemas-images": "exact",
    "image/024-info-import": "exact",
    "image/025-info-stores": "exact",
    # block-storage
    "block-storage/001-versions": "exact",
    "block-storage/003-version-v3-no-slash-redirect": "shape",
    "block-storage/004-version-v3": "exact",
    "block-storage/006-types-list": "shape",
    "block-storage/008-availability-zones": "exact",
    "block-storage/042-limits": "shape",
    "block-storage/043-os-quota-sets-show": "exact",
    "block-storage/044-os-quota-sets-show-usage": "shape",
    "block-storage/045-os-quota-sets-defaults": "exact",
    "block-storage/046-os-quota-sets-show-as-admin": "exact",
    # network
    "network/001-versions": "exact",
    "network/002-version-v2.0": "exact",
    "network/003-extensions-list": "shape",
    "network/004-extensions-show-router": "exact",
    "network/049-networks-list-external": "shape",
    "network/068-quotas-show": "exact",
    "network/069-quotas-show-details": "shape",
    "network/070-quotas-defaults": "exact",
    "network/071-quotas-list-as-admin": "shape",
}

# values that legitimately differ between the capture cloud and the sim
NOT_COMPARED = {"id", "project_id", "tenant_id"}


def value_diffs(real, sim, path="$"):
    """Scalar differences (URLs and ID keys skipped); lists pairwise."""
    out = []
    if isinstance(real, dict) and isinstance(sim, dict):
        for k in real:
            if k in sim and k not in NOT_COMPARED:
                out += value_diffs(real[k], sim[k], f"{path}.{k}")
    elif isinstance(real, list) and isinstance(sim, list):
        if len(real) != len(sim):
            out.append(f"{path}: real has {len(real)} items, sim {len(sim)}")
        for i, (r, s) in enumerate(zip(real, sim)):
            out += value_diffs(r, s, f"{path}[{i}]")
    elif is_url(real):
        pass
    elif real != sim:
        out.append(f"{path}: real {real!r:.80}, sim {sim!r:.80}")
    return out


@pytest.fixture(scope="module")
def ids(sim):
    demo, admin = sim.api("CloudOne-demo"), sim.api("CloudOne")
    return {
        samples.CAPTURE_MEMBER_PROJECT: demo.project_id,
        samples.CAPTURE_ADMIN_PROJECT: admin.project_id,
        samples.CAPTURE_PUBLIC_IMAGE: res.image_id(demo),
        samples.CAPTURE_SHARED_NETWORK: res.network_id(demo),
    }


@pytest.mark.parametrize("name", sorted(REPLAY))
def test_replay_matches_real(sim, ids, name):
    api = sim.api(samples.cloud_for(name))
    sample = load(name)
    real = sample["response"]
    resp = replay(api, name, ids)
    sim_body = samples.body_of_text(resp)
    problems = []
    if resp.status_code != real["status"]:
        problems.append(f"status: real {real['status']}, sim {resp.status_code}")
    problems += header_diffs(real["headers"], resp.headers, api.root(sample["service"]))
    if not isinstance(real["body"], str) or real["body"] == "":
        problems += shape_diff(real["body"], sim_body)
    if REPLAY[name] == "exact" and not problems:
        problems += value_diffs(real["body"], sim_body)
    assert not problems, (
        f"{sample['request']['method']} {resp.request.url} differs from {name}:\n  "
        + "\n  ".join(problems[:30])
    )


def test_flavors_match_the_real_ones(demo):
    """Every flavor of the capture cloud exists in the sim with the same values."""
    real = load("compute/005-flavors-detail")["response"]["body"]["flavors"]
    sim_flavors = {f["id"]: f for f in demo.get("compute", "/flavors/detail").json()["flavors"]}
    for flavor in real:
        assert flavor["id"] in sim_flavors, flavor["id"]
        got = sim_flavors[flavor["id"]]
        diffs = value_diffs({k: v for k, v in flavor.items() if k != "links"}, got)
        assert not diffs, (flavor["name"], diffs)


def test_limits_maximums_match(demo):
    for name, mv in (("compute/077-limits", None), ("compute/078-limits-mv2.103", "2.103")):
        real = load(name)["response"]["body"]["limits"]["absolute"]
        got = demo.get("compute", "/limits", microversion=mv).json()["limits"]["absolute"]
        maxima = {k: v for k, v in real.items() if k.startswith("max")}
        assert {k: got.get(k) for k in maxima} == maxima, name
        assert set(got) == set(real), name
