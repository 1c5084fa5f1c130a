//! Microversion negotiation (`OpenStack-API-Version: compute 2.47`,
//! `X-OpenStack-Nova-API-Version: 2.26`, `latest`).

use axum::http::HeaderMap;
use std::fmt;

/// A `major.minor` API microversion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Microversion {
    pub major: u16,
    pub minor: u16,
}

impl Microversion {
    pub const fn new(major: u16, minor: u16) -> Self {
        Microversion { major, minor }
    }

    /// Parses `2.47`; `None` when malformed.
    pub fn parse(s: &str) -> Option<Self> {
        let (a, b) = s.trim().split_once('.')?;
        Some(Microversion {
            major: a.parse().ok()?,
            minor: b.parse().ok()?,
        })
    }

    /// True when this version is at least `major.minor`.
    pub fn at_least(self, major: u16, minor: u16) -> bool {
        self >= Microversion::new(major, minor)
    }
}

impl fmt::Display for Microversion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// The versions a service supports.
#[derive(Debug, Clone, Copy)]
pub struct VersionRange {
    pub min: Microversion,
    pub max: Microversion,
}

/// Why a requested microversion cannot be served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionError {
    /// Unparseable header value.
    Invalid(String),
    /// Parsed, but outside `min..=max`.
    Unsupported(Microversion),
}

impl VersionRange {
    /// Picks the version a request asks for. `service` is the name in `OpenStack-API-Version`
    /// (`compute`, `volume`); `legacy` the older header (`X-OpenStack-Nova-API-Version`).
    pub fn negotiate(
        &self,
        headers: &HeaderMap,
        service: &str,
        legacy: Option<&str>,
    ) -> Result<Microversion, VersionError> {
        let mut requested: Option<String> = None;
        for v in headers.get_all("openstack-api-version") {
            let Ok(v) = v.to_str() else { continue };
            for part in v.split(',') {
                let mut it = part.split_whitespace();
                if let (Some(svc), Some(ver)) = (it.next(), it.next()) {
                    if svc.eq_ignore_ascii_case(service) {
                        requested = Some(ver.to_string());
                    }
                }
            }
        }
        if requested.is_none() {
            if let Some(name) = legacy {
                if let Some(v) = headers.get(name).and_then(|v| v.to_str().ok()) {
                    requested = Some(v.trim().to_string());
                }
            }
        }
        let Some(req) = requested else {
            return Ok(self.min);
        };
        if req.eq_ignore_ascii_case("latest") {
            return Ok(self.max);
        }
        let v = Microversion::parse(&req).ok_or(VersionError::Invalid(req))?;
        if v < self.min || v > self.max {
            return Err(VersionError::Unsupported(v));
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn range() -> VersionRange {
        VersionRange {
            min: Microversion::new(2, 1),
            max: Microversion::new(2, 103),
        }
    }

    #[test]
    fn negotiates_headers() {
        let mut h = HeaderMap::new();
        assert_eq!(
            range().negotiate(&h, "compute", None),
            Ok(Microversion::new(2, 1))
        );
        h.insert(
            "openstack-api-version",
            HeaderValue::from_static("compute 2.47"),
        );
        assert_eq!(
            range().negotiate(&h, "compute", None),
            Ok(Microversion::new(2, 47))
        );
        h.insert(
            "openstack-api-version",
            HeaderValue::from_static("compute latest"),
        );
        assert_eq!(
            range().negotiate(&h, "compute", None),
            Ok(Microversion::new(2, 103))
        );
        h.insert(
            "openstack-api-version",
            HeaderValue::from_static("compute 2.999"),
        );
        assert_eq!(
            range().negotiate(&h, "compute", None),
            Err(VersionError::Unsupported(Microversion::new(2, 999)))
        );
        let mut h = HeaderMap::new();
        h.insert(
            "x-openstack-nova-api-version",
            HeaderValue::from_static("2.26"),
        );
        assert_eq!(
            range().negotiate(&h, "compute", Some("x-openstack-nova-api-version")),
            Ok(Microversion::new(2, 26))
        );
        h.insert(
            "openstack-api-version",
            HeaderValue::from_static("volume 3.5"),
        );
        assert_eq!(
            range().negotiate(&h, "compute", Some("x-openstack-nova-api-version")),
            Ok(Microversion::new(2, 26))
        );
    }
}
