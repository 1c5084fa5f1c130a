//! The simulated OpenStack site: Keystone v3, Nova v2.1, Glance v2, Cinder v3 and Neutron v2.0
//! APIs answering as a real OpenStack 2026.1 does, with simulated hypervisors, server disks of
//! real bytes, and fault injection. One process serves one or many sites, each on its own port.
//!
//! Each site keeps all its state in one [`site::SiteData`] behind one lock: requests are short
//! and synchronous on that state, and time-driven transitions (BUILD → ACTIVE, creating →
//! available) are applied lazily when a resource is next read, so a site with no traffic costs
//! nothing and a million servers need no timers.

pub mod clouds;
pub mod config;
pub mod control;
pub mod ctx;
pub mod faults;
pub mod listener;
pub mod sim;
pub mod site;
pub mod testing;

pub mod compute;
pub mod identity;
pub mod image;
pub mod network;
pub mod volume;

pub use config::{SimConfig, SiteSpec, Timing};
pub use sim::{Sim, SimSite};
pub use site::{Site, SiteData};
