//! What oslo.utils' format inspector finds in image data: the disk format of the bytes and
//! its virtual size, which Glance checks against the image's `disk_format` on upload
//! (`[image_format] require_image_format_match`, on by default). The inspector reads the
//! first [`HEAD`] bytes of the data and knows its whole size.

/// Formats the inspector recognises (`format_inspector.ALL_FORMATS`).
const INSPECTABLE: [&str; 10] = [
    "raw", "qcow2", "vhd", "vhdx", "vmdk", "vdi", "qed", "iso", "luks", "gpt",
];

/// How many leading bytes of the data the inspector reads.
pub const HEAD: usize = 64 * 1024;

/// The data does not hold what the image's `disk_format` claims, or fails a safety check.
#[derive(Debug, PartialEq, Eq)]
pub struct Mismatch;

/// One recognised format and the virtual size its header declares.
struct Found {
    format: &'static str,
    virtual_size: Option<u64>,
    /// False when a safety check fails (a qcow2 backing file).
    safe: bool,
}

fn be64(d: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(d.get(at..at + 8)?.try_into().ok()?))
}

fn le64(d: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(d.get(at..at + 8)?.try_into().ok()?))
}

fn le32(d: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(d.get(at..at + 4)?.try_into().ok()?))
}

fn le16(d: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(d.get(at..at + 2)?.try_into().ok()?))
}

/// Every format whose signature the data (`d` its head, `size` bytes in all) carries.
fn signatures(d: &[u8], size: u64) -> Vec<Found> {
    let found = |format, virtual_size| Found {
        format,
        virtual_size,
        safe: true,
    };
    let mut out = Vec::new();
    if d.starts_with(b"QFI\xfb") {
        out.push(Found {
            format: "qcow2",
            virtual_size: be64(d, 24),
            safe: be64(d, 8) == Some(0),
        });
    }
    if d.starts_with(b"conectix") {
        out.push(found("vhd", be64(d, 48)));
    }
    if d.starts_with(b"vhdxfile") {
        out.push(found("vhdx", None));
    }
    if d.starts_with(b"KDMV") {
        out.push(found("vmdk", le64(d, 12).map(|s| s.saturating_mul(512))));
    }
    if le32(d, 0x40) == Some(0xbeda_107f) {
        out.push(found("vdi", le64(d, 0x170)));
    }
    if d.starts_with(b"QED\0") {
        out.push(found("qed", le64(d, 40)));
    }
    if d.starts_with(b"LUKS\xba\xbe") {
        out.push(found("luks", None));
    }
    if d.get(0x8001..0x8006) == Some(b"CD001") {
        let blocks = le32(d, 0x8050).map(u64::from);
        let block_size = le16(d, 0x8080).map(u64::from);
        out.push(found("iso", blocks.zip(block_size).map(|(n, s)| n * s)));
    }
    if d.get(0x1fe..0x200) == Some(&[0x55, 0xaa]) && d.get(0x1c2) == Some(&0xee) {
        out.push(found("gpt", Some(size)));
    }
    out
}

/// The format of the data (`raw` when nothing matched); ISO with a GPT in front counts as
/// ISO, any other double match is refused.
fn inspect(d: &[u8], size: u64) -> Result<Found, Mismatch> {
    let mut found = signatures(d, size);
    match found.len() {
        0 => Ok(Found {
            format: "raw",
            virtual_size: Some(size),
            safe: true,
        }),
        1 => found.pop().ok_or(Mismatch),
        2 if found.iter().any(|f| f.format == "iso") && found.iter().any(|f| f.format == "gpt") => {
            found
                .into_iter()
                .find(|f| f.format == "iso")
                .ok_or(Mismatch)
        }
        _ => Err(Mismatch),
    }
}

/// The virtual size Glance records after an upload of `size` bytes starting with `head` (at
/// least [`HEAD`] of them when there are so many), or [`Mismatch`] when it refuses the data.
/// Only `bare` containers are inspected.
pub fn checked_virtual_size(
    disk_format: Option<&str>,
    container_format: Option<&str>,
    head: &[u8],
    size: u64,
) -> Result<Option<u64>, Mismatch> {
    if container_format != Some("bare") {
        return Ok(None);
    }
    let disk_format = disk_format.unwrap_or_default();
    let found = inspect(head, size)?;
    if !found.safe {
        return Err(Mismatch);
    }
    match found.format {
        f if f == disk_format => Ok(found.virtual_size),
        "raw" if !INSPECTABLE.contains(&disk_format) => Ok(None),
        _ if disk_format == "raw" => Ok(Some(size)),
        _ => Err(Mismatch),
    }
}

/// The virtual size of data another service stores (no refusal: the data size when the
/// bytes do not match their format).
pub fn virtual_size(
    disk_format: Option<&str>,
    container_format: Option<&str>,
    data: &[u8],
) -> Option<u64> {
    let size = data.len() as u64;
    checked_virtual_size(disk_format, container_format, data, size).unwrap_or(Some(size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_checked_like_glance() {
        let mut qcow2 = b"QFI\xfb\0\0\0\x03".to_vec();
        qcow2.resize(72, 0);
        qcow2[24..32].copy_from_slice(&(1u64 << 30).to_be_bytes());
        let q = |d: &str, data: &[u8]| {
            checked_virtual_size(Some(d), Some("bare"), data, data.len() as u64)
        };
        assert_eq!(q("qcow2", &qcow2), Ok(Some(1 << 30)));
        assert_eq!(q("raw", &qcow2), Ok(Some(72)), "raw takes anything");
        assert_eq!(q("qcow2", b"plain bytes"), Err(Mismatch));
        assert_eq!(q("vmdk", &qcow2), Err(Mismatch));
        assert_eq!(q("ami", b"plain bytes"), Ok(None));
        assert_eq!(q("raw", b"plain bytes"), Ok(Some(11)));
        let mut backed = qcow2.clone();
        backed[8..16].copy_from_slice(&512u64.to_be_bytes());
        assert_eq!(
            q("qcow2", &backed),
            Err(Mismatch),
            "backing files are unsafe"
        );
        let not_bare = checked_virtual_size(Some("qcow2"), Some("ovf"), b"x", 1);
        assert_eq!(not_bare, Ok(None));
    }
}
