//! Python's `repr()` of JSON values, which Nova, Cinder and Glance put in their validation
//! messages (`Value: {'name': 'x'}. 'flavorRef' is a required property`).

use serde_json::Value;

/// `repr()` of a string: single quotes unless the text holds one and no double quote.
pub fn repr_str(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// `repr()` of a JSON value as Python would print the parsed object.
pub fn repr(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 1e16 => format!("{f:.1}"),
            _ => n.to_string(),
        },
        Value::String(s) => repr_str(s),
        Value::Array(a) => format!("[{}]", a.iter().map(repr).collect::<Vec<_>>().join(", ")),
        Value::Object(o) => format!(
            "{{{}}}",
            o.iter()
                .map(|(k, v)| format!("{}: {}", repr_str(k), repr(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn matches_python() {
        assert_eq!(
            repr(&json!({"imageRef": "x", "flavorRef": "1"})),
            "{'imageRef': 'x', 'flavorRef': '1'}"
        );
        assert_eq!(
            repr(&json!([true, null, 1, 2.5, 3.0])),
            "[True, None, 1, 2.5, 3.0]"
        );
        assert_eq!(
            repr(&json!({"n": 1, "ok": false, "none": null, "l": [1.0, "it's"]})),
            "{'n': 1, 'ok': False, 'none': None, 'l': [1.0, \"it's\"]}"
        );
        assert_eq!(repr(&json!("it's")), "\"it's\"");
        assert_eq!(repr(&json!("a'b\"c")), "'a\\'b\"c'");
    }
}
