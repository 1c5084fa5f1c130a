"""Which response schema applies to which call.

The table maps ``(service, method, root-relative path pattern)`` to a JSON
schema. Paths are relative to the *service root* (e.g. ``/v2.1/servers/{id}``
for compute, ``/v3/volumes`` for block-storage, ``/v2/images`` for image), i.e.
exactly the form used by the captured samples in
/work/shared/openstack-samples, so the same table validates both the real
samples (``tools/check_samples_against_schemas.py``) and the simulator.

Schema sources:

* compute and block-storage: tempest's own response schemas
  (``tempest.lib.api_schema.response...``). Where tempest selects the schema
  by microversion, the entry reuses the tempest service client's own
  ``schema_versions_info`` list, so the microversion -> module mapping is
  exactly tempest's.
* image: tempest has no image response schemas; real Glance publishes the
  JSON schema of its resources at ``/v2/schemas/image(s)``. The schemas
  captured from the real Glance 2026.1 (samples image/022 and image/023) are
  used.
* network: tempest has no network response schemas (test_schemas.py compares
  network bodies with the real captured samples instead).

To add a call: append a ``Entry(...)`` line. ``Versioned(client, attr)`` picks
``attr`` from the module tempest's ``client.schema_versions_info`` selects for
the request microversion; ``Fixed(module, attr)`` always uses that module.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import pathlib
import re
from typing import Any

from tempest.lib.api_schema.response.compute.v2_1 import (
    availability_zone as c_az,
)
from tempest.lib.api_schema.response.compute.v2_1 import servers as c_servers
from tempest.lib.api_schema.response.compute.v2_1 import versions as c_versions
from tempest.lib.api_schema.response.volume import limits as v_limits
from tempest.lib.api_schema.response.volume import quotas as v_quotas
from tempest.lib.api_schema.response.volume import snapshots as v_snapshots
from tempest.lib.api_schema.response.volume import versions as v_versions
from tempest.lib.api_schema.response.volume import volume_types as v_types
from tempest.lib.api_schema.response.volume import volumes as v_volumes
from tempest.lib.common import api_version_request
from tempest.lib.common.jsonschema_validator import FORMAT_CHECKER
from tempest.lib.common.jsonschema_validator import JSONSCHEMA_VALIDATOR
from tempest.lib.services.compute import flavors_client
from tempest.lib.services.compute import hypervisor_client
from tempest.lib.services.compute import images_client
from tempest.lib.services.compute import interfaces_client
from tempest.lib.services.compute import keypairs_client
from tempest.lib.services.compute import limits_client
from tempest.lib.services.compute import quotas_client
from tempest.lib.services.compute import server_groups_client
from tempest.lib.services.compute import servers_client
from tempest.lib.services.compute import services_client
from tempest.lib.services.volume.v3 import volumes_client

SAMPLES_DIR = pathlib.Path("/work/shared/openstack-samples")

# Default microversion when the request sends none.
BASE_MICROVERSION = {"compute": "2.1", "block-storage": "3.0"}


@dataclasses.dataclass(frozen=True)
class Fixed:
    module: Any
    attr: str

    def resolve(self, microversion):
        return getattr(self.module, self.attr), self.module.__name__


@dataclasses.dataclass(frozen=True)
class Versioned:
    """Pick ``attr`` from the module tempest's client selects by microversion."""

    client: Any
    attr: str

    def resolve(self, microversion):
        want = api_version_request.APIVersionRequest(microversion)
        infos = self.client.schema_versions_info
        for i, item in enumerate(infos):
            lo = api_version_request.APIVersionRequest(item["min"])
            hi = api_version_request.APIVersionRequest(item["max"])
            if want.matches(lo, hi):
                # Some of tempest's newer modules omit schemas that did not
                # change (e.g. v2_100 has no tag schemas, so tempest's own
                # update_all_tags breaks at 2.100): use the newest earlier
                # module that has it.
                for older in reversed(infos[: i + 1]):
                    if hasattr(older["schema"], self.attr):
                        module = older["schema"]
                        return getattr(module, self.attr), module.__name__
                break
        raise LookupError(
            f"{self.client.__name__} has no schema for microversion "
            f"{microversion}"
        )


@dataclasses.dataclass(frozen=True)
class GlanceSchema:
    """The JSON schema real Glance serves, captured in the samples."""

    sample: str  # e.g. "image/022-schemas-image.json"
    status: tuple
    list_key: str | None = None  # wrap the schema as {list_key: [item]}

    def resolve(self, microversion):
        doc = json.loads((SAMPLES_DIR / self.sample).read_text())
        body_schema = copy.deepcopy(doc["response"]["body"])
        # Glance's "links" entries use "{id}" templates; irrelevant for
        # validation and jsonschema ignores them.
        body_schema.pop("links", None)
        return (
            {"status_code": list(self.status), "response_body": body_schema},
            f"glance {self.sample}",
        )


@dataclasses.dataclass(frozen=True)
class Entry:
    service: str
    method: str
    template: str
    schema: Any

    @property
    def regex(self):
        pattern = re.escape(self.template)
        pattern = pattern.replace(re.escape("{id}"), r"[^/]+")
        return re.compile("^" + pattern + "$")


C = "compute"
V = "block-storage"
I = "image"  # noqa: E741

SC = servers_client.ServersClient
TABLE: list[Entry] = [
    # ---------------------------------------------------------------- compute
    Entry(C, "GET", "/", Fixed(c_versions, "list_versions")),
    Entry(C, "GET", "/v2.1", Fixed(c_versions, "get_one_version")),
    Entry(C, "GET", "/v2.1/", Fixed(c_versions, "get_one_version")),
    Entry(C, "GET", "/v2.1/flavors",
          Versioned(flavors_client.FlavorsClient, "list_flavors")),
    Entry(C, "GET", "/v2.1/flavors/detail",
          Versioned(flavors_client.FlavorsClient, "list_flavors_details")),
    Entry(C, "GET", "/v2.1/flavors/{id}",
          Versioned(flavors_client.FlavorsClient,
                    "create_update_get_flavor_details")),
    Entry(C, "GET", "/v2.1/os-keypairs",
          Versioned(keypairs_client.KeyPairsClient, "list_keypairs")),
    Entry(C, "POST", "/v2.1/os-keypairs",
          Versioned(keypairs_client.KeyPairsClient, "create_keypair")),
    Entry(C, "GET", "/v2.1/os-keypairs/{id}",
          Versioned(keypairs_client.KeyPairsClient, "get_keypair")),
    Entry(C, "DELETE", "/v2.1/os-keypairs/{id}",
          Versioned(keypairs_client.KeyPairsClient, "delete_keypair")),
    Entry(C, "POST", "/v2.1/servers",
          Fixed(c_servers, "create_server_with_admin_pass")),
    Entry(C, "GET", "/v2.1/servers", Versioned(SC, "list_servers")),
    Entry(C, "GET", "/v2.1/servers/detail",
          Versioned(SC, "list_servers_detail")),
    Entry(C, "GET", "/v2.1/servers/{id}", Versioned(SC, "get_server")),
    Entry(C, "DELETE", "/v2.1/servers/{id}", Fixed(c_servers, "delete_server")),
    Entry(C, "GET", "/v2.1/servers/{id}/ips", Fixed(c_servers, "list_addresses")),
    Entry(C, "GET", "/v2.1/servers/{id}/metadata",
          Fixed(c_servers, "list_server_metadata")),
    Entry(C, "POST", "/v2.1/servers/{id}/metadata",
          Fixed(c_servers, "update_server_metadata")),
    Entry(C, "PUT", "/v2.1/servers/{id}/metadata",
          Fixed(c_servers, "set_server_metadata")),
    Entry(C, "GET", "/v2.1/servers/{id}/metadata/{id}",
          Fixed(c_servers, "set_show_server_metadata_item")),
    Entry(C, "PUT", "/v2.1/servers/{id}/metadata/{id}",
          Fixed(c_servers, "set_show_server_metadata_item")),
    Entry(C, "DELETE", "/v2.1/servers/{id}/metadata/{id}",
          Fixed(c_servers, "delete_server_metadata_item")),
    Entry(C, "GET", "/v2.1/servers/{id}/tags", Versioned(SC, "list_tags")),
    Entry(C, "PUT", "/v2.1/servers/{id}/tags", Versioned(SC, "update_all_tags")),
    Entry(C, "DELETE", "/v2.1/servers/{id}/tags",
          Versioned(SC, "delete_all_tags")),
    Entry(C, "GET", "/v2.1/servers/{id}/tags/{id}",
          Versioned(SC, "check_tag_existence")),
    Entry(C, "PUT", "/v2.1/servers/{id}/tags/{id}", Versioned(SC, "update_tag")),
    Entry(C, "DELETE", "/v2.1/servers/{id}/tags/{id}",
          Versioned(SC, "delete_tag")),
    # os-stop / os-start / reboot; createImage has its own entry, matched by
    # body in schema_for() (see ACTION_SCHEMAS).
    Entry(C, "POST", "/v2.1/servers/{id}/action",
          Fixed(c_servers, "server_actions_common_schema")),
    Entry(C, "GET", "/v2.1/servers/{id}/os-instance-actions",
          Versioned(SC, "list_instance_actions")),
    Entry(C, "GET", "/v2.1/servers/{id}/os-instance-actions/{id}",
          Versioned(SC, "show_instance_action")),
    Entry(C, "GET", "/v2.1/servers/{id}/os-interface",
          Versioned(interfaces_client.InterfacesClient, "list_interfaces")),
    Entry(C, "GET", "/v2.1/servers/{id}/os-volume_attachments",
          Versioned(SC, "list_volume_attachments")),
    Entry(C, "POST", "/v2.1/servers/{id}/os-volume_attachments",
          Versioned(SC, "attach_volume")),
    Entry(C, "GET", "/v2.1/servers/{id}/os-volume_attachments/{id}",
          Versioned(SC, "show_volume_attachment")),
    Entry(C, "DELETE", "/v2.1/servers/{id}/os-volume_attachments/{id}",
          Fixed(c_servers, "detach_volume")),
    Entry(C, "GET", "/v2.1/limits",
          Versioned(limits_client.LimitsClient, "get_limit")),
    Entry(C, "GET", "/v2.1/os-availability-zone",
          Fixed(c_az, "list_availability_zone_list")),
    Entry(C, "GET", "/v2.1/os-availability-zone/detail",
          Fixed(c_az, "list_availability_zone_list_detail")),
    Entry(C, "GET", "/v2.1/os-hypervisors",
          Versioned(hypervisor_client.HypervisorClient,
                    "list_search_hypervisors")),
    Entry(C, "GET", "/v2.1/os-hypervisors/detail",
          Versioned(hypervisor_client.HypervisorClient,
                    "list_hypervisors_detail")),
    Entry(C, "GET", "/v2.1/os-hypervisors/statistics",
          Versioned(hypervisor_client.HypervisorClient,
                    "get_hypervisor_statistics")),
    Entry(C, "GET", "/v2.1/os-hypervisors/{id}",
          Versioned(hypervisor_client.HypervisorClient, "get_hypervisor")),
    Entry(C, "GET", "/v2.1/os-services",
          Versioned(services_client.ServicesClient, "list_services")),
    Entry(C, "GET", "/v2.1/os-quota-sets/{id}",
          Versioned(quotas_client.QuotasClient, "get_quota_set")),
    Entry(C, "GET", "/v2.1/os-quota-sets/{id}/detail",
          Versioned(quotas_client.QuotasClient, "get_quota_set_details")),
    Entry(C, "GET", "/v2.1/os-quota-sets/{id}/defaults",
          Versioned(quotas_client.QuotasClient, "get_quota_set")),
    Entry(C, "POST", "/v2.1/os-server-groups",
          Versioned(server_groups_client.ServerGroupsClient,
                    "create_show_server_group")),
    Entry(C, "GET", "/v2.1/os-server-groups",
          Versioned(server_groups_client.ServerGroupsClient,
                    "list_server_groups")),
    Entry(C, "GET", "/v2.1/os-server-groups/{id}",
          Versioned(server_groups_client.ServerGroupsClient,
                    "create_show_server_group")),
    Entry(C, "DELETE", "/v2.1/os-server-groups/{id}",
          Versioned(server_groups_client.ServerGroupsClient,
                    "delete_server_group")),
    # --------------------------------------------------------- block-storage
    # (a "/v3/<project_id>" prefix is normalised to "/v3" before matching)
    Entry(V, "GET", "/", Fixed(v_versions, "list_versions")),
    Entry(V, "GET", "/v3/", Fixed(v_versions, "volume_api_version_details")),
    Entry(V, "GET", "/v3/volumes",
          Versioned(volumes_client.VolumesClient, "list_volumes_no_detail")),
    Entry(V, "GET", "/v3/volumes/detail",
          Versioned(volumes_client.VolumesClient, "list_volumes_with_detail")),
    Entry(V, "POST", "/v3/volumes",
          Versioned(volumes_client.VolumesClient, "create_volume")),
    Entry(V, "GET", "/v3/volumes/{id}",
          Versioned(volumes_client.VolumesClient, "show_volume")),
    Entry(V, "PUT", "/v3/volumes/{id}", Fixed(v_volumes, "update_volume")),
    Entry(V, "DELETE", "/v3/volumes/{id}", Fixed(v_volumes, "delete_volume")),
    Entry(V, "POST", "/v3/volumes/{id}/metadata",
          Fixed(v_volumes, "create_volume_metadata")),
    Entry(V, "GET", "/v3/volumes/{id}/metadata",
          Fixed(v_volumes, "show_volume_metadata")),
    Entry(V, "GET", "/v3/types", Fixed(v_types, "list_volume_types")),
    Entry(V, "GET", "/v3/types/{id}", Fixed(v_types, "show_volume_type")),
    Entry(V, "POST", "/v3/snapshots", Fixed(v_snapshots, "create_snapshot")),
    Entry(V, "GET", "/v3/snapshots",
          Fixed(v_snapshots, "list_snapshots_no_detail")),
    Entry(V, "GET", "/v3/snapshots/detail",
          Fixed(v_snapshots, "list_snapshots_with_detail")),
    Entry(V, "GET", "/v3/snapshots/{id}", Fixed(v_snapshots, "show_snapshot")),
    Entry(V, "DELETE", "/v3/snapshots/{id}",
          Fixed(v_snapshots, "delete_snapshot")),
    Entry(V, "GET", "/v3/limits", Fixed(v_limits, "show_limits")),
    Entry(V, "GET", "/v3/os-quota-sets/{id}",
          Fixed(v_quotas, "show_quota_set")),
    Entry(V, "GET", "/v3/os-quota-sets/{id}/defaults",
          Fixed(v_quotas, "show_quota_set")),
    # ------------------------------------------------------------------ image
    Entry(I, "POST", "/v2/images",
          GlanceSchema("image/022-schemas-image.json", (201,))),
    Entry(I, "GET", "/v2/images",
          GlanceSchema("image/023-schemas-images.json", (200,))),
    Entry(I, "GET", "/v2/images/{id}",
          GlanceSchema("image/022-schemas-image.json", (200,))),
    Entry(I, "PATCH", "/v2/images/{id}",
          GlanceSchema("image/022-schemas-image.json", (200,))),
]

# Server actions whose response differs from the common 202-no-body schema,
# selected by the action name (the single key of the request body).
ACTION_SCHEMAS = {
    "createImage": Versioned(images_client.ImagesClient, "create_image"),
}


def normalise_path(service: str, path: str) -> str:
    path = path.split("?", 1)[0]
    if service == "block-storage":
        # cinder accepts /v3/{project_id}/... and /v3/...
        path = re.sub(r"^/v3/[0-9a-f]{32}(?=/|$)", "/v3", path)
    return path


def schema_for(service, method, path, microversion=None, action=None):
    """Return (schema dict, description) for a call; raise LookupError."""
    microversion = microversion or BASE_MICROVERSION.get(service)
    if action and action in ACTION_SCHEMAS and service == "compute":
        schema, where = ACTION_SCHEMAS[action].resolve(microversion)
        return schema, f"{where}.{ACTION_SCHEMAS[action].attr}"
    norm = normalise_path(service, path)
    for entry in TABLE:
        if (
            entry.service == service
            and entry.method == method.upper()
            and entry.regex.match(norm)
        ):
            schema, where = entry.schema.resolve(microversion)
            attr = getattr(entry.schema, "attr", "")
            return schema, f"{where}.{attr}" if attr else where
    raise LookupError(f"no schema for {service} {method} {norm}")


def lower_headers(headers) -> dict:
    return {k.lower(): v for k, v in dict(headers).items()}


def validate(schema: dict, status: int, body, headers=None) -> None:
    """Validate like tempest's RestClient.validate_response (raises)."""
    expected = schema["status_code"]
    if status not in expected:
        raise AssertionError(f"status {status} not in schema's {expected}")
    body_schema = schema.get("response_body")
    if body_schema:
        JSONSCHEMA_VALIDATOR(body_schema, format_checker=FORMAT_CHECKER).validate(
            body
        )
    elif body not in (None, "", b"", {}):
        raise AssertionError(f"schema says no body, got {body!r:.300}")
    header_schema = schema.get("response_header")
    if header_schema and headers is not None:
        hdrs = lower_headers(headers)
        hdrs["status"] = str(status)
        JSONSCHEMA_VALIDATOR(header_schema, format_checker=FORMAT_CHECKER).validate(
            hdrs
        )
