//! Neutron behaviour checked against the captured samples (status, envelope, messages, key
//! sets), and the Nova contract.

use super::contract::NicRequest;
use super::NetworkData;
use crate::config::SiteSpec;
use crate::site::Bootstrap;
use crate::testing::{Answer, TestSite};
use axum::http::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::BTreeSet;

fn data() -> (NetworkData, Bootstrap) {
    let b = Bootstrap {
        admin_project_id: "admin-p".into(),
        admin_user_id: "admin-u".into(),
        demo_project_id: "demo-p".into(),
        demo_user_id: "demo-u".into(),
        service_project_id: "service-p".into(),
    };
    (NetworkData::bootstrap(&b, &SiteSpec::named("T")), b)
}

/// The response body of a captured exchange.
fn sample(name: &str) -> Value {
    let path = format!(
        "{}/../../../shared/openstack-samples/network/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let v: Value = serde_json::from_str(&text).expect("sample is JSON");
    v["response"]["body"].clone()
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

/// Asserts that `got` has exactly the keys of the object at `pointer` in a sample.
fn same_keys(got: &Value, file: &str, pointer: &str) {
    let want = sample(file);
    let want = want.pointer(pointer).expect("pointer in sample");
    assert_eq!(keys(got), keys(want), "keys of {file}{pointer}");
}

struct Api {
    t: TestSite,
    admin: String,
    demo: String,
}

impl Api {
    async fn new() -> Self {
        let t = TestSite::new().await;
        let (admin, demo) = (t.admin_token.clone(), t.demo_token.clone());
        Api { t, admin, demo }
    }

    async fn call(&self, m: Method, path: &str, tok: &str, body: Option<Value>) -> Answer {
        let path = format!("/networking/v2.0{path}");
        self.t.call(m, &path, Some(tok), &[], body).await
    }
    async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, &self.demo, None).await
    }
    async fn post(&self, path: &str, body: Value) -> Answer {
        self.call(Method::POST, path, &self.demo, Some(body)).await
    }
    async fn put(&self, path: &str, body: Value) -> Answer {
        self.call(Method::PUT, path, &self.demo, Some(body)).await
    }
    async fn delete(&self, path: &str) -> Answer {
        self.call(Method::DELETE, path, &self.demo, None).await
    }

    /// Creates a resource as demo; returns its ID.
    async fn create(&self, path: &str, key: &str, body: Value) -> String {
        let a = self.post(path, json!({ key: body })).await;
        assert_eq!(a.status, StatusCode::CREATED, "{path}: {}", a.body);
        a.body[key]["id"].as_str().expect("id").to_string()
    }

    /// A demo network with an IPv4 subnet 192.168.150.0/24: (network, subnet).
    async fn net_with_subnet(&self) -> (String, String) {
        let net = self
            .create("/networks", "network", json!({"name": "capture-net"}))
            .await;
        let sub = self
            .create(
                "/subnets",
                "subnet",
                json!({"network_id": net, "name": "capture-subnet", "ip_version": 4, "cidr": "192.168.150.0/24"}),
            )
            .await;
        (net, sub)
    }
}

fn neutron_error(a: &Answer, status: u16, kind: &str, message: &str) {
    assert_eq!(a.status.as_u16(), status, "{}", a.body);
    assert_eq!(a.body["NeutronError"]["type"], kind, "{}", a.body);
    assert_eq!(a.body["NeutronError"]["message"], message);
    assert_eq!(a.body["NeutronError"]["detail"], "");
}

#[tokio::test]
async fn versions_resources_and_extensions() {
    let api = Api::new().await;
    let a = api
        .t
        .call(Method::GET, "/networking", None, &[], None)
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(
        a.body["versions"][0]["links"][0]["href"],
        "http://127.0.0.1:5000/networking/v2.0/"
    );
    let a = api.get("/").await;
    assert_eq!(a.status, StatusCode::OK);
    let names: Vec<&str> = a.body["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .filter_map(|r| r["collection"].as_str())
        .collect();
    assert_eq!(names, ["networks", "subnets", "subnetpools", "ports"]);
    let a = api.get("/extensions").await;
    let want = sample("003-extensions-list.json");
    assert_eq!(a.body, want);
    let a = api.get("/extensions/router").await;
    assert_eq!(a.body, sample("004-extensions-show-router.json"));
    assert_eq!(
        api.get("/extensions/nope").await.status,
        StatusCode::NOT_FOUND
    );
    let a = api
        .t
        .call(Method::GET, "/networking/v2.0/networks", None, &[], None)
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(a.body, sample("076-networks-list-no-token.json"));
}

#[tokio::test]
async fn networks_crud_like_the_samples() {
    let api = Api::new().await;
    let a = api
        .post(
            "/networks",
            json!({"network": {"name": "capture-net", "admin_state_up": true}}),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED);
    same_keys(&a.body["network"], "005-networks-create.json", "/network");
    assert_eq!(a.body["network"]["mtu"], 1450);
    assert_eq!(a.body["network"]["revision_number"], 1);
    let id = a.body["network"]["id"].as_str().expect("id").to_string();
    let a = api.get(&format!("/networks/{id}")).await;
    same_keys(&a.body["network"], "009-networks-show.json", "/network");
    let a = api
        .call(Method::GET, &format!("/networks/{id}"), &api.admin, None)
        .await;
    same_keys(
        &a.body["network"],
        "010-networks-show-as-admin.json",
        "/network",
    );
    let a = api
        .put(
            &format!("/networks/{id}"),
            json!({"network": {"description": "capture network"}}),
        )
        .await;
    assert_eq!(a.body["network"]["description"], "capture network");
    assert_eq!(a.body["network"]["revision_number"], 2);
    let a = api.get("/networks?fields=id&fields=name").await;
    for n in a.body["networks"].as_array().expect("list") {
        assert_eq!(
            keys(n),
            keys(&sample("008-networks-list-fields.json")["networks"][0])
        );
    }
    let a = api.get("/networks?router:external=true").await;
    let names: Vec<&str> = a.body["networks"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|n| n["name"].as_str())
        .collect();
    assert_eq!(names, ["public"]);
    let a = api.get("/networks?name=private").await;
    assert_eq!(a.body["networks"][0]["shared"], true);
    assert_eq!(a.body["networks"].as_array().map(Vec::len), Some(1));
    let a = api
        .post(
            "/networks",
            json!({"network": {"name": "capture-bad", "colour": "blue"}}),
        )
        .await;
    neutron_error(
        &a,
        400,
        "HTTPBadRequest",
        "Unrecognized attribute(s) 'colour'",
    );
    let a = api
        .t
        .call_raw(
            Method::POST,
            "/networking/v2.0/networks",
            Some(&api.demo),
            &[],
            b"{\"network\": {\"name\": ".to_vec(),
            "application/json",
        )
        .await;
    assert_eq!(a.body, sample("074-networks-create-malformed-json.json"));
    let a = api
        .post(
            "/networks",
            json!({"network": {"name": "capture-bad", "router:external": true}}),
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(
        a.body,
        sample("050-networks-create-external-forbidden.json")
    );
    let a = api
        .get("/networks/1613c0dc-8c94-423c-8bde-8cd67f077d8f")
        .await;
    assert_eq!(a.body, sample("072-networks-show-not-found.json"));
    assert_eq!(
        api.delete(&format!("/networks/{id}")).await.status,
        StatusCode::NO_CONTENT
    );
    let a = api.get(&format!("/networks/{id}")).await;
    neutron_error(
        &a,
        404,
        "NetworkNotFound",
        &format!("Network {id} could not be found."),
    );
    let a = api.get("/networks?colour=blue").await;
    neutron_error(
        &a,
        400,
        "HTTPBadRequest",
        "[colour] is invalid attribute for filtering",
    );
}

#[tokio::test]
async fn other_projects_networks_are_hidden_or_protected() {
    let api = Api::new().await;
    let secret = api
        .call(
            Method::POST,
            "/networks",
            &api.admin,
            Some(json!({"network": {"name": "secret"}})),
        )
        .await;
    let id = secret.body["network"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let a = api.get(&format!("/networks/{id}")).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    let private = api.get("/networks?name=private").await;
    let pid = private.body["networks"][0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let a = api.delete(&format!("/networks/{pid}")).await;
    neutron_error(
        &a,
        403,
        "PolicyNotAuthorized",
        "rule:delete_network is disallowed by policy",
    );
}

#[tokio::test]
async fn pagination_links_and_markers() {
    let api = Api::new().await;
    for i in 0..3 {
        api.create("/networks", "network", json!({"name": format!("n{i}")}))
            .await;
    }
    let all = api.get("/networks").await;
    let ids: Vec<String> = all.body["networks"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|n| n["id"].as_str().map(str::to_string))
        .collect();
    assert_eq!(ids.len(), 5, "3 own + private + public");
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "ordered by id");
    let a = api.get("/networks?limit=2").await;
    let links = &a.body["networks_links"];
    let base = "http://127.0.0.1:5000/networking/v2.0/networks";
    assert_eq!(links[0]["rel"], "next");
    assert_eq!(
        links[0]["href"],
        format!("{base}?limit=2&marker={}", ids[1])
    );
    assert_eq!(
        links[1]["href"],
        format!("{base}?limit=2&marker={}&page_reverse=True", ids[0])
    );
    let a = api
        .get(&format!("/networks?limit=2&marker={}", ids[1]))
        .await;
    let page: Vec<&str> = a.body["networks"]
        .as_array()
        .expect("page")
        .iter()
        .filter_map(|n| n["id"].as_str())
        .collect();
    assert_eq!(page, [ids[2].as_str(), ids[3].as_str()]);
    let a = api
        .get(&format!("/networks?limit=2&marker={}", ids[3]))
        .await;
    assert_eq!(a.body["networks"].as_array().map(Vec::len), Some(1));
    let rels: Vec<&str> = a.body["networks_links"]
        .as_array()
        .expect("links")
        .iter()
        .filter_map(|l| l["rel"].as_str())
        .collect();
    assert_eq!(rels, ["previous"], "a short last page has no next");
    let a = api
        .get(&format!(
            "/networks?limit=2&marker={}&page_reverse=True",
            ids[3]
        ))
        .await;
    let page: Vec<&str> = a.body["networks"]
        .as_array()
        .expect("page")
        .iter()
        .filter_map(|n| n["id"].as_str())
        .collect();
    assert_eq!(page, [ids[1].as_str(), ids[2].as_str()]);
    let a = api
        .get("/networks?sort_key=name&sort_dir=desc&fields=name")
        .await;
    let names: Vec<&str> = a.body["networks"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|n| n["name"].as_str())
        .collect();
    assert_eq!(names, ["public", "private", "n2", "n1", "n0"]);
}

#[tokio::test]
async fn subnets_with_ipam() {
    let api = Api::new().await;
    let (net, sub) = api.net_with_subnet().await;
    let a = api.get(&format!("/subnets/{sub}")).await;
    same_keys(&a.body["subnet"], "017-subnets-show.json", "/subnet");
    let want = sample("012-subnets-create.json");
    for k in [
        "gateway_ip",
        "allocation_pools",
        "cidr",
        "enable_dhcp",
        "revision_number",
    ] {
        assert_eq!(a.body["subnet"][k], want["subnet"][k], "{k}");
    }
    let a = api
        .post(
            "/subnets",
            json!({"subnet": {"network_id": net, "ip_version": 4, "cidr": "192.168.300.0/24"}}),
        )
        .await;
    assert_eq!(a.body, sample("013-subnets-create-bad-cidr.json"));
    let a = api
        .post(
            "/subnets",
            json!({"subnet": {"network_id": net, "ip_version": 4, "cidr": "192.168.150.0/25"}}),
        )
        .await;
    neutron_error(&a, 400, "InvalidInput", &format!("Invalid input for operation: Requested subnet with cidr: 192.168.150.0/25 for network: {net} overlaps with another subnet."));
    let a = api
        .post("/subnets", json!({"subnet": {"network_id": net, "name": "capture-subnet-v6", "ip_version": 6, "cidr": "fd00:c0de::/64", "ipv6_ra_mode": "slaac", "ipv6_address_mode": "slaac"}}))
        .await;
    assert_eq!(a.status, StatusCode::CREATED);
    let want = sample("015-subnets-create-ipv6.json");
    for k in [
        "gateway_ip",
        "allocation_pools",
        "ipv6_ra_mode",
        "ipv6_address_mode",
        "ip_version",
    ] {
        assert_eq!(a.body["subnet"][k], want["subnet"][k], "{k}");
    }
    let plain = api
        .post(
            "/subnets",
            json!({"subnet": {"network_id": net, "ip_version": 6, "cidr": "fd00:1::/64"}}),
        )
        .await;
    assert_eq!(
        plain.body["subnet"]["gateway_ip"], "fd00:1::1",
        "tempest: IPv6 default gateway is the first address"
    );
    assert_eq!(
        plain.body["subnet"]["allocation_pools"][0]["start"],
        "fd00:1::2"
    );
    let plain_id = plain.body["subnet"]["id"].as_str().expect("id").to_string();
    assert_eq!(
        api.delete(&format!("/subnets/{plain_id}")).await.status,
        StatusCode::NO_CONTENT
    );
    let a = api.get(&format!("/subnets?network_id={net}")).await;
    assert_eq!(a.body["subnets"].as_array().map(Vec::len), Some(2));
    let a = api
        .put(&format!("/subnets/{sub}"), json!({"subnet": {"name": "capture-subnet-renamed", "dns_nameservers": ["192.0.2.53"]}}))
        .await;
    assert_eq!(a.body["subnet"]["dns_nameservers"], json!(["192.0.2.53"]));
    assert_eq!(a.body["subnet"]["revision_number"], 1);
    let a = api.get(&format!("/networks/{net}")).await;
    assert_eq!(
        a.body["network"]["subnets"].as_array().map(Vec::len),
        Some(2)
    );
    let a = api
        .post("/subnets", json!({"subnet": {"network_id": net, "ip_version": 4, "cidr": "10.9.0.0/24", "allocation_pools": [{"start": "10.9.0.10", "end": "10.9.0.20"}], "gateway_ip": "10.9.0.15"}}))
        .await;
    neutron_error(
        &a,
        409,
        "GatewayConflictWithAllocationPools",
        "Gateway ip 10.9.0.15 conflicts with allocation pool 10.9.0.10-10.9.0.20",
    );
}

#[tokio::test]
async fn ports_take_addresses_like_neutron() {
    let api = Api::new().await;
    let (net, sub) = api.net_with_subnet().await;
    let v6 = api
        .create("/subnets", "subnet", json!({"network_id": net, "ip_version": 6, "cidr": "fd00:c0de::/64", "ipv6_ra_mode": "slaac", "ipv6_address_mode": "slaac"}))
        .await;
    let a = api
        .post("/ports", json!({"port": {"network_id": net, "name": "capture-port", "fixed_ips": [{"subnet_id": sub, "ip_address": "192.168.150.10"}]}}))
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    let port = a.body["port"].clone();
    let pid = port["id"].as_str().expect("id").to_string();
    assert_eq!(port["status"], "DOWN");
    assert_eq!(
        port["fixed_ips"][0],
        json!({"subnet_id": sub, "ip_address": "192.168.150.10"})
    );
    assert_eq!(port["fixed_ips"][1]["subnet_id"], v6);
    let mac = port["mac_address"].as_str().expect("mac");
    assert!(mac.starts_with("fa:16:3e:"));
    let tail: Vec<&str> = mac.split(':').collect();
    let slaac = format!("fd00:c0de::f816:3eff:fe{}:{}{}", tail[3], tail[4], tail[5]);
    let slaac: std::net::IpAddr = slaac.parse().expect("ip");
    assert_eq!(port["fixed_ips"][1]["ip_address"], slaac.to_string());
    assert_eq!(port["security_groups"].as_array().map(Vec::len), Some(1));
    let a = api.get(&format!("/ports/{pid}")).await;
    same_keys(&a.body["port"], "024-ports-show.json", "/port");
    let a = api
        .call(Method::GET, &format!("/ports/{pid}"), &api.admin, None)
        .await;
    same_keys(&a.body["port"], "025-ports-show-as-admin.json", "/port");
    assert_eq!(a.body["port"]["binding:vif_type"], "unbound");
    let a = api
        .post("/ports", json!({"port": {"network_id": net, "fixed_ips": [{"subnet_id": sub, "ip_address": "192.168.150.10"}]}}))
        .await;
    neutron_error(
        &a,
        409,
        "IpAddressAlreadyAllocated",
        &format!("IP address 192.168.150.10 already allocated in subnet {sub}"),
    );
    let a = api
        .post("/ports", json!({"port": {"network_id": net, "fixed_ips": [{"subnet_id": sub, "ip_address": "10.99.0.5"}]}}))
        .await;
    assert_eq!(a.body, sample("021-ports-create-ip-outside-subnet.json"));
    let auto = api
        .create("/ports", "port", json!({"network_id": net}))
        .await;
    let a = api.get(&format!("/ports/{auto}")).await;
    assert_eq!(
        a.body["port"]["fixed_ips"][0]["ip_address"],
        "192.168.150.2"
    );
    let a = api
        .put(
            &format!("/ports/{pid}"),
            json!({"port": {"name": "capture-port-renamed", "description": "capture port"}}),
        )
        .await;
    assert_eq!(a.body["port"]["name"], "capture-port-renamed");
    assert_eq!(a.body["port"]["revision_number"], 2);
    let a = api
        .put(&format!("/ports/{auto}"), json!({"port": {"name": "moved", "fixed_ips": [{"subnet_id": sub, "ip_address": "192.168.150.10"}]}}))
        .await;
    assert_eq!(a.status, StatusCode::CONFLICT, "{}", a.body);
    let a = api.get(&format!("/ports/{auto}")).await;
    assert_eq!(
        a.body["port"]["name"], "",
        "a failed update changes nothing"
    );
    assert_eq!(
        a.body["port"]["fixed_ips"][0]["ip_address"],
        "192.168.150.2"
    );
    let a = api
        .put(
            &format!("/ports/{auto}"),
            json!({"port": {"fixed_ips": [{"subnet_id": sub, "ip_address": "192.168.150.11"}]}}),
        )
        .await;
    assert_eq!(
        a.body["port"]["fixed_ips"][0]["ip_address"],
        "192.168.150.11"
    );
    let a = api
        .put(
            &format!("/ports/{auto}"),
            json!({"port": {"port_security_enabled": false}}),
        )
        .await;
    neutron_error(&a, 409, "PortSecurityPortHasSecurityGroup", "Port has security group associated. Cannot disable port security or ip address until security group is removed");
    let a = api.get(&format!("/ports?network_id={net}")).await;
    assert_eq!(a.body["ports"].as_array().map(Vec::len), Some(2));
    let a = api.get("/ports?fixed_ips=ip_address=192.168.150.10").await;
    assert_eq!(a.body["ports"][0]["id"], pid.as_str());
    let a = api.delete(&format!("/networks/{net}")).await;
    assert_eq!(a.status, StatusCode::CONFLICT);
    assert_eq!(a.body["NeutronError"]["type"], "NetworkInUse");
    let a = api.get("/ports/0c2a4343-448d-464d-83e6-b5e74aa49c1f").await;
    assert_eq!(a.body, sample("073-ports-show-not-found.json"));
    assert_eq!(
        api.delete(&format!("/ports/{pid}")).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        api.delete(&format!("/ports/{auto}")).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        api.delete(&format!("/subnets/{v6}")).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        api.delete(&format!("/networks/{net}")).await.status,
        StatusCode::NO_CONTENT
    );
    let public = api.get("/networks?name=public").await;
    let ext = public.body["networks"][0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let a = api
        .post("/ports", json!({"port": {"network_id": ext}}))
        .await;
    neutron_error(&a, 404, "HTTPNotFound", "The resource could not be found.");
    let a = api
        .post(
            "/ports",
            json!({"port": {"network_id": net, "binding:host_id": "h"}}),
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn security_groups_and_rules() {
    let api = Api::new().await;
    let a = api.get("/security-groups").await;
    let groups = a.body["security_groups"].as_array().expect("list");
    assert_eq!(groups.len(), 1);
    same_keys(
        &groups[0],
        "028-security-groups-list.json",
        "/security_groups/0",
    );
    assert_eq!(groups[0]["name"], "default");
    assert_eq!(
        groups[0]["security_group_rules"].as_array().map(Vec::len),
        Some(4)
    );
    assert_eq!(
        groups[0]["security_group_rules"][0]["belongs_to_default_sg"],
        Value::Null
    );
    let def = groups[0]["id"].as_str().expect("id").to_string();
    let a = api.get(&format!("/security-groups/{def}")).await;
    assert_eq!(
        a.body["security_group"]["security_group_rules"][0]["belongs_to_default_sg"],
        true
    );
    let remote: Vec<&Value> = a.body["security_group"]["security_group_rules"]
        .as_array()
        .expect("rules")
        .iter()
        .filter(|r| r["remote_group_id"] == def.as_str())
        .collect();
    assert_eq!(
        remote.len(),
        2,
        "ingress from the group itself, IPv4 and IPv6"
    );
    let a = api
        .post(
            "/security-groups",
            json!({"security_group": {"name": "capture-sg", "description": "capture group"}}),
        )
        .await;
    same_keys(
        &a.body["security_group"],
        "030-security-groups-create.json",
        "/security_group",
    );
    assert_eq!(a.body["security_group"]["revision_number"], 1);
    let sg = a.body["security_group"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let rule = json!({"security_group_rule": {"security_group_id": sg, "direction": "ingress", "ethertype": "IPv4", "protocol": "tcp", "port_range_min": 22, "port_range_max": 22, "remote_ip_prefix": "0.0.0.0/0"}});
    let a = api.post("/security-group-rules", rule.clone()).await;
    assert_eq!(a.status, StatusCode::CREATED);
    same_keys(
        &a.body["security_group_rule"],
        "031-security-group-rules-create.json",
        "/security_group_rule",
    );
    assert_eq!(
        a.body["security_group_rule"]["normalized_cidr"],
        "0.0.0.0/0"
    );
    let rid = a.body["security_group_rule"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let a = api.post("/security-group-rules", rule).await;
    neutron_error(
        &a,
        409,
        "SecurityGroupRuleExists",
        &format!("Security group rule already exists. Rule id is {rid}."),
    );
    let a = api
        .post("/security-group-rules", json!({"security_group_rule": {"security_group_id": sg, "direction": "ingress", "ethertype": "IPv4", "protocol": "tcp", "port_range_min": 80, "port_range_max": 22, "remote_ip_prefix": "0.0.0.0/0"}}))
        .await;
    assert_eq!(
        a.body,
        sample("033-security-group-rules-create-bad-port-range.json")
    );
    let a = api
        .get(&format!("/security-group-rules?security_group_id={sg}"))
        .await;
    assert_eq!(
        a.body["security_group_rules"].as_array().map(Vec::len),
        Some(3)
    );
    let a = api.get(&format!("/security-groups/{sg}")).await;
    assert_eq!(a.body["security_group"]["revision_number"], 2);
    assert_eq!(
        api.delete(&format!("/security-group-rules/{rid}"))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        api.delete(&format!("/security-groups/{sg}")).await.status,
        StatusCode::NO_CONTENT
    );
    let a = api.get(&format!("/security-groups/{sg}")).await;
    neutron_error(
        &a,
        404,
        "SecurityGroupNotFound",
        &format!("Security group {sg} does not exist"),
    );
}

#[tokio::test]
async fn routers_gateways_and_floating_ips() {
    let api = Api::new().await;
    let (net, sub) = api.net_with_subnet().await;
    let port = api
        .create("/ports", "port", json!({"network_id": net, "fixed_ips": [{"subnet_id": sub, "ip_address": "192.168.150.10"}]}))
        .await;
    let a = api
        .post(
            "/routers",
            json!({"router": {"name": "capture-router", "admin_state_up": true}}),
        )
        .await;
    same_keys(&a.body["router"], "040-routers-create.json", "/router");
    let r = a.body["router"]["id"].as_str().expect("id").to_string();
    let a = api
        .put(
            &format!("/routers/{r}/add_router_interface"),
            json!({"subnet_id": sub}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    same_keys(&a.body, "041-routers-add-interface-subnet.json", "");
    let a = api
        .put(
            &format!("/routers/{r}/add_router_interface"),
            json!({"subnet_id": sub}),
        )
        .await;
    neutron_error(
        &a,
        400,
        "BadRequest",
        &format!("Bad router request: Router already has a port on subnet {sub}."),
    );
    let a = api.get(&format!("/ports?device_id={r}")).await;
    let iface = &a.body["ports"][0];
    assert_eq!(iface["device_owner"], "network:router_interface");
    assert_eq!(iface["fixed_ips"][0]["ip_address"], "192.168.150.1");
    assert_eq!(iface["port_security_enabled"], false);
    let a = api.delete(&format!("/subnets/{sub}")).await;
    neutron_error(&a, 409, "SubnetInUse", &format!("Unable to complete operation on subnet {sub}: One or more ports have an IP allocation from this subnet."));
    let a = api
        .post(
            "/floatingips",
            json!({"floatingip": {"floating_network_id": net}}),
        )
        .await;
    neutron_error(
        &a,
        400,
        "BadRequest",
        &format!("Bad floatingip request: Network {net} is not a valid external network."),
    );
    let public = api.get("/networks?router:external=true").await;
    let ext = public.body["networks"][0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let a = api
        .put(
            &format!("/routers/{r}"),
            json!({"router": {"external_gateway_info": {"network_id": ext}}}),
        )
        .await;
    let gw = &a.body["router"]["external_gateway_info"];
    assert_eq!(gw["enable_snat"], true);
    assert!(gw["external_fixed_ips"][0]["ip_address"]
        .as_str()
        .is_some_and(|ip| ip.starts_with("172.24.4.")));
    assert_eq!(a.body["router"]["revision_number"], 3);
    let a = api
        .post("/floatingips", json!({"floatingip": {"floating_network_id": ext, "port_id": port, "description": "capture fip"}}))
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    same_keys(
        &a.body["floatingip"],
        "052-floatingips-create.json",
        "/floatingip",
    );
    assert_eq!(a.body["floatingip"]["router_id"], r.as_str());
    assert_eq!(a.body["floatingip"]["fixed_ip_address"], "192.168.150.10");
    same_keys(
        &a.body["floatingip"]["port_details"],
        "052-floatingips-create.json",
        "/floatingip/port_details",
    );
    let fip = a.body["floatingip"]["id"].as_str().expect("id").to_string();
    let a = api
        .put(
            &format!("/floatingips/{fip}"),
            json!({"floatingip": {"port_id": null}}),
        )
        .await;
    assert_eq!(a.body["floatingip"]["port_details"], Value::Null);
    assert_eq!(a.body["floatingip"]["router_id"], Value::Null);
    let a = api
        .put(
            &format!("/floatingips/{fip}"),
            json!({"floatingip": {"port_id": port}}),
        )
        .await;
    assert_eq!(a.body["floatingip"]["revision_number"], 2);
    {
        let g = api.t.site.data.lock();
        assert_eq!(g.network.floating_ips_of_port(&port).len(), 1);
    }
    let a = api
        .put(
            &format!("/routers/{r}"),
            json!({"router": {"external_gateway_info": {}}}),
        )
        .await;
    neutron_error(&a, 409, "RouterExternalGatewayInUseByFloatingIp", &format!("Gateway cannot be updated for router {r}, since a gateway to external network {ext} is required by one or more floating IPs."));
    assert_eq!(
        api.delete(&format!("/floatingips/{fip}")).await.status,
        StatusCode::NO_CONTENT
    );
    let a = api.get(&format!("/floatingips/{fip}")).await;
    neutron_error(
        &a,
        404,
        "FloatingIPNotFound",
        &format!("Floating IP {fip} could not be found"),
    );
    let a = api
        .put(
            &format!("/routers/{r}"),
            json!({"router": {"external_gateway_info": {}}}),
        )
        .await;
    assert_eq!(a.body["router"]["external_gateway_info"], Value::Null);
    assert_eq!(a.body["router"]["revision_number"], 5);
    let a = api
        .put(
            &format!("/routers/{r}/remove_router_interface"),
            json!({"subnet_id": sub}),
        )
        .await;
    same_keys(&a.body, "065-routers-remove-interface-subnet.json", "");
    let a = api
        .put(
            &format!("/routers/{r}/remove_router_interface"),
            json!({"subnet_id": sub}),
        )
        .await;
    neutron_error(
        &a,
        404,
        "RouterInterfaceNotFoundForSubnet",
        &format!("Router {r} has no interface on subnet {sub}"),
    );
    assert_eq!(
        api.delete(&format!("/routers/{r}")).await.status,
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn quotas_show_count_and_enforce() {
    let api = Api::new().await;
    let project = {
        let g = api.t.site.data.lock();
        g.identity.project_by_name("demo").expect("demo").id.clone()
    };
    let a = api.get(&format!("/quotas/{project}")).await;
    assert_eq!(a.body, sample("068-quotas-show.json"));
    let a = api.get(&format!("/quotas/{project}/default")).await;
    assert_eq!(a.body, sample("070-quotas-defaults.json"));
    api.net_with_subnet().await;
    api.get("/security-groups").await;
    let a = api.get(&format!("/quotas/{project}/details")).await;
    same_keys(&a.body["quota"], "069-quotas-show-details.json", "/quota");
    assert_eq!(
        a.body["quota"]["network"],
        json!({"limit": 100, "used": 1, "reserved": 0})
    );
    assert_eq!(a.body["quota"]["security_group_rule"]["used"], 4);
    let a = api.call(Method::GET, "/quotas", &api.admin, None).await;
    assert_eq!(a.body, sample("071-quotas-list-as-admin.json"));
    let a = api
        .put(
            &format!("/quotas/{project}"),
            json!({"quota": {"network": 1}}),
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let a = api
        .call(
            Method::PUT,
            &format!("/quotas/{project}"),
            &api.admin,
            Some(json!({"quota": {"network": 1}})),
        )
        .await;
    assert_eq!(a.body["quota"]["network"], 1);
    let a = api
        .post("/networks", json!({"network": {"name": "one-too-many"}}))
        .await;
    neutron_error(
        &a,
        409,
        "OverQuota",
        "Quota exceeded for resources: ['network'].",
    );
    let a = api.call(Method::GET, "/quotas", &api.admin, None).await;
    assert_eq!(a.body["quotas"][0]["project_id"], project.as_str());
}

#[test]
fn plug_and_unplug_servers() {
    let (mut d, b) = data();
    let p = &b.demo_project_id;
    let net = d.auto_network(p).expect("private network");
    let nic = NicRequest::Network {
        id: net.clone(),
        fixed_ip: None,
    };
    let a = d
        .plug_server(p, "srv-1", "host1", &nic, &[])
        .expect("plugged");
    assert_eq!(a.network_name, "private");
    assert_eq!(a.fixed_ips.len(), 1);
    assert_eq!(a.fixed_ips[0].0.to_string(), "10.1.0.2");
    assert!(a.mac.starts_with("fa:16:3e:"));
    let fixed = NicRequest::Network {
        id: net.clone(),
        fixed_ip: Some("10.1.0.50".parse().expect("ip")),
    };
    let b2 = d
        .plug_server(p, "srv-1", "host1", &fixed, &["default".into()])
        .expect("second nic");
    assert_eq!(b2.fixed_ips[0].0.to_string(), "10.1.0.50");
    let nics = d.server_nics("srv-1");
    assert_eq!(
        nics.iter().map(|n| n.port_id.as_str()).collect::<Vec<_>>(),
        [a.port_id.as_str(), b2.port_id.as_str()]
    );
    assert_eq!(d.ports[a.port_id.as_str()].status(), "ACTIVE");
    let e = d
        .plug_server(p, "srv-2", "host1", &fixed, &[])
        .expect_err("address in use");
    assert_eq!(e.status.as_u16(), 400);
    assert_eq!(
        e.message,
        "Fixed IP address 10.1.0.50 is already in use on instance srv-1."
    );
    let unknown = NicRequest::Network {
        id: "nope".into(),
        fixed_ip: None,
    };
    let e = d
        .plug_server(p, "srv-2", "host1", &unknown, &[])
        .expect_err("unknown");
    assert_eq!(
        e.body()["badRequest"]["message"],
        "Network nope could not be found."
    );
    let e = d
        .plug_server(p, "srv-2", "host1", &nic, &["web".into()])
        .expect_err("unknown group");
    assert_eq!(e.message, "Security group web not found.");
    d.unplug_port("srv-1", &b2.port_id).expect("detached");
    assert_eq!(
        d.unplug_port("srv-1", &b2.port_id)
            .expect_err("gone")
            .status
            .as_u16(),
        404
    );
    d.unplug_server("srv-1");
    assert!(d.server_nics("srv-1").is_empty());
    let again = d
        .plug_server(p, "srv-3", "host1", &fixed, &[])
        .expect("address freed");
    assert_eq!(again.fixed_ips[0].0.to_string(), "10.1.0.50");
}

#[test]
fn existing_ports_are_bound_then_unbound() {
    let (mut d, b) = data();
    let p = &b.demo_project_id;
    let net = d.auto_network(p).expect("private");
    let port = d
        .create_port(super::ops::NewPort::new(p, &net))
        .expect("port");
    let req = NicRequest::Port {
        id: port.to_string(),
    };
    let nic = d.plug_server(p, "srv", "h", &req, &[]).expect("bound");
    assert_eq!(port, nic.port_id);
    let e = d
        .plug_server(p, "other", "h", &req, &[])
        .expect_err("in use");
    assert_eq!(e.status.as_u16(), 409);
    assert_eq!(e.message, format!("Port {port} is still in use."));
    let e = d
        .plug_server(&b.admin_project_id, "other", "h", &req, &[])
        .expect_err("not theirs");
    assert_eq!(e.status.as_u16(), 400);
    d.unplug_server("srv");
    let kept = &d.ports[&port];
    assert_eq!(kept.device_id, "");
    assert_eq!(kept.status(), "DOWN");
    assert!(d.check_security_groups(p, &["default".into()]).is_ok());
    assert!(d.check_security_groups(p, &["nope".into()]).is_err());
}

#[test]
fn port_quota_applies_to_servers() {
    let (mut d, b) = data();
    let p = &b.demo_project_id;
    let net = d.auto_network(p).expect("private");
    let mut q = super::model::default_quota();
    q[super::model::Resource::Port.index()] = 1;
    d.quotas.insert(p.clone(), q);
    let nic = NicRequest::Network {
        id: net,
        fixed_ip: None,
    };
    d.plug_server(p, "a", "h", &nic, &[]).expect("first");
    let e = d
        .plug_server(p, "b", "h", &nic, &[])
        .expect_err("over quota");
    assert_eq!(e.status.as_u16(), 403);
    assert_eq!(e.message, "Maximum number of ports exceeded");
}

#[tokio::test]
async fn tags_on_resources() {
    let api = Api::new().await;
    let net = api
        .create("/networks", "network", json!({"name": "tagged"}))
        .await;
    let a = api
        .call(
            Method::PUT,
            &format!("/networks/{net}/tags/red"),
            &api.demo,
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED);
    let a = api.get(&format!("/networks/{net}/tags")).await;
    assert_eq!(a.body, json!({"tags": ["red"]}));
    let a = api.get(&format!("/networks/{net}/tags/blue")).await;
    neutron_error(
        &a,
        404,
        "TagNotFound",
        &format!("Tag blue could not be found for network {net}."),
    );
    let a = api.get("/networks?tags=red").await;
    assert_eq!(a.body["networks"][0]["id"], net.as_str());
    assert_eq!(a.body["networks"].as_array().map(Vec::len), Some(1));
    let a = api
        .put(
            &format!("/networks/{net}/tags"),
            json!({"tags": ["a", "b", "a"]}),
        )
        .await;
    assert_eq!(a.body, json!({"tags": ["a", "b"]}));
    let a = api.get("/networks?not-tags=a").await;
    assert!(a.body["networks"]
        .as_array()
        .expect("list")
        .iter()
        .all(|n| n["id"] != net.as_str()));
    assert_eq!(
        api.delete(&format!("/networks/{net}/tags")).await.status,
        StatusCode::NO_CONTENT
    );
    let a = api.get(&format!("/networks/{net}")).await;
    assert_eq!(a.body["network"]["tags"], json!([]));
    let a = api.get("/routers/nope/tags").await;
    neutron_error(&a, 404, "RouterNotFound", "Router nope could not be found");
}

#[tokio::test]
async fn floating_ips_reach_servers_on_private_through_router1() {
    let api = Api::new().await;
    let project = {
        let g = api.t.site.data.lock();
        g.identity.project_by_name("demo").expect("demo").id.clone()
    };
    let nic = {
        let mut g = api.t.site.data.lock();
        let net = g.network.auto_network(&project).expect("private");
        let req = NicRequest::Network {
            id: net,
            fixed_ip: None,
        };
        g.network
            .plug_server(&project, "srv", "host1", &req, &[])
            .expect("plugged")
    };
    let a = api.get("/routers").await;
    assert_eq!(a.body["routers"], json!([]), "router1 belongs to admin");
    let a = api
        .call(Method::GET, "/routers?name=router1", &api.admin, None)
        .await;
    assert_eq!(
        a.body["routers"][0]["external_gateway_info"]["enable_snat"],
        true
    );
    let public = api.get("/networks?name=public").await;
    let ext = public.body["networks"][0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let a = api
        .post(
            "/floatingips",
            json!({"floatingip": {"floating_network_id": ext, "port_id": nic.port_id}}),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    assert_eq!(
        a.body["floatingip"]["status"], "ACTIVE",
        "the server port is bound"
    );
    assert_eq!(a.body["floatingip"]["port_details"]["device_id"], "srv");
    let addr = a.body["floatingip"]["floating_ip_address"]
        .as_str()
        .expect("address")
        .to_string();
    {
        let mut g = api.t.site.data.lock();
        let fips = g.network.floating_ips_of_port(&nic.port_id);
        assert_eq!(
            fips.iter().map(|ip| ip.to_string()).collect::<Vec<_>>(),
            [addr]
        );
        g.network.unplug_server("srv");
    }
    let a = api.get("/floatingips").await;
    assert_eq!(
        a.body["floatingips"][0]["port_id"],
        Value::Null,
        "the floating IP stays, disassociated"
    );
    assert_eq!(a.body["floatingips"][0]["status"], "DOWN");
}

#[tokio::test]
async fn ip_availability_counts_pools_and_allocations() {
    let api = Api::new().await;
    let a = api
        .call(
            Method::GET,
            "/network-ip-availabilities?ip_version=4&network_name=public",
            &api.admin,
            None,
        )
        .await;
    let public = &a.body["network_ip_availabilities"][0];
    assert_eq!(public["total_ips"], 253);
    assert_eq!(public["used_ips"], 1, "router1's gateway");
    assert_eq!(public["subnet_ip_availability"][0]["cidr"], "172.24.4.0/24");
    let a = api.get("/network-ip-availabilities").await;
    assert_eq!(a.body["network_ip_availabilities"], json!([]));
    let id = public["network_id"].as_str().expect("id").to_string();
    let a = api.get(&format!("/network-ip-availabilities/{id}")).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn garbage_bodies_are_client_errors() {
    let api = Api::new().await;
    let (net, sub) = api.net_with_subnet().await;
    let values = [
        json!(null),
        json!(7),
        json!("x"),
        json!([1, "a"]),
        json!({"a": 1}),
        json!(-1),
        json!(true),
    ];
    let creates: [(&str, &str, &[&str]); 6] = [
        (
            "/networks",
            "network",
            &["name", "mtu", "shared", "admin_state_up", "tags"],
        ),
        (
            "/subnets",
            "subnet",
            &[
                "cidr",
                "ip_version",
                "gateway_ip",
                "allocation_pools",
                "host_routes",
                "dns_nameservers",
                "ipv6_address_mode",
            ],
        ),
        (
            "/ports",
            "port",
            &[
                "fixed_ips",
                "mac_address",
                "security_groups",
                "allowed_address_pairs",
                "binding:vnic_type",
                "port_security_enabled",
            ],
        ),
        (
            "/security-group-rules",
            "security_group_rule",
            &[
                "protocol",
                "port_range_min",
                "port_range_max",
                "remote_ip_prefix",
                "direction",
                "ethertype",
            ],
        ),
        (
            "/routers",
            "router",
            &["external_gateway_info", "name", "admin_state_up"],
        ),
        (
            "/floatingips",
            "floatingip",
            &[
                "floating_network_id",
                "port_id",
                "fixed_ip_address",
                "subnet_id",
            ],
        ),
    ];
    for (path, key, attrs) in creates {
        for attr in attrs {
            for v in &values {
                let mut obj = match key {
                    "subnet" => json!({"network_id": net, "ip_version": 4, "cidr": "10.77.0.0/24"}),
                    "port" => json!({"network_id": net}),
                    _ => json!({}),
                };
                obj[*attr] = v.clone();
                let a = api.post(path, json!({ key: obj })).await;
                assert!(
                    a.status.as_u16() < 500,
                    "{path} {attr}={v}: {} {}",
                    a.status,
                    a.body
                );
                if a.status == StatusCode::CREATED {
                    let id = a.body[key]["id"].as_str().unwrap_or_default().to_string();
                    api.delete(&format!("{path}/{id}")).await;
                }
            }
        }
    }
    for body in [
        json!([]),
        json!({"port": []}),
        json!({"port": {"fixed_ips": [{"subnet_id": sub, "ip_address": 5}]}}),
    ] {
        let a = api.post("/ports", body).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
    }
}
