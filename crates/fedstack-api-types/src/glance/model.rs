//! The image record as Glance models it: statuses, visibility, checksums, the attributes a
//! client sets, and who may change them.

use chrono::{DateTime, Utc};
use md5::Md5;
use serde_json::{Map, Value};
use sha2::{Digest, Sha512};
use std::fmt;

/// Glance image statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageStatus {
    Queued,
    Saving,
    Active,
    Killed,
    Deactivated,
    Uploading,
    Importing,
}

impl ImageStatus {
    /// Every status, for parsing.
    const ALL: [ImageStatus; 7] = [
        ImageStatus::Queued,
        ImageStatus::Saving,
        ImageStatus::Active,
        ImageStatus::Killed,
        ImageStatus::Deactivated,
        ImageStatus::Uploading,
        ImageStatus::Importing,
    ];

    /// The status as Glance writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            ImageStatus::Queued => "queued",
            ImageStatus::Saving => "saving",
            ImageStatus::Active => "active",
            ImageStatus::Killed => "killed",
            ImageStatus::Deactivated => "deactivated",
            ImageStatus::Uploading => "uploading",
            ImageStatus::Importing => "importing",
        }
    }

    /// Parses Glance's status names.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

impl fmt::Display for ImageStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who may see an image besides its owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Visibility {
    Public,
    #[default]
    Private,
    Shared,
    Community,
}

impl Visibility {
    /// Parses Glance's visibility names.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "public" => Some(Visibility::Public),
            "private" => Some(Visibility::Private),
            "shared" => Some(Visibility::Shared),
            "community" => Some(Visibility::Community),
            _ => None,
        }
    }
    /// The visibility as Glance writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Private => "private",
            Visibility::Shared => "shared",
            Visibility::Community => "community",
        }
    }
}

/// A member's answer to an image shared with its project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberStatus {
    Pending,
    Accepted,
    Rejected,
}

impl MemberStatus {
    /// Parses Glance's member status names.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(MemberStatus::Pending),
            "accepted" => Some(MemberStatus::Accepted),
            "rejected" => Some(MemberStatus::Rejected),
            _ => None,
        }
    }
    /// The status as Glance writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            MemberStatus::Pending => "pending",
            MemberStatus::Accepted => "accepted",
            MemberStatus::Rejected => "rejected",
        }
    }
}

/// Size and checksums of image data, as Glance computes them while storing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digests {
    pub size: u64,
    /// Hex md5 (`checksum`, `Content-MD5`).
    pub md5: String,
    /// Hex sha512 (`os_hash_value`).
    pub sha512: String,
}

/// Buffers from this size on are hashed on two threads (md5 beside sha512).
const PARALLEL_FROM: usize = 1 << 20;

impl Digests {
    /// The digests of a whole buffer; a large one's two hashes are computed side by side,
    /// which halves the time a site spends on a big snapshot.
    pub fn of(data: &[u8]) -> Self {
        if data.len() < PARALLEL_FROM {
            let mut h = Hasher::default();
            h.update(data);
            return h.finish();
        }
        let (md5, sha512) = std::thread::scope(|s| {
            let md5 = s.spawn(|| hex::encode(Md5::digest(data)));
            let sha512 = hex::encode(Sha512::digest(data));
            let md5 = md5.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
            (md5, sha512)
        });
        Digests {
            size: data.len() as u64,
            md5,
            sha512,
        }
    }
}

/// Computes [`Digests`] incrementally, chunk by chunk, as data streams in.
#[derive(Default)]
pub struct Hasher {
    size: u64,
    md5: Md5,
    sha512: Sha512,
}

impl Hasher {
    /// Feeds one chunk.
    pub fn update(&mut self, chunk: &[u8]) {
        self.size += chunk.len() as u64;
        self.md5.update(chunk);
        self.sha512.update(chunk);
    }
    /// The number of bytes fed so far.
    pub fn size(&self) -> u64 {
        self.size
    }
    /// The digests of everything fed.
    pub fn finish(self) -> Digests {
        Digests {
            size: self.size,
            md5: hex::encode(self.md5.finalize()),
            sha512: hex::encode(self.sha512.finalize()),
        }
    }
}

/// The attributes of an image a client sets, at creation or with a patch.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Attrs {
    pub name: Option<String>,
    pub owner: String,
    pub visibility: Visibility,
    pub protected: bool,
    pub os_hidden: bool,
    pub disk_format: Option<String>,
    pub container_format: Option<String>,
    pub min_disk: u64,
    pub min_ram: u64,
    /// A set kept in insertion order.
    pub tags: Vec<String>,
    /// Extra properties, in the order they were set (Glance keeps string values).
    pub properties: Map<String, Value>,
}

impl Attrs {
    /// Adds a tag once.
    pub fn add_tag(&mut self, tag: &str) {
        if !self.tags.iter().any(|t| t == tag) {
            self.tags.push(tag.to_string());
        }
    }
}

/// An image as Glance shows it: everything its view, filters and sorting read.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageRecord {
    pub id: String,
    pub status: ImageStatus,
    pub attrs: Attrs,
    /// The size shown: of the stored data, or of the staged data while `uploading`.
    pub size: Option<u64>,
    /// Size and checksums, once the data is stored (not while it is being saved).
    pub stored: Option<Digests>,
    /// What the format inspector found, once the data is stored.
    pub virtual_size: Option<u64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl ImageRecord {
    /// True when `project_id` may see this image without membership (owner, public,
    /// community).
    pub fn visible_without_membership(&self, project_id: &str) -> bool {
        self.attrs.owner == project_id
            || matches!(
                self.attrs.visibility,
                Visibility::Public | Visibility::Community
            )
    }
}

/// Who acts on an image, for Glance's policy rules.
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    pub project_id: &'a str,
    pub is_admin: bool,
    /// Holds the `member` role in its project.
    pub is_member: bool,
}

impl Actor<'_> {
    /// Glance's `ADMIN_OR_PROJECT_MEMBER` rule on an image owned by `owner`.
    pub fn may_modify(&self, owner: &str) -> bool {
        self.is_admin || (self.is_member && self.project_id == owner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_incremental() {
        let mut h = Hasher::default();
        h.update(b"ab");
        h.update(b"c");
        assert_eq!(h.size(), 3);
        let d = h.finish();
        assert_eq!(d, Digests::of(b"abc"));
        assert_eq!(d.md5, "900150983cd24fb0d6963f7d28e17f72");
        assert!(d.sha512.starts_with("ddaf35a193617aba"));
    }

    #[test]
    fn a_large_buffer_hashes_the_same_on_two_threads() {
        let data: Vec<u8> = (0..3 * PARALLEL_FROM).map(|i| (i % 251) as u8).collect();
        let mut h = Hasher::default();
        for chunk in data.chunks(4096) {
            h.update(chunk);
        }
        assert_eq!(Digests::of(&data), h.finish());
    }

    #[test]
    fn names_round_trip() {
        for s in ImageStatus::ALL {
            assert_eq!(ImageStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(Visibility::parse("community"), Some(Visibility::Community));
        assert_eq!(MemberStatus::parse("x"), None);
        let a = Actor {
            project_id: "p",
            is_admin: false,
            is_member: true,
        };
        assert!(a.may_modify("p") && !a.may_modify("q"));
    }
}
