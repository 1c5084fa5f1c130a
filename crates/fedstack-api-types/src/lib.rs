//! OpenStack wire types shared by the simulated site and the top: the error envelopes each
//! service uses, microversion negotiation, and the timestamp formats of each service.

pub mod cinder;
pub mod error;
pub mod glance;
pub mod http;
pub mod jsonschema;
pub mod keystone;
pub mod microversion;
pub mod neutron;
pub mod nova;
pub mod pyrepr;
pub mod testing;
pub mod time;

pub use error::{ApiError, Service};
pub use microversion::{Microversion, VersionRange};
