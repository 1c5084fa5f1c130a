//! Glance v2 as both the simulated site and the top serve it: the image record and its view,
//! create bodies, JSON-patch updates, list queries, data transfer rules, schemas, discovery
//! documents and Glance's error wording. Each side keeps its own storage and calls these.

pub mod create;
pub mod data;
pub mod discovery;
pub mod format;
pub mod list;
mod model;
pub mod patch;
mod pyfmt;
pub mod respond;
pub mod schema;
mod view;

pub use model::{
    Actor, Attrs, Digests, Hasher, ImageRecord, ImageStatus, MemberStatus, Visibility,
};
pub use view::STORE;
