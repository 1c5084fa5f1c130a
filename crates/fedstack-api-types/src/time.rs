//! Timestamp formats as each service prints them.

use chrono::{DateTime, SecondsFormat, Utc};

/// Nova, Glance and Neutron: `2026-11-21T14:55:35Z`.
pub fn iso_z(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Keystone token times: `2026-11-21T15:55:10.000000Z`.
pub fn keystone(t: DateTime<Utc>) -> String {
    format!("{}Z", t.format("%Y-%m-%dT%H:%M:%S%.6f"))
}

/// Cinder and Nova's `launched_at`: `2026-11-21T14:55:35.000000` (no zone).
pub fn micros_naive(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
}

/// Parses the forms clients send in `changes-since` and similar filters.
pub fn parse(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S%.f",
    ] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_round_trip() {
        let t = parse("2026-11-21T14:55:35Z").unwrap();
        assert_eq!(iso_z(t), "2026-11-21T14:55:35Z");
        assert_eq!(keystone(t), "2026-11-21T14:55:35.000000Z");
        assert_eq!(micros_naive(t), "2026-11-21T14:55:35.000000");
        assert_eq!(
            parse("2026-11-21T14:55:35.123456"),
            parse("2026-11-21T14:55:35.123456Z")
        );
        assert!(parse("yesterday").is_none());
    }
}
