//! Configuration of a simulator process: which sites, their hosts, and their timing.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How long simulated operations take before they settle.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(default)]
pub struct Timing {
    /// BUILD → ACTIVE for servers, in milliseconds.
    pub build_ms: u64,
    /// Server actions (stop, start, reboot, snapshot...), in milliseconds.
    pub action_ms: u64,
    /// Volume and snapshot transitions (creating → available...), in milliseconds.
    pub volume_ms: u64,
    /// Image transitions (saving → active), in milliseconds.
    pub image_ms: u64,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            build_ms: 500,
            action_ms: 200,
            volume_ms: 200,
            image_ms: 200,
        }
    }
}

impl Timing {
    pub fn build(&self) -> Duration {
        Duration::from_millis(self.build_ms)
    }
    pub fn action(&self) -> Duration {
        Duration::from_millis(self.action_ms)
    }
    pub fn volume(&self) -> Duration {
        Duration::from_millis(self.volume_ms)
    }
    pub fn image(&self) -> Duration {
        Duration::from_millis(self.image_ms)
    }
}

/// Capacity of one simulated hypervisor.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(default)]
pub struct HostSpec {
    pub vcpus: u32,
    pub memory_mb: u64,
    pub disk_gb: u64,
}

impl Default for HostSpec {
    fn default() -> Self {
        HostSpec {
            vcpus: 16,
            memory_mb: 65536,
            disk_gb: 1000,
        }
    }
}

/// One simulated site.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SiteSpec {
    pub name: String,
    /// Keystone region; defaults to the site name.
    #[serde(default)]
    pub region: Option<String>,
    /// Port on 127.0.0.1; 0 picks a free one.
    #[serde(default)]
    pub port: u16,
    /// Number of simulated compute hosts.
    #[serde(default = "default_hosts")]
    pub hosts: u32,
    #[serde(default)]
    pub host: HostSpec,
    /// Password of the site's `admin` and `demo` users.
    #[serde(default = "default_password")]
    pub password: String,
}

fn default_hosts() -> u32 {
    3
}

fn default_password() -> String {
    "secret".to_string()
}

impl SiteSpec {
    /// A site with defaults.
    pub fn named(name: impl Into<String>) -> Self {
        SiteSpec {
            name: name.into(),
            region: None,
            port: 0,
            hosts: default_hosts(),
            host: HostSpec::default(),
            password: default_password(),
        }
    }
    /// The Keystone region name.
    pub fn region(&self) -> &str {
        self.region.as_deref().unwrap_or(&self.name)
    }
}

/// A simulator process: its sites, control port and timing.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SimConfig {
    pub sites: Vec<SiteSpec>,
    /// Port of the `/sim/v1` control API; 0 picks a free one.
    #[serde(default)]
    pub control_port: u16,
    #[serde(default)]
    pub timing: Timing,
}

impl SimConfig {
    /// `n` sites named CloudOne, CloudTwo, ... with defaults.
    pub fn with_sites(n: usize) -> Self {
        SimConfig {
            sites: (1..=n).map(|i| SiteSpec::named(site_name(i))).collect(),
            control_port: 0,
            timing: Timing::default(),
        }
    }
}

/// `Cloud` followed by the English name of `i` in camel case: CloudOne, CloudTwentyThree.
pub fn site_name(i: usize) -> String {
    const ONES: [&str; 20] = [
        "Zero",
        "One",
        "Two",
        "Three",
        "Four",
        "Five",
        "Six",
        "Seven",
        "Eight",
        "Nine",
        "Ten",
        "Eleven",
        "Twelve",
        "Thirteen",
        "Fourteen",
        "Fifteen",
        "Sixteen",
        "Seventeen",
        "Eighteen",
        "Nineteen",
    ];
    const TENS: [&str; 10] = [
        "", "", "Twenty", "Thirty", "Forty", "Fifty", "Sixty", "Seventy", "Eighty", "Ninety",
    ];
    fn words(i: usize) -> String {
        match i {
            0..=19 => ONES[i].to_string(),
            20..=99 => {
                let rest = if i.is_multiple_of(10) {
                    ""
                } else {
                    ONES[i % 10]
                };
                format!("{}{}", TENS[i / 10], rest)
            }
            100..=999 => {
                let rest = if i.is_multiple_of(100) {
                    String::new()
                } else {
                    words(i % 100)
                };
                format!("{}Hundred{}", ONES[i / 100], rest)
            }
            _ => i.to_string(),
        }
    }
    format!("Cloud{}", words(i))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn site_names_are_words() {
        assert_eq!(site_name(1), "CloudOne");
        assert_eq!(site_name(3), "CloudThree");
        assert_eq!(site_name(20), "CloudTwenty");
        assert_eq!(site_name(42), "CloudFortyTwo");
        assert_eq!(site_name(100), "CloudOneHundred");
        let names: std::collections::HashSet<_> = (1..=100).map(site_name).collect();
        assert_eq!(names.len(), 100);
    }
}
