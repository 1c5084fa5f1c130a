"""Real OpenStack 2026.1 samples (/work/shared/openstack-samples) and ways to
compare the simulator's answers with them."""

from __future__ import annotations

import functools
import json
import os
import pathlib
import re
from typing import Any

SAMPLES_DIR = pathlib.Path(
    os.environ.get("FEDSTACK_SAMPLES_DIR", "/work/shared/openstack-samples")
)

# IDs of the capture cloud that the simulator has under other IDs.
CAPTURE_MEMBER_PROJECT = "fc2389d5045246849b898f00697a2668"  # capture-proj
CAPTURE_ADMIN_PROJECT = "f9100702465c4699a5ec3be1f76dfba2"  # admin
CAPTURE_PUBLIC_IMAGE = "89622d49-7257-4fb6-80f9-86f6ea3e45e6"  # tiny-qcow2
CAPTURE_SHARED_NETWORK = "c2f9c82f-74fb-49de-bb1d-97123b0146e2"  # private

# Cinder quota sets carry one "<resource>_<volume type>" key per volume type:
# which types exist is configuration, not API shape.
PER_VOLUME_TYPE_KEY = re.compile(r"^(volumes|gigabytes|snapshots)_.+$")

# dict keys whose own keys are data (names), not schema: key -> levels
DATA_MAP_DEPTH = {
    "hosts": 2,  # os-availability-zone detail: hosts.<host>.<service>
    "metadata": 1,
    "extra_specs": 1,
    "addresses": 1,
    "properties": 1,
    "volume_image_metadata": 1,
}


@functools.lru_cache(maxsize=None)
def load(name: str) -> dict:
    """load("compute/026-servers-create-malformed-json") (".json" optional)."""
    if not name.endswith(".json"):
        name += ".json"
    with open(SAMPLES_DIR / name) as f:
        return json.load(f)


def all_names() -> list[str]:
    return sorted(
        f"{p.parent.name}/{p.stem}" for p in SAMPLES_DIR.glob("*/*.json")
    )


# --------------------------------------------------------------------------
# shapes
# --------------------------------------------------------------------------
def type_name(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    return type(v).__name__


def shape_diff(real: Any, sim: Any, path: str = "$", data_depth: int = 0) -> list[str]:
    """Differences in structure: same keys recursively, same value types
    (null matches any type: optional attributes are often null).

    Lists: every element the simulator returns must have the shape of some
    element of the real list; an empty list where the real one had items is
    a difference. Values (IDs, names, timestamps, URLs) are not compared.
    """
    if isinstance(real, dict):
        if not isinstance(sim, dict):
            return [f"{path}: real is an object, sim has {type_name(sim)}: {sim!r:.80}"]
        if data_depth > 0:
            if not real or not sim:
                return []
            out = []
            for key, value in sim.items():
                best = min(
                    (
                        shape_diff(rv, value, f"{path}[{key!r}]", data_depth - 1)
                        for rv in real.values()
                    ),
                    key=len,
                )
                out += best
            return out
        out = []
        missing = [k for k in real if k not in sim and not PER_VOLUME_TYPE_KEY.match(k)]
        extra = [k for k in sim if k not in real and not PER_VOLUME_TYPE_KEY.match(k)]
        if missing:
            out.append(f"{path}: missing keys {missing}")
        if extra:
            out.append(f"{path}: unexpected keys {extra}")
        for key in real:
            if key in sim:
                out += shape_diff(
                    real[key], sim[key], f"{path}.{key}", DATA_MAP_DEPTH.get(key, 0)
                )
        return out
    if isinstance(real, list):
        if not isinstance(sim, list):
            return [f"{path}: real is an array, sim has {type_name(sim)}: {sim!r:.80}"]
        if real and not sim:
            return [f"{path}: empty array, the real service returned {len(real)} item(s)"]
        if not real:
            return []
        out = []
        for i, item in enumerate(sim):
            out += min(
                (shape_diff(r, item, f"{path}[{i}]", data_depth) for r in real),
                key=len,
            )
        return out
    if real is None or sim is None:
        # nullable attributes: null on one side is a value, not a shape
        return []
    if type_name(real) != type_name(sim):
        return [
            f"{path}: real is {type_name(real)} ({real!r:.60}), "
            f"sim has {type_name(sim)} ({sim!r:.60})"
        ]
    return []


def assert_same_shape(real: Any, sim: Any, what: str = "body") -> None:
    diffs = shape_diff(real, sim)
    if diffs:
        shown = "\n  ".join(diffs[:25])
        more = f"\n  ... and {len(diffs) - 25} more" if len(diffs) > 25 else ""
        raise AssertionError(f"{what} shape differs from the real service:\n  {shown}{more}")


# --------------------------------------------------------------------------
# headers
# --------------------------------------------------------------------------
def header(headers: dict, name: str) -> str | None:
    for k, v in headers.items():
        if k.lower() == name.lower():
            return v
    return None


def norm_content_type(v: str | None) -> str | None:
    return None if v is None else v.replace(" ", "").lower()


def header_diffs(real_headers: dict, sim_headers, sim_root: str) -> list[str]:
    """Compare the headers that matter (only those the real answer had)."""
    out = []
    sim_h = {k: v for k, v in dict(sim_headers).items()}
    for name in ("OpenStack-API-Version", "X-OpenStack-Nova-API-Version"):
        real = header(real_headers, name)
        if real is not None and header(sim_h, name) != real:
            out.append(f"{name}: real {real!r}, sim {header(sim_h, name)!r}")
    real_ct = header(real_headers, "Content-Type")
    if real_ct is not None:
        sim_ct = header(sim_h, "Content-Type")
        if norm_content_type(real_ct) != norm_content_type(sim_ct):
            out.append(f"Content-Type: real {real_ct!r}, sim {sim_ct!r}")
    real_wa = header(real_headers, "WWW-Authenticate")
    if real_wa is not None:
        sim_wa = header(sim_h, "WWW-Authenticate")
        if not sim_wa or not sim_wa.startswith('Keystone uri="http'):
            out.append(f"WWW-Authenticate: real {real_wa!r}, sim {sim_wa!r}")
    real_loc = header(real_headers, "Location")
    if real_loc is not None:
        sim_loc = header(sim_h, "Location")
        norm = sim_loc
        if sim_loc is not None and sim_root:
            norm = sim_loc.replace(sim_root, "http://HOST:PORT")
        if norm != real_loc:
            out.append(f"Location: real {real_loc!r}, sim {sim_loc!r} (normalised {norm!r})")
    return out


# --------------------------------------------------------------------------
# error envelopes
# --------------------------------------------------------------------------
def envelope_diffs(real: Any, sim: Any, status: int) -> list[str]:
    """Compare error bodies: same envelope (top-level key, inner keys) and the
    same code / title / type values. Messages are not compared."""
    if not isinstance(real, dict):
        # text/html error bodies (webob): the sim must not invent JSON
        if isinstance(sim, dict):
            return [f"real error body is text, sim returned JSON {sim!r:.200}"]
        return []
    if not isinstance(sim, dict):
        return [f"real error body is JSON {real!r:.200}, sim returned {sim!r:.200}"]
    out = []
    if set(real) != set(sim):
        out.append(f"top-level keys: real {sorted(real)}, sim {sorted(sim)}")
        return out
    if len(real) == 1:
        key = next(iter(real))
        inner_real, inner_sim = real[key], sim[key]
        if isinstance(inner_real, dict):
            if not isinstance(inner_sim, dict):
                return [f"{key}: real is an object, sim has {inner_sim!r:.100}"]
            if set(inner_real) != set(inner_sim):
                out.append(
                    f"{key} keys: real {sorted(inner_real)}, sim {sorted(inner_sim)}"
                )
            for k in ("code", "title", "type"):
                if k in inner_real and inner_sim.get(k) != inner_real[k]:
                    out.append(f"{key}.{k}: real {inner_real[k]!r}, sim {inner_sim.get(k)!r}")
            if "code" in inner_sim and inner_sim["code"] != status:
                out.append(f"{key}.code {inner_sim['code']!r} != HTTP status {status}")
    else:
        # webob / glance style: {"message", "code": "404 Not Found", "title"}
        for k in ("code", "title"):
            if k in real and sim.get(k) != real[k]:
                out.append(f"{k}: real {real[k]!r}, sim {sim.get(k)!r}")
    return out


def assert_error_like(sample_name: str, resp, body: Any) -> None:
    """The simulator's error answer has the sample's status, envelope and
    content type; never a 5xx."""
    sample = load(sample_name)
    real = sample["response"]
    assert resp.status_code < 500, f"server error {resp.status_code}: {resp.text[:500]}"
    problems = []
    if resp.status_code != real["status"]:
        problems.append(f"status: real {real['status']}, sim {resp.status_code}")
    problems += envelope_diffs(real["body"], body, resp.status_code)
    problems += header_diffs(real["headers"], resp.headers, sim_root="")
    if problems:
        raise AssertionError(
            f"{resp.request.method} {resp.request.url} differs from real "
            f"sample {sample_name}:\n  " + "\n  ".join(problems)
            + f"\n  real body: {json.dumps(real['body'])[:300]}"
            + "\n  sim body:  "
            + (repr(body[:300]) if isinstance(body, str) else json.dumps(body)[:300])
        )


def substitute_ids(text: str, mapping: dict[str, str]) -> str:
    for old, new in mapping.items():
        text = text.replace(old, new)
    return text


def microversion_of(headers: dict) -> str | None:
    v = header(headers, "OpenStack-API-Version")
    if v and len(v.split()) == 2:
        return v.split()[1]
    return header(headers, "X-OpenStack-Nova-API-Version")


def is_url(s: Any) -> bool:
    return isinstance(s, str) and bool(re.match(r"https?://", s))


# --------------------------------------------------------------------------
# replay
# --------------------------------------------------------------------------
def cloud_for(sample_name: str, site: str = "CloudOne") -> str:
    """Samples named ...-as-admin ran as admin; the rest as a member."""
    return site if sample_name.endswith("-as-admin") else f"{site}-demo"


def replay(api, sample_name: str, ids: dict[str, str] | None = None,
           token: Any = True, body: Any = ...):
    """Send the sample's request (path/headers/body, IDs substituted) with
    ``api``. Returns the response. ``token``: True = api's token when the
    sample was authenticated; a string = send that token instead."""
    sample = load(sample_name)
    req = sample["request"]
    ids = ids or {}
    path = substitute_ids(req["path"], ids)
    headers = {
        k: v for k, v in req["headers"].items()
        if k.lower() not in ("x-auth-token", "x-subject-token")
    }
    authenticated = header(req["headers"], "X-Auth-Token") is not None
    send_token = (token if authenticated else False) if token is True else token
    raw = req["body"] if body is ... else body
    if raw is None:
        data = None
    elif isinstance(raw, str):
        data = substitute_ids(raw, ids)
    else:
        data = substitute_ids(json.dumps(raw), ids)
    if data is not None:
        data = data.encode()
    return api.request(
        req["method"], sample["service"], path, data=data, headers=headers,
        token=send_token, root=True,
    )


def body_of_text(resp) -> Any:
    """Parsed JSON body, else the text ("" when empty) - like the samples."""
    if not resp.content:
        return ""
    ctype = resp.headers.get("Content-Type", "")
    if "json" in ctype:
        try:
            return resp.json()
        except ValueError:
            return resp.text
    return resp.text
