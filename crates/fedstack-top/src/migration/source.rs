//! What preflight records of the source server, so that every later step (and a run resumed
//! after a crash) rebuilds the same server without asking the source again.

use super::volumes::MovedVolume;
use crate::compute::translate::TOP_ID_KEY;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One network interface of the source server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Nic {
    /// The network's name (the destination's network of the same name is used).
    pub network: String,
    pub ip: String,
    pub mac: String,
    /// The top port behind this NIC when it is on a top network (central IPAM); `None` for a
    /// site-local network.
    #[serde(default)]
    pub top_port: Option<String>,
}

/// The source server as preflight found it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Source {
    pub site_id: String,
    pub server_id: String,
    pub site_project: String,
    /// ACTIVE (true) or SHUTOFF (false) when the migration started.
    pub was_running: bool,
    pub name: String,
    /// The top flavor.
    pub flavor_id: String,
    /// The key pair's name on the source site.
    pub key_name: Option<String>,
    /// Metadata without the routing marker.
    pub metadata: Map<String, Value>,
    pub tags: Vec<String>,
    pub user_data: Option<String>,
    /// The top server group.
    pub group_id: Option<String>,
    pub nics: Vec<Nic>,
    pub security_groups: Vec<String>,
    /// The root device when the server boots from a volume; `None` when it boots from an
    /// image (and its disk travels as a snapshot).
    #[serde(default)]
    pub root_device: Option<String>,
    /// The volumes attached to it, as preflight found them.
    #[serde(default)]
    pub volumes: Vec<MovedVolume>,
}

impl Source {
    /// Reads a server document (admin view at 2.96) of `site_id`; `Err` names what is missing.
    pub fn from_server(
        site_id: &str,
        site_project: &str,
        flavor_id: String,
        group_id: Option<String>,
        s: &Value,
    ) -> Result<Source, String> {
        let status = s["status"].as_str().unwrap_or_default();
        let was_running = match status {
            "ACTIVE" => true,
            "SHUTOFF" => false,
            other => {
                return Err(format!(
                    "the server is {other}; only ACTIVE or SHUTOFF servers can be migrated"
                ))
            }
        };
        if s["OS-EXT-STS:task_state"].is_string() {
            return Err(format!(
                "the server is busy ({})",
                s["OS-EXT-STS:task_state"].as_str().unwrap_or_default()
            ));
        }
        let mut metadata = s["metadata"].as_object().cloned().unwrap_or_default();
        metadata.remove(TOP_ID_KEY);
        let mut nics = Vec::new();
        for (network, addrs) in s["addresses"].as_object().into_iter().flatten() {
            for a in addrs.as_array().into_iter().flatten() {
                if a["OS-EXT-IPS:type"] == "floating" {
                    continue;
                }
                nics.push(Nic {
                    network: network.clone(),
                    ip: a["addr"].as_str().unwrap_or_default().to_string(),
                    mac: a["OS-EXT-IPS-MAC:mac_addr"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    top_port: None,
                });
            }
        }
        let strings = |v: &Value, key: Option<&str>| -> Vec<String> {
            v.as_array()
                .into_iter()
                .flatten()
                .filter_map(|x| match key {
                    Some(k) => x[k].as_str(),
                    None => x.as_str(),
                })
                .map(String::from)
                .collect()
        };
        let mut security_groups = strings(&s["security_groups"], Some("name"));
        security_groups.dedup();
        Ok(Source {
            site_id: site_id.into(),
            server_id: s["id"].as_str().unwrap_or_default().into(),
            site_project: site_project.into(),
            was_running,
            name: s["name"].as_str().unwrap_or_default().into(),
            flavor_id,
            key_name: s["key_name"].as_str().map(String::from),
            metadata,
            tags: strings(&s["tags"], None),
            user_data: s["OS-EXT-SRV-ATTR:user_data"].as_str().map(String::from),
            group_id,
            nics,
            security_groups,
            root_device: boots_from_volume(s).then(|| {
                s["OS-EXT-SRV-ATTR:root_device_name"]
                    .as_str()
                    .unwrap_or("/dev/vda")
                    .to_string()
            }),
            volumes: Vec::new(),
        })
    }

    /// The attached volumes of a server document: `(site volume, delete_on_termination)`.
    pub fn attached(s: &Value) -> Vec<(String, bool)> {
        s["os-extended-volumes:volumes_attached"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| {
                let id = a["id"].as_str()?.to_string();
                Some((id, a["delete_on_termination"] == true))
            })
            .collect()
    }

    /// Whether the server's disk travels as a snapshot (it boots from an image).
    pub fn has_image_disk(&self) -> bool {
        self.root_device.is_none()
    }
}

/// Nova shows `"image": ""` for a server booted from a volume.
fn boots_from_volume(s: &Value) -> bool {
    !s["image"].is_object()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(status: &str) -> Value {
        json!({
            "id": "s1", "name": "vm", "status": status, "OS-EXT-STS:task_state": null,
            "key_name": "k-fs-1", "metadata": {"a": "1", TOP_ID_KEY: "t1"}, "tags": ["x"],
            "OS-EXT-SRV-ATTR:user_data": "IyEvYmluL3NoCg==",
            "addresses": {"private": [
                {"addr": "10.1.0.9", "version": 4, "OS-EXT-IPS:type": "fixed", "OS-EXT-IPS-MAC:mac_addr": "fa:16:3e:00:00:01"},
                {"addr": "172.24.4.9", "version": 4, "OS-EXT-IPS:type": "floating", "OS-EXT-IPS-MAC:mac_addr": "fa:16:3e:00:00:01"}
            ]},
            "security_groups": [{"name": "default"}, {"name": "default"}],
            "os-extended-volumes:volumes_attached": [],
            "image": {"id": "i1"},
        })
    }

    #[test]
    fn a_server_document_becomes_what_the_destination_needs() {
        let s = Source::from_server("site", "proj", "f1".into(), None, &doc("SHUTOFF")).unwrap();
        assert!(!s.was_running);
        assert_eq!(s.metadata, json!({"a": "1"}).as_object().cloned().unwrap());
        assert_eq!(
            s.nics,
            [Nic {
                network: "private".into(),
                ip: "10.1.0.9".into(),
                mac: "fa:16:3e:00:00:01".into(),
                top_port: None,
            }]
        );
        assert_eq!(s.security_groups, ["default"]);
        assert_eq!(s.tags, ["x"]);
        assert_eq!(s.user_data.as_deref(), Some("IyEvYmluL3NoCg=="));
    }

    #[test]
    fn only_settled_active_or_shutoff_servers_move() {
        assert!(Source::from_server("s", "p", "f".into(), None, &doc("ERROR")).is_err());
        let mut busy = doc("ACTIVE");
        busy["OS-EXT-STS:task_state"] = json!("rebooting");
        assert!(Source::from_server("s", "p", "f".into(), None, &busy).is_err());
    }

    #[test]
    fn a_volume_backed_server_is_told_from_an_image_backed_one() {
        let image = Source::from_server("s", "p", "f".into(), None, &doc("ACTIVE")).unwrap();
        assert!(image.has_image_disk());
        let mut bfv = doc("ACTIVE");
        bfv["image"] = json!("");
        bfv["OS-EXT-SRV-ATTR:root_device_name"] = json!("/dev/vda");
        bfv["os-extended-volumes:volumes_attached"] = json!([
            {"id": "root", "delete_on_termination": true},
            {"id": "data", "delete_on_termination": false}
        ]);
        let s = Source::from_server("s", "p", "f".into(), None, &bfv).unwrap();
        assert_eq!(s.root_device.as_deref(), Some("/dev/vda"));
        assert_eq!(
            Source::attached(&bfv),
            [("root".to_string(), true), ("data".to_string(), false)]
        );
    }
}
