//! JSON values pretty-printed as Python's `pprint.pformat(width=72, sort_dicts=False)` does,
//! for the jsonschema messages Glance returns verbatim.

use crate::pyrepr::{repr, repr_str};
use serde_json::Value;

/// The width jsonschema pretty-prints error details with.
const WIDTH: usize = 72;

/// `pprint.pformat(v, width=72, sort_dicts=False)`.
pub fn pformat(v: &Value) -> String {
    let mut out = String::new();
    format(v, &mut out, 0, 0, 0);
    out
}

fn width_of(s: &str) -> usize {
    s.chars().count()
}

fn format(v: &Value, out: &mut String, indent: usize, allowance: usize, level: usize) {
    let rep = repr(v);
    if width_of(&rep) <= WIDTH.saturating_sub(indent + allowance) {
        out.push_str(&rep);
        return;
    }
    match v {
        Value::Object(map) if !map.is_empty() => {
            out.push('{');
            let inner = indent + 1;
            let last = map.len() - 1;
            for (i, (k, item)) in map.iter().enumerate() {
                let key = repr_str(k);
                out.push_str(&key);
                out.push_str(": ");
                let allow = if i == last { allowance + 1 } else { 1 };
                format(item, out, inner + width_of(&key) + 2, allow, level + 1);
                if i != last {
                    out.push_str(",\n");
                    out.push_str(&" ".repeat(inner));
                }
            }
            out.push('}');
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('[');
            let inner = indent + 1;
            let last = items.len() - 1;
            for (i, item) in items.iter().enumerate() {
                let allow = if i == last { allowance + 1 } else { 1 };
                format(item, out, inner, allow, level + 1);
                if i != last {
                    out.push_str(",\n");
                    out.push_str(&" ".repeat(inner));
                }
            }
            out.push(']');
        }
        Value::String(s) => format_str(s, out, indent, allowance, level + 1),
        _ => out.push_str(&rep),
    }
}

/// pprint's long strings: split at whitespace into adjacent literals, one per line
/// (parenthesised at the top level).
fn format_str(s: &str, out: &mut String, indent: usize, allowance: usize, level: usize) {
    let (indent, allowance) = if level == 1 {
        (indent + 1, allowance + 1)
    } else {
        (indent, allowance)
    };
    let max_width = WIDTH.saturating_sub(indent);
    let lines = split_lines(s);
    let mut chunks = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let last_line = i + 1 == lines.len();
        let rep = repr_str(line);
        let limit = if last_line {
            max_width.saturating_sub(allowance)
        } else {
            max_width
        };
        if width_of(&rep) <= limit {
            chunks.push(rep);
            continue;
        }
        let parts = words(line);
        let mut current = String::new();
        for (j, part) in parts.iter().enumerate() {
            let limit = if last_line && j + 1 == parts.len() {
                max_width.saturating_sub(allowance)
            } else {
                max_width
            };
            let candidate = format!("{current}{part}");
            if width_of(&repr_str(&candidate)) > limit {
                if !current.is_empty() {
                    chunks.push(repr_str(&current));
                }
                current = part.to_string();
            } else {
                current = candidate;
            }
        }
        if !current.is_empty() {
            chunks.push(repr_str(&current));
        }
    }
    if chunks.len() <= 1 {
        out.push_str(&repr_str(s));
        return;
    }
    if level == 1 {
        out.push('(');
    }
    out.push_str(&chunks.join(&format!("\n{}", " ".repeat(indent))));
    if level == 1 {
        out.push(')');
    }
}

/// `str.splitlines(True)` for `\n`, `\r\n` and `\r`.
fn split_lines(s: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut start = 0;
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let end = match bytes[i] {
            b'\r' if bytes.get(i + 1) == Some(&b'\n') => i + 2,
            b'\r' | b'\n' => i + 1,
            _ => {
                i += 1;
                continue;
            }
        };
        lines.push(&s[start..end]);
        start = end;
        i = end;
    }
    if start < s.len() {
        lines.push(&s[start..]);
    }
    lines
}

/// `re.findall(r'\S*\s*', line)` without the final empty match.
fn words(line: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut in_space = false;
    for (i, c) in line.char_indices() {
        let space = c.is_whitespace();
        if in_space && !space {
            parts.push(&line[start..i]);
            start = i;
        }
        in_space = space;
    }
    if start < line.len() {
        parts.push(&line[start..]);
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pformat_breaks_long_values() {
        let schema = json!({"type": ["null", "string"], "description": "Format of the disk",
            "enum": [null, "ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop"]});
        assert_eq!(
            pformat(&schema),
            "{'type': ['null', 'string'],\n 'description': 'Format of the disk',\n 'enum': [None,\n          'ami',\n          'ari',\n          'aki',\n          'vhd',\n          'vhdx',\n          'vmdk',\n          'raw',\n          'qcow2',\n          'vdi',\n          'iso',\n          'ploop']}"
        );
        assert_eq!(pformat(&json!("short")), "'short'");
        let long = "word ".repeat(20);
        let p = pformat(&json!(long));
        assert!(p.starts_with("('word word"), "{p}");
        assert!(p.contains("'\n "), "{p}");
    }
}
