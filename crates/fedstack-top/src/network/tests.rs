//! Neutron at the top against real simulated sites (in-process top, sites over HTTP).

use crate::testing::TestTop;
use axum::http::{Method, StatusCode};
use fedstack_sim::{Sim, SimConfig};
use fedstack_site_client::{Scope, SiteRequest};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

struct Bed {
    t: Arc<TestTop>,
    _sim: Arc<Sim>,
}

async fn bed(sites: usize) -> Bed {
    let mut cfg = SimConfig::with_sites(sites);
    cfg.timing.build_ms = 50;
    cfg.timing.action_ms = 20;
    let sim = Sim::start(cfg).await.unwrap();
    let t = TestTop::new().await;
    for s in &sim.sites {
        t.register_site(&s.site.name, &s.site.auth_url()).await;
    }
    Bed {
        t: Arc::new(t),
        _sim: sim,
    }
}

impl Bed {
    async fn net(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let a = self
            .t
            .call(
                method,
                &format!("/networking/v2.0{path}"),
                Some(&self.t.demo_token),
                body,
            )
            .await;
        (a.status, a.body)
    }

    /// A demo network with one subnet of `cidr`: (network ID, subnet ID).
    async fn network(&self, name: &str, cidr: &str) -> (String, String) {
        let (s, n) = self
            .net(
                Method::POST,
                "/networks",
                Some(json!({"network": {"name": name}})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{n}");
        let net = n["network"]["id"].as_str().unwrap().to_string();
        let body = json!({"subnet": {"network_id": net, "cidr": cidr, "ip_version": 4, "dns_nameservers": ["192.0.2.53"]}});
        let (s, sub) = self.net(Method::POST, "/subnets", Some(body)).await;
        assert_eq!(s, StatusCode::CREATED, "{sub}");
        (net, sub["subnet"]["id"].as_str().unwrap().to_string())
    }

    /// A Neutron GET on a site as its admin.
    async fn on_site(&self, site: &str, path: &str) -> Value {
        let h = self.t.top.sites.by_az(site).unwrap();
        h.client
            .json(SiteRequest::new(
                Method::GET,
                "network",
                format!("/v2.0{path}"),
                Scope::Admin,
            ))
            .await
            .unwrap()
    }

    /// An image uploaded to the top, for servers.
    async fn image(&self) -> String {
        let token = Some(self.t.demo_token.as_str());
        let body = json!({"name": "net-image", "disk_format": "raw", "container_format": "bare"});
        let a = self
            .t
            .call(Method::POST, "/image/v2/images", token, Some(body))
            .await;
        let id = a.body["id"].as_str().unwrap().to_string();
        let a = self
            .t
            .call_raw(
                Method::PUT,
                &format!("/image/v2/images/{id}/file"),
                token,
                &[],
                vec![7u8; 4096],
                "application/octet-stream",
            )
            .await;
        assert_eq!(a.status, StatusCode::NO_CONTENT, "{}", a.body);
        id
    }

    async fn server(
        &self,
        image: &str,
        name: &str,
        az: &str,
        networks: Value,
    ) -> (StatusCode, Value) {
        let body = json!({"server": {"name": name, "imageRef": image, "flavorRef": "1", "availability_zone": az, "networks": networks}});
        let a = self
            .t
            .call_raw(
                Method::POST,
                "/compute/v2.1/servers",
                Some(&self.t.demo_token),
                &[("openstack-api-version", "compute 2.52")],
                serde_json::to_vec(&body).unwrap(),
                "application/json",
            )
            .await;
        (a.status, a.body)
    }

    async fn wait_active(&self, id: &str) -> Value {
        for _ in 0..200 {
            let a = self
                .t
                .call(
                    Method::GET,
                    &format!("/compute/v2.1/servers/{id}"),
                    Some(&self.t.demo_token),
                    None,
                )
                .await;
            if a.body["server"]["status"] == "ACTIVE" {
                return a.body["server"].clone();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("server {id} never became ACTIVE");
    }
}

#[tokio::test]
async fn concurrent_port_creates_never_share_an_address() {
    let b = bed(0).await;
    // 10.9.0.0/27: 29 pool addresses (.2 to .30) for 40 concurrent requests.
    let (net, subnet) = b.network("crowded", "10.9.0.0/27").await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..40 {
        let t = b.t.clone();
        let net = net.clone();
        tasks.spawn(async move {
            let body = json!({"port": {"network_id": net, "name": format!("p{i}")}});
            let a = t
                .call(
                    Method::POST,
                    "/networking/v2.0/ports",
                    Some(&t.demo_token),
                    Some(body),
                )
                .await;
            (a.status, a.body)
        });
    }
    let results = tasks.join_all().await;
    let made: Vec<&Value> = results
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .map(|(_, b)| b)
        .collect();
    assert_eq!(
        made.len(),
        29,
        "every pool address is handed out exactly once"
    );
    let ips: HashSet<&str> = made
        .iter()
        .map(|p| p["port"]["fixed_ips"][0]["ip_address"].as_str().unwrap())
        .collect();
    assert_eq!(ips.len(), 29, "no address twice: {ips:?}");
    assert!(!ips.contains("10.9.0.1") && !ips.contains("10.9.0.0") && !ips.contains("10.9.0.31"));
    let macs: HashSet<&str> = made
        .iter()
        .map(|p| p["port"]["mac_address"].as_str().unwrap())
        .collect();
    assert_eq!(macs.len(), 29);
    for (s, body) in results.iter().filter(|(s, _)| *s != StatusCode::CREATED) {
        assert_eq!(*s, StatusCode::CONFLICT, "{body}");
        assert_eq!(body["NeutronError"]["type"], "IpAddressGenerationFailure");
    }
    // A taken address asked for explicitly is Neutron's 409; a free one is honoured.
    let taken = made[0]["port"]["fixed_ips"][0]["ip_address"]
        .as_str()
        .unwrap();
    let body = json!({"port": {"network_id": net, "fixed_ips": [{"subnet_id": subnet, "ip_address": taken}]}});
    let (s, e) = b.net(Method::POST, "/ports", Some(body)).await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    assert_eq!(e["NeutronError"]["type"], "IpAddressAlreadyAllocated");
    let (s, _) = b
        .net(
            Method::DELETE,
            &format!("/ports/{}", made[0]["port"]["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let body = json!({"port": {"network_id": net, "fixed_ips": [{"ip_address": taken}]}});
    let (s, p) = b.net(Method::POST, "/ports", Some(body)).await;
    assert_eq!(
        s,
        StatusCode::CREATED,
        "a freed address can be taken again: {p}"
    );
    assert_eq!(p["port"]["fixed_ips"][0]["ip_address"], taken);
    let (s, e) = b
        .net(Method::DELETE, &format!("/networks/{net}"), None)
        .await;
    assert_eq!(
        (s, e["NeutronError"]["type"].as_str()),
        (StatusCode::CONFLICT, Some("NetworkInUse"))
    );
}

#[tokio::test]
async fn bad_input_gets_neutron_errors() {
    let b = bed(0).await;
    let (s, e) = b
        .net(Method::POST, "/networks", Some(json!({"net": {}})))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    let (s, e) = b
        .net(
            Method::POST,
            "/networks",
            Some(json!({"network": {"router:external": true}})),
        )
        .await;
    assert_eq!(
        (s, e["NeutronError"]["type"].as_str()),
        (StatusCode::FORBIDDEN, Some("PolicyNotAuthorized"))
    );
    let (net, _) = b.network("n", "10.1.0.0/24").await;
    let body = json!({"subnet": {"network_id": net, "cidr": "10.1.0.128/25", "ip_version": 4}});
    let (s, e) = b.net(Method::POST, "/subnets", Some(body)).await;
    assert_eq!(
        (s, e["NeutronError"]["type"].as_str()),
        (StatusCode::BAD_REQUEST, Some("InvalidInput")),
        "{e}"
    );
    let body = json!({"subnet": {"network_id": net, "cidr": "not-a-cidr", "ip_version": 4}});
    assert_eq!(
        b.net(Method::POST, "/subnets", Some(body)).await.0,
        StatusCode::BAD_REQUEST
    );
    let body = json!({"port": {"network_id": net, "fixed_ips": [{"ip_address": "10.2.0.5"}]}});
    let (s, e) = b.net(Method::POST, "/ports", Some(body)).await;
    assert_eq!(
        (s, e["NeutronError"]["type"].as_str()),
        (StatusCode::BAD_REQUEST, Some("InvalidIpForNetwork"))
    );
    let (s, e) = b.net(Method::GET, "/networks/nope", None).await;
    assert_eq!(
        (s, e["NeutronError"]["type"].as_str()),
        (StatusCode::NOT_FOUND, Some("NetworkNotFound"))
    );
    // Another project's network is not found.
    let a =
        b.t.call(
            Method::GET,
            &format!("/networking/v2.0/networks/{net}"),
            Some(&b.t.admin_token),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "admins see every network");
    let a =
        b.t.call(
            Method::POST,
            "/networking/v2.0/networks",
            Some(&b.t.admin_token),
            Some(json!({"network": {"name": "adm"}})),
        )
        .await;
    let adm = a.body["network"]["id"].as_str().unwrap();
    let (s, _) = b.net(Method::GET, &format!("/networks/{adm}"), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn servers_on_one_top_network_across_sites_and_group_rules_follow() {
    let b = bed(3).await;
    let (net, subnet) = b.network("stretched", "10.20.0.0/24").await;
    let image = b.image().await;
    let mut addrs = HashSet::new();
    let mut servers = vec![];
    for site in ["CloudOne", "CloudTwo", "CloudThree"] {
        let (s, v) = b
            .server(&image, &format!("vm-{site}"), site, json!([{"uuid": net}]))
            .await;
        assert_eq!(s, StatusCode::ACCEPTED, "{v}");
        let id = v["server"]["id"].as_str().unwrap().to_string();
        let shown = b.wait_active(&id).await;
        let addr = shown["addresses"]["stretched"][0]["addr"]
            .as_str()
            .unwrap()
            .to_string();
        let (_, ports) = b
            .net(Method::GET, &format!("/ports?device_id={id}"), None)
            .await;
        let port = &ports["ports"][0];
        assert_eq!(
            port["fixed_ips"][0]["ip_address"],
            addr.as_str(),
            "the site uses the top's address"
        );
        // The site's port has exactly the top's address and MAC, on a site copy of the subnet.
        let site_ports = b
            .on_site(
                site,
                &format!(
                    "/ports?mac_address={}",
                    port["mac_address"].as_str().unwrap()
                ),
            )
            .await;
        assert_eq!(
            site_ports["ports"][0]["fixed_ips"][0]["ip_address"],
            addr.as_str()
        );
        let site_subnets = b.on_site(site, "/subnets?cidr=10.20.0.0/24").await;
        assert_eq!(site_subnets["subnets"][0]["gateway_ip"], "10.20.0.1");
        assert_eq!(
            site_subnets["subnets"][0]["dns_nameservers"],
            json!(["192.0.2.53"])
        );
        assert!(addrs.insert(addr), "distinct addresses across sites");
        servers.push(id);
    }
    // An explicit fixed IP is honoured; a taken one is refused as Nova does.
    let (s, v) = b
        .server(
            &image,
            "vm-fixed",
            "CloudTwo",
            json!([{"uuid": net, "fixed_ip": "10.20.0.77"}]),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let fixed = b.wait_active(v["server"]["id"].as_str().unwrap()).await;
    assert_eq!(fixed["addresses"]["stretched"][0]["addr"], "10.20.0.77");
    let (s, e) = b
        .server(
            &image,
            "vm-clash",
            "CloudThree",
            json!([{"uuid": net, "fixed_ip": "10.20.0.77"}]),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    assert!(
        e["badRequest"]["message"]
            .as_str()
            .unwrap()
            .contains("already in use"),
        "{e}"
    );
    // A rule added to the default group at the top reaches every site using it.
    let (_, groups) = b
        .net(Method::GET, "/security-groups?name=default", None)
        .await;
    let group = groups["security_groups"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let rule = json!({"security_group_rule": {"security_group_id": group, "direction": "ingress", "protocol": "tcp", "port_range_min": 22, "port_range_max": 22, "remote_ip_prefix": "0.0.0.0/0"}});
    let (s, r) = b
        .net(Method::POST, "/security-group-rules", Some(rule))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    for site in ["CloudOne", "CloudTwo", "CloudThree"] {
        let rules = b
            .on_site(
                site,
                "/security-group-rules?port_range_min=22&direction=ingress",
            )
            .await;
        assert_eq!(
            rules["security_group_rules"].as_array().unwrap().len(),
            1,
            "{site}: {rules}"
        );
    }
    // Deleting a server deletes the port the top made for it and frees its address.
    let a =
        b.t.call(
            Method::DELETE,
            &format!("/compute/v2.1/servers/{}", servers[0]),
            Some(&b.t.demo_token),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    let (_, ports) = b
        .net(
            Method::GET,
            &format!("/ports?device_id={}", servers[0]),
            None,
        )
        .await;
    assert_eq!(ports["ports"], json!([]));
    assert_eq!(b.t.top.store.allocated_ips(&subnet).await.unwrap().len(), 3);
    // `networks: auto` is the project's one top network; with two, Nova's 409.
    let (s, v) = b.server(&image, "vm-auto", "CloudOne", json!("auto")).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let auto = b.wait_active(v["server"]["id"].as_str().unwrap()).await;
    assert!(auto["addresses"]["stretched"][0]["addr"]
        .as_str()
        .unwrap()
        .starts_with("10.20.0."));
    b.network("second", "10.21.0.0/24").await;
    let (s, e) = b
        .server(&image, "vm-ambiguous", "CloudOne", json!("auto"))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    assert!(
        e["conflictingRequest"]["message"]
            .as_str()
            .unwrap()
            .contains("Multiple possible networks"),
        "{e}"
    );
}

/// The site rules admitting `prefix` (as the site's admin sees them).
async fn rules_for(b: &Bed, site: &str, prefix: &str) -> Vec<Value> {
    let r = b
        .on_site(
            site,
            &format!("/security-group-rules?remote_ip_prefix={prefix}"),
        )
        .await;
    r["security_group_rules"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[tokio::test]
async fn remote_group_rules_admit_members_on_other_sites() {
    let b = bed(2).await;
    let (net, _) = b.network("grouped", "10.30.0.0/24").await;
    let image = b.image().await;
    let (s, g) = b
        .net(
            Method::POST,
            "/security-groups",
            Some(json!({"security_group": {"name": "web"}})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{g}");
    let group = g["security_group"]["id"].as_str().unwrap().to_string();
    let mut members = vec![];
    for site in ["CloudOne", "CloudTwo"] {
        let body = json!({"server": {"name": format!("web-{site}"), "imageRef": image, "flavorRef": "1",
            "availability_zone": site, "networks": [{"uuid": net}], "security_groups": [{"name": "web"}]}});
        let a =
            b.t.call(
                Method::POST,
                "/compute/v2.1/servers",
                Some(&b.t.demo_token),
                Some(body),
            )
            .await;
        assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.body);
        let id = a.body["server"]["id"].as_str().unwrap().to_string();
        let shown = b.wait_active(&id).await;
        let addr = shown["addresses"]["grouped"][0]["addr"]
            .as_str()
            .unwrap()
            .to_string();
        members.push((id, format!("{addr}/32")));
    }
    let rule = json!({"security_group_rule": {"security_group_id": group, "direction": "ingress",
        "protocol": "tcp", "port_range_min": 80, "port_range_max": 80, "remote_group_id": group}});
    let (s, r) = b
        .net(Method::POST, "/security-group-rules", Some(rule))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    let rule_id = r["security_group_rule"]["id"].as_str().unwrap().to_string();
    // Each site admits the member on the other site by its address, with the rule's ports.
    for (site, other) in [("CloudOne", &members[1].1), ("CloudTwo", &members[0].1)] {
        let found = rules_for(&b, site, other).await;
        assert!(
            found
                .iter()
                .any(|r| r["port_range_min"] == 80 && r["protocol"] == "tcp"),
            "{site} admits {other}: {found:?}"
        );
    }
    // A site never gets an expansion for its own member (it resolves the group itself).
    assert!(rules_for(&b, "CloudOne", &members[0].1)
        .await
        .iter()
        .all(|r| r["port_range_min"] != 80));
    // The member on CloudTwo leaves: CloudOne no longer admits its address.
    let a =
        b.t.call(
            Method::DELETE,
            &format!("/compute/v2.1/servers/{}", members[1].0),
            Some(&b.t.demo_token),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    assert!(rules_for(&b, "CloudOne", &members[1].1)
        .await
        .iter()
        .all(|r| r["port_range_min"] != 80));
    // Deleting the rule takes its expansions with it.
    let (s, _) = b
        .net(
            Method::DELETE,
            &format!("/security-group-rules/{rule_id}"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert!(rules_for(&b, "CloudTwo", &members[0].1)
        .await
        .iter()
        .all(|r| r["port_range_min"] != 80));
}

#[tokio::test]
async fn interface_attach_and_detach_use_top_ids() {
    let b = bed(1).await;
    let (first, _) = b.network("first", "10.31.0.0/24").await;
    let (second, subnet) = b.network("second", "10.32.0.0/24").await;
    let image = b.image().await;
    let (s, v) = b
        .server(&image, "vm-nics", "CloudOne", json!([{"uuid": first}]))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let id = v["server"]["id"].as_str().unwrap().to_string();
    b.wait_active(&id).await;
    let path = format!("/compute/v2.1/servers/{id}/os-interface");
    let token = Some(b.t.demo_token.as_str());
    let body = json!({"interfaceAttachment": {"net_id": second, "fixed_ips": [{"ip_address": "10.32.0.40"}]}});
    let a = b.t.call(Method::POST, &path, token, Some(body)).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let att = &a.body["interfaceAttachment"];
    assert_eq!(att["net_id"], second.as_str(), "{att}");
    assert_eq!(att["fixed_ips"][0]["subnet_id"], subnet.as_str());
    assert_eq!(att["fixed_ips"][0]["ip_address"], "10.32.0.40");
    let port = att["port_id"].as_str().unwrap().to_string();
    let (_, p) = b.net(Method::GET, &format!("/ports/{port}"), None).await;
    assert_eq!(
        p["port"]["device_id"],
        id.as_str(),
        "a top port bound to the server"
    );
    let a = b.t.call(Method::GET, &path, token, None).await;
    let listed = a.body["interfaceAttachments"].as_array().unwrap();
    assert!(
        listed.iter().any(|i| i["port_id"] == port.as_str()),
        "{}",
        a.body
    );
    // The address is the top's: a second attach asking for it is refused.
    let body = json!({"interfaceAttachment": {"net_id": second, "fixed_ips": [{"ip_address": "10.32.0.40"}]}});
    let a = b.t.call(Method::POST, &path, token, Some(body)).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
    let a =
        b.t.call(Method::DELETE, &format!("{path}/{port}"), token, None)
            .await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.body);
    let (s, _) = b.net(Method::GET, &format!("/ports/{port}"), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "the port the top made is gone");
    assert!(b
        .t
        .top
        .store
        .allocated_ips(&subnet)
        .await
        .unwrap()
        .is_empty());
    let a =
        b.t.call(Method::DELETE, &format!("{path}/{port}"), token, None)
            .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.body);
}
