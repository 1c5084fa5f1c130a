"""Validate the captured real-OpenStack samples against schema_table.TABLE.

A maintenance aid, not a test: when you add an entry to schema_table.py, run

    target/venv/bin/python tests/e2e/tools/check_samples_against_schemas.py

to see that the real service's answers (successful ones) satisfy the schema
you picked. Exit status 1 if a sample fails its schema.
"""

import json
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import schema_table  # noqa: E402


# Real answers tempest 47.0.0's schemas do not describe (tempest lags the
# services). test_schemas.py avoids these microversions / query parameters.
KNOWN_TEMPEST_GAPS = {
    "block-storage/017-volumes-detail-with-count-mv3.71.json":
        "'count' (with_count=true, 3.45+) not in tempest's list schema",
    "block-storage/028-snapshots-show-mv3.71.json":
        "tempest's snapshot schema is unversioned (base 3.0 only)",
    "block-storage/044-os-quota-sets-show-usage.json":
        "?usage=True needs show_quota_set_usage (query not in table)",
    "compute/084-os-hypervisors-detail-mv2.103-as-admin.json":
        "tempest has no 2.88+ hypervisor schema ('uptime' in detail)",
    "compute/124-servers-os-volume_attachments-create-mv2.103.json":
        "tempest has no 2.101+ attach schema (202 instead of 200)",
}


def microversion_of(service, headers):
    for key, value in headers.items():
        if key.lower() == "openstack-api-version":
            parts = value.split()
            if len(parts) == 2:
                return parts[1]
    for key, value in headers.items():
        if key.lower() == "x-openstack-nova-api-version":
            return value.strip()
    return None


def main():
    bad = 0
    for path in sorted(schema_table.SAMPLES_DIR.glob("*/*.json")):
        doc = json.loads(path.read_text())
        service = doc["service"]
        req, resp = doc["request"], doc["response"]
        if resp["status"] >= 300 and resp["status"] != 300:
            continue
        action = None
        if isinstance(req["body"], dict) and req["path"].endswith("/action"):
            action = next(iter(req["body"]), None)
        mv = microversion_of(service, req["headers"])
        try:
            schema, where = schema_table.schema_for(
                service, req["method"], req["path"], mv, action
            )
        except LookupError:
            print(f"  -   {path.parent.name}/{path.name}: no table entry")
            continue
        body = resp["body"]
        try:
            schema_table.validate(schema, resp["status"], body)
        except Exception as exc:  # noqa: BLE001
            name = f"{path.parent.name}/{path.name}"
            if name in KNOWN_TEMPEST_GAPS:
                print(f"gap  {name}: {KNOWN_TEMPEST_GAPS[name]}")
                continue
            bad += 1
            msg = str(exc).splitlines()[0][:200]
            print(f"FAIL {path.parent.name}/{path.name} [{where}]: {msg}")
        else:
            print(f"ok   {path.parent.name}/{path.name} [{where}]")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
