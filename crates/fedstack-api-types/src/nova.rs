//! Nova v2.1 documents shared by the simulated site and the top: version documents, flavors,
//! key pairs (fingerprints and generation) and server groups, per microversion; request
//! validation in [`schema`].

pub mod quota;
pub mod schema;

pub use schema::{server_create_schema, validate_server_create};

use crate::{time, Microversion};
use base64::Engine;
use chrono::{DateTime, Utc};
use md5::{Digest, Md5};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Newest compute microversion served.
pub const MAX_VERSION: &str = "2.103";

/// `self` and `bookmark` links (`path` like `flavors/1`) under the compute root
/// (`http://host/compute`).
pub fn links(root: &str, path: &str) -> Value {
    json!([
        {"rel": "self", "href": format!("{root}/v2.1/{path}")},
        {"rel": "bookmark", "href": format!("{root}/{path}")},
    ])
}

/// `GET /` of the compute root.
pub fn versions(root: &str) -> Value {
    json!({"versions": [
        {"id": "v2.0", "status": "DEPRECATED", "version": "", "min_version": "", "updated": "2025-07-04T12:00:00Z", "links": [{"rel": "self", "href": format!("{root}/v2/")}]},
        {"id": "v2.1", "status": "CURRENT", "version": MAX_VERSION, "min_version": "2.1", "updated": "2013-07-23T11:33:21Z", "links": [{"rel": "self", "href": format!("{root}/v2.1/")}]},
    ]})
}

/// `GET /v2.1`.
pub fn version(root: &str) -> Value {
    json!({"version": {
        "id": "v2.1", "status": "CURRENT", "version": MAX_VERSION, "min_version": "2.1", "updated": "2013-07-23T11:33:21Z",
        "links": [{"rel": "self", "href": format!("{root}/v2.1/")}, {"rel": "describedby", "type": "text/html", "href": "http://docs.openstack.org/"}],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.compute+json;version=2.1"}],
    }})
}

/// A flavor's attributes.
#[derive(Debug, Clone, PartialEq)]
pub struct FlavorView<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub vcpus: i64,
    pub ram: i64,
    pub disk: i64,
    pub ephemeral: i64,
    pub swap: i64,
    pub rxtx_factor: f64,
    pub is_public: bool,
    pub description: Option<&'a str>,
    pub extra_specs: &'a BTreeMap<String, String>,
}

/// A flavor in `/flavors` (brief).
pub fn flavor_brief(root: &str, f: &FlavorView<'_>, mv: Microversion) -> Value {
    let mut v =
        json!({"id": f.id, "name": f.name, "links": links(root, &format!("flavors/{}", f.id))});
    if mv.at_least(2, 55) {
        v["description"] = json!(f.description);
    }
    v
}

/// A flavor in `/flavors/detail` and `/flavors/{id}`. Extra specs show from 2.61 when the
/// caller may read them.
pub fn flavor_detail(
    root: &str,
    f: &FlavorView<'_>,
    mv: Microversion,
    extra_specs_visible: bool,
) -> Value {
    let mut v = Map::new();
    v.insert("id".into(), json!(f.id));
    v.insert("name".into(), json!(f.name));
    v.insert("ram".into(), json!(f.ram));
    v.insert("disk".into(), json!(f.disk));
    v.insert(
        "swap".into(),
        if mv.at_least(2, 75) || f.swap != 0 {
            json!(f.swap)
        } else {
            json!("")
        },
    );
    v.insert("OS-FLV-EXT-DATA:ephemeral".into(), json!(f.ephemeral));
    if !mv.at_least(2, 75) {
        v.insert("OS-FLV-DISABLED:disabled".into(), json!(false));
    }
    v.insert("vcpus".into(), json!(f.vcpus));
    v.insert("os-flavor-access:is_public".into(), json!(f.is_public));
    if !mv.at_least(2, 75) {
        v.insert("rxtx_factor".into(), json!(f.rxtx_factor));
    }
    v.insert("links".into(), links(root, &format!("flavors/{}", f.id)));
    if mv.at_least(2, 55) {
        v.insert("description".into(), json!(f.description));
    }
    if mv.at_least(2, 61) && extra_specs_visible {
        v.insert("extra_specs".into(), json!(f.extra_specs));
    }
    Value::Object(v)
}

/// Nova's key fingerprint: MD5 of the key blob, colon-separated hex pairs.
pub fn fingerprint(public_key: &str) -> Option<String> {
    let blob = public_key.split_whitespace().nth(1)?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(blob)
        .ok()?;
    Some(
        Md5::digest(raw)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":"),
    )
}

/// A fresh ed25519 key pair as Nova generates for clients that bring no key:
/// (OpenSSH private key, public key line). `None` if the system RNG fails.
pub fn generate_keypair() -> Option<(String, String)> {
    let mut key =
        ssh_key::PrivateKey::random(&mut rand::rngs::OsRng, ssh_key::Algorithm::Ed25519).ok()?;
    key.set_comment("Generated-by-Nova");
    let private = key.to_openssh(ssh_key::LineEnding::LF).ok()?.to_string();
    let public = key.public_key().to_openssh().ok()?;
    Some((private, public))
}

/// A key pair's attributes.
#[derive(Debug, Clone)]
pub struct KeypairView<'a> {
    pub name: &'a str,
    pub public_key: &'a str,
    pub fingerprint: &'a str,
    pub key_type: &'a str,
    pub user_id: &'a str,
    /// A numeric ID (Nova shows its database ID).
    pub id: i64,
    pub created_at: DateTime<Utc>,
}

/// Which answer a key pair is shown in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeypairSection {
    Create,
    List,
    Show,
}

/// A key pair as Nova shows it in each answer and microversion.
pub fn keypair(
    k: &KeypairView<'_>,
    mv: Microversion,
    section: KeypairSection,
    private_key: Option<&str>,
) -> Value {
    let mut v = Map::new();
    if let Some(p) = private_key {
        v.insert("private_key".into(), json!(p));
    }
    if mv.at_least(2, 2) && section == KeypairSection::Create {
        v.insert("type".into(), json!(k.key_type));
    }
    v.insert("name".into(), json!(k.name));
    v.insert("public_key".into(), json!(k.public_key));
    v.insert("fingerprint".into(), json!(k.fingerprint));
    match section {
        KeypairSection::Create => {
            v.insert("user_id".into(), json!(k.user_id));
        }
        KeypairSection::List => {
            if mv.at_least(2, 2) {
                v.insert("type".into(), json!(k.key_type));
            }
        }
        KeypairSection::Show => {
            v.insert("user_id".into(), json!(k.user_id));
            v.insert("created_at".into(), json!(time::micros_naive(k.created_at)));
            v.insert("deleted".into(), json!(false));
            v.insert("deleted_at".into(), Value::Null);
            v.insert("id".into(), json!(k.id));
            v.insert("updated_at".into(), Value::Null);
            if mv.at_least(2, 2) {
                v.insert("type".into(), json!(k.key_type));
            }
        }
    }
    Value::Object(v)
}

/// A server group's attributes.
#[derive(Debug, Clone)]
pub struct ServerGroupView<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub policy: &'a str,
    pub rules: &'a Value,
    pub members: &'a [String],
    pub project_id: &'a str,
    pub user_id: &'a str,
}

/// A server group as Nova shows it (2.64 changes `policies` into `policy` and `rules`, and
/// adds the owner; 2.13 adds the owner before that).
pub fn server_group(g: &ServerGroupView<'_>, mv: Microversion) -> Value {
    let mut v = json!({"id": g.id, "name": g.name});
    if mv.at_least(2, 64) {
        v["policy"] = json!(g.policy);
        v["rules"] = g.rules.clone();
    } else {
        v["policies"] = json!([g.policy]);
        v["metadata"] = json!({});
    }
    v["members"] = json!(g.members);
    if mv.at_least(2, 13) {
        v["project_id"] = json!(g.project_id);
        v["user_id"] = json!(g.user_id);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flavor_views_follow_microversions() {
        let specs = BTreeMap::new();
        let f = FlavorView {
            id: "1",
            name: "m1.tiny",
            vcpus: 1,
            ram: 512,
            disk: 1,
            ephemeral: 0,
            swap: 0,
            rxtx_factor: 1.0,
            is_public: true,
            description: None,
            extra_specs: &specs,
        };
        let old = flavor_detail("http://h/compute", &f, Microversion::new(2, 1), true);
        assert_eq!(old["swap"], "");
        assert_eq!(old["OS-FLV-DISABLED:disabled"], false);
        assert!(old.get("extra_specs").is_none());
        let new = flavor_detail("http://h/compute", &f, Microversion::new(2, 103), true);
        assert_eq!(new["swap"], 0);
        assert!(new.get("rxtx_factor").is_none());
        assert_eq!(new["extra_specs"], json!({}));
        assert_eq!(new["links"][1]["href"], "http://h/compute/flavors/1");
    }

    #[test]
    fn keypairs_fingerprint_like_nova() {
        let pk = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKN5KQzNi9J86MAkRpF27dUf+wlv0Kx3Q87XC4bKm1Fe capture@fedstack";
        assert_eq!(
            fingerprint(pk).unwrap(),
            "91:15:9b:d5:76:5c:a0:a4:5a:4d:28:b2:c6:9c:2a:b3"
        );
        assert!(fingerprint("garbage").is_none());
        let (private, public) = generate_keypair().unwrap();
        assert!(private.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----"));
        assert!(public.starts_with("ssh-ed25519 ") && public.ends_with(" Generated-by-Nova"));
        assert_eq!(fingerprint(&public).map(|f| f.len()), Some(47));
    }

    #[test]
    fn keypair_answers_order_keys_like_nova() {
        let k = KeypairView {
            name: "k",
            public_key: "ssh-ed25519 AAAA k",
            fingerprint: "f",
            key_type: "ssh",
            user_id: "u",
            id: 1,
            created_at: Utc::now(),
        };
        let keys = |v: Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        let created = keypair(
            &k,
            Microversion::new(2, 2),
            KeypairSection::Create,
            Some("p"),
        );
        assert_eq!(
            keys(created),
            [
                "private_key",
                "type",
                "name",
                "public_key",
                "fingerprint",
                "user_id"
            ]
        );
        let listed = keypair(&k, Microversion::new(2, 1), KeypairSection::List, None);
        assert_eq!(keys(listed), ["name", "public_key", "fingerprint"]);
        let shown = keypair(&k, Microversion::new(2, 103), KeypairSection::Show, None);
        assert_eq!(keys(shown).last().map(String::as_str), Some("type"));
    }

    #[test]
    fn server_groups_change_at_2_64() {
        let rules = json!({"max_server_per_host": 3});
        let g = ServerGroupView {
            id: "g",
            name: "n",
            policy: "anti-affinity",
            rules: &rules,
            members: &[],
            project_id: "p",
            user_id: "u",
        };
        let old = server_group(&g, Microversion::new(2, 1));
        assert_eq!(old["policies"], json!(["anti-affinity"]));
        assert!(old.get("project_id").is_none());
        let new = server_group(&g, Microversion::new(2, 103));
        assert_eq!(new["policy"], "anti-affinity");
        assert_eq!(new["rules"], rules);
        assert_eq!(new["project_id"], "p");
    }
}
