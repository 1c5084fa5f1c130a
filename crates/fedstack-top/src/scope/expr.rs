//! Site expressions and service scopes: what a scope says, parsed and printed, without
//! looking at the sites themselves.

use fedstack_api_types::Service;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;

/// Where one service of a scoped request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SiteExpr {
    /// `A`: that site only.
    One(String),
    /// `A & B`: all of them; reads merge their answers, creates are placed among them.
    All(Vec<String>),
    /// `A | B`: the first that answers, in order.
    First(Vec<String>),
}

/// Why a scope is refused (a client mistake: 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    #[error("empty site expression for service {0}")]
    Empty(String),
    #[error("site expression '{0}' mixes '&' and '|'; use only one of them")]
    Mixed(String),
    #[error("'{0}' is not a site name (letters, digits, '-', '_' and '.')")]
    BadName(String),
    #[error("the scope must be a JSON object from service type to site expression, e.g. {{\"compute\": \"CloudOne\", \"image\": \"CloudTwo\"}}: {0}")]
    NotAMap(String),
    #[error("unknown service type '{0}' in the scope (one of compute, image, volume, network, identity)")]
    UnknownService(String),
    #[error("the scope names site '{0}', which is not a site of this federation")]
    UnknownSite(String),
}

fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

impl SiteExpr {
    /// Parses `A`, `A & B & ...` or `A | B | ...` (spaces around operators are optional;
    /// a name given twice counts once).
    pub fn parse(service: &str, s: &str) -> Result<SiteExpr, ScopeError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(ScopeError::Empty(service.into()));
        }
        if s.contains('&') && s.contains('|') {
            return Err(ScopeError::Mixed(s.into()));
        }
        let op = if s.contains('&') { '&' } else { '|' };
        let mut names: Vec<String> = Vec::new();
        for part in s.split(op).map(str::trim) {
            if !valid_name(part) {
                return Err(ScopeError::BadName(part.into()));
            }
            if !names.iter().any(|n| n == part) {
                names.push(part.into());
            }
        }
        Ok(match (names.len(), op) {
            (1, _) => SiteExpr::One(names.remove(0)),
            (_, '&') => SiteExpr::All(names),
            _ => SiteExpr::First(names),
        })
    }

    /// The site names, in the order given.
    pub fn names(&self) -> &[String] {
        match self {
            SiteExpr::One(n) => std::slice::from_ref(n),
            SiteExpr::All(v) | SiteExpr::First(v) => v,
        }
    }
}

impl fmt::Display for SiteExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SiteExpr::One(n) => f.write_str(n),
            SiteExpr::All(v) => f.write_str(&v.join(" & ")),
            SiteExpr::First(v) => f.write_str(&v.join(" | ")),
        }
    }
}

/// The key of a service in a scope (`volume` for the block storage service).
pub fn scope_key(service: Service) -> &'static str {
    match service {
        Service::Identity => "identity",
        Service::Compute => "compute",
        Service::Image => "image",
        Service::Volume => "volume",
        Service::Network => "network",
    }
}

/// The service a scope key (or a catalog alias of it) names.
fn service_of_key(key: &str) -> Option<Service> {
    Some(match key {
        "identity" => Service::Identity,
        "compute" => Service::Compute,
        "image" => Service::Image,
        "volume" | "volumev3" | "block-storage" | "block_storage" => Service::Volume,
        "network" => Service::Network,
        _ => return None,
    })
}

/// A scope: for some services, the sites they go to (the others keep the federated default).
/// Serialized as the JSON object clients write, e.g. `{"compute": "CloudOne", "image":
/// "CloudTwo | CloudThree"}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    try_from = "BTreeMap<String, String>",
    into = "BTreeMap<String, String>"
)]
pub struct ServiceScope(BTreeMap<&'static str, SiteExpr>);

impl ServiceScope {
    /// Parses the JSON text of a scope (`{}` is the empty scope).
    pub fn parse(text: &str) -> Result<ServiceScope, ScopeError> {
        let v: Value =
            serde_json::from_str(text.trim()).map_err(|e| ScopeError::NotAMap(e.to_string()))?;
        ServiceScope::from_json(&v)
    }

    /// A scope from its JSON object.
    pub fn from_json(v: &Value) -> Result<ServiceScope, ScopeError> {
        let map = v
            .as_object()
            .ok_or_else(|| ScopeError::NotAMap(format!("got {v}")))?;
        let mut scope = ServiceScope::default();
        for (k, expr) in map {
            let service = service_of_key(k).ok_or_else(|| ScopeError::UnknownService(k.clone()))?;
            let text = expr.as_str().ok_or_else(|| {
                ScopeError::NotAMap(format!("the value of '{k}' is not a string"))
            })?;
            scope
                .0
                .insert(scope_key(service), SiteExpr::parse(k, text)?);
        }
        Ok(scope)
    }

    /// The site expression of `service`, if scoped.
    pub fn get(&self, service: Service) -> Option<&SiteExpr> {
        self.0.get(scope_key(service))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// This scope with `other`'s services replacing its own.
    pub fn overlaid(mut self, other: ServiceScope) -> ServiceScope {
        self.0.extend(other.0);
        self
    }

    /// Every site name the scope mentions.
    pub fn site_names(&self) -> impl Iterator<Item = &str> {
        self.0.values().flat_map(|e| e.names()).map(String::as_str)
    }
}

impl TryFrom<BTreeMap<String, String>> for ServiceScope {
    type Error = ScopeError;
    fn try_from(m: BTreeMap<String, String>) -> Result<Self, ScopeError> {
        ServiceScope::from_json(&serde_json::to_value(m).unwrap_or_default())
    }
}

impl From<ServiceScope> for BTreeMap<String, String> {
    fn from(s: ServiceScope) -> Self {
        s.0.into_iter()
            .map(|(k, e)| (k.to_string(), e.to_string()))
            .collect()
    }
}

impl fmt::Display for ServiceScope {
    /// The scope's JSON text.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m: BTreeMap<String, String> = self.clone().into();
        f.write_str(&serde_json::to_string(&m).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expressions_parse_and_print() {
        assert_eq!(
            SiteExpr::parse("compute", " CloudOne ").unwrap(),
            SiteExpr::One("CloudOne".into())
        );
        let all = SiteExpr::parse("compute", "CloudOne&CloudTwo & CloudOne").unwrap();
        assert_eq!(
            all,
            SiteExpr::All(vec!["CloudOne".into(), "CloudTwo".into()])
        );
        assert_eq!(all.to_string(), "CloudOne & CloudTwo");
        let first = SiteExpr::parse("image", "B | A").unwrap();
        assert_eq!(first, SiteExpr::First(vec!["B".into(), "A".into()]));
        assert_eq!(first.names(), ["B", "A"]);
        assert_eq!(
            SiteExpr::parse("image", "A | A").unwrap(),
            SiteExpr::One("A".into())
        );
    }

    #[test]
    fn bad_expressions_are_refused() {
        assert!(matches!(
            SiteExpr::parse("c", "  "),
            Err(ScopeError::Empty(_))
        ));
        assert!(matches!(
            SiteExpr::parse("c", "A & B | C"),
            Err(ScopeError::Mixed(_))
        ));
        assert!(matches!(
            SiteExpr::parse("c", "A &"),
            Err(ScopeError::BadName(_))
        ));
        assert!(matches!(
            SiteExpr::parse("c", "a b"),
            Err(ScopeError::BadName(_))
        ));
    }

    #[test]
    fn scopes_parse_with_aliases_and_round_trip() {
        let s = ServiceScope::parse(r#"{"compute": "CloudOne", "volumev3": "A|B"}"#).unwrap();
        assert_eq!(
            s.get(Service::Compute),
            Some(&SiteExpr::One("CloudOne".into()))
        );
        assert_eq!(
            s.get(Service::Volume),
            Some(&SiteExpr::First(vec!["A".into(), "B".into()]))
        );
        assert_eq!(s.get(Service::Image), None);
        assert_eq!(s.to_string(), r#"{"compute":"CloudOne","volume":"A | B"}"#);
        let back: ServiceScope = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
        assert_eq!(s.site_names().collect::<Vec<_>>(), ["CloudOne", "A", "B"]);
        let over = s.overlaid(ServiceScope::parse(r#"{"compute": "B"}"#).unwrap());
        assert_eq!(over.get(Service::Compute), Some(&SiteExpr::One("B".into())));
        assert!(over.get(Service::Volume).is_some());
    }

    #[test]
    fn bad_scopes_are_refused() {
        assert!(matches!(
            ServiceScope::parse("[1]"),
            Err(ScopeError::NotAMap(_))
        ));
        assert!(matches!(
            ServiceScope::parse("{"),
            Err(ScopeError::NotAMap(_))
        ));
        assert!(matches!(
            ServiceScope::parse(r#"{"dns": "A"}"#),
            Err(ScopeError::UnknownService(_))
        ));
        assert!(matches!(
            ServiceScope::parse(r#"{"compute": 3}"#),
            Err(ScopeError::NotAMap(_))
        ));
        assert!(ServiceScope::parse("{}").unwrap().is_empty());
    }
}
