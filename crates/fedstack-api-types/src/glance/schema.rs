//! Glance's image schemas: served as-is by `/v2/schemas/...`, and used to validate image
//! bodies with the messages Python's `jsonschema` writes (Glance returns them verbatim).

use super::pyfmt::pformat;
use crate::pyrepr::{repr, repr_str};
use serde_json::{Map, Value};
use std::sync::LazyLock;

/// `GET /v2/schemas/image`, as Glance 2026.1 serves it.
pub static IMAGE: LazyLock<Value> = LazyLock::new(|| parse(include_str!("schema-image.json")));
/// `GET /v2/schemas/images`.
pub static IMAGES: LazyLock<Value> = LazyLock::new(|| parse(include_str!("schema-images.json")));

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_default()
}

/// Validates `obj` against the image schema; the error is Glance's 400 message.
pub fn validate_image(obj: &Value) -> Result<(), String> {
    let mut errors = Vec::new();
    let mut cx = Walk {
        errors: &mut errors,
        schema_path: Vec::new(),
        instance_path: Vec::new(),
    };
    cx.value(obj, &IMAGE);
    match best_match(errors) {
        None => Ok(()),
        Some(e) => Err(format!(
            "Provided object does not match schema 'image': {}",
            e.render()
        )),
    }
}

/// One step of a path into a schema or an instance.
#[derive(Clone)]
enum Step {
    Key(String),
    Index(usize),
}

fn index(container: &str, path: &[Step]) -> String {
    let mut s = container.to_string();
    for step in path {
        match step {
            Step::Key(k) => s.push_str(&format!("[{}]", repr_str(k))),
            Step::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// A `jsonschema.ValidationError`.
struct SchemaError {
    message: String,
    validator: &'static str,
    schema_path: Vec<Step>,
    instance_path: Vec<Step>,
    schema: Value,
    instance: Value,
}

impl SchemaError {
    /// `str(error)`: the message, the failing schema and the instance.
    fn render(&self) -> String {
        format!(
            "{}\n\nFailed validating {} in {}:\n{}\n\nOn {}:\n{}",
            self.message,
            repr_str(self.validator),
            index("schema", &self.schema_path),
            pretty(&self.schema),
            index("instance", &self.instance_path),
            pretty(&self.instance),
        )
    }

    /// jsonschema's `_matches_type`: does the instance have the schema's type?
    fn matches_type(&self) -> bool {
        match self.schema.get("type") {
            Some(t) => type_names(t).iter().any(|n| is_type(&self.instance, n)),
            None => false,
        }
    }
}

/// `_pretty`: pformat indented by four spaces.
fn pretty(v: &Value) -> String {
    pformat(v)
        .lines()
        .map(|l| {
            if l.trim().is_empty() {
                l.to_string()
            } else {
                format!("    {l}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// jsonschema's `best_match`: the shallowest error, type mismatches first, else the first.
fn best_match(errors: Vec<SchemaError>) -> Option<SchemaError> {
    let mut best: Option<(SchemaError, (isize, bool))> = None;
    for e in errors {
        let key = (-(e.instance_path.len() as isize), !e.matches_type());
        if best.as_ref().is_none_or(|(_, k)| key > *k) {
            best = Some((e, key));
        }
    }
    best.map(|(e, _)| e)
}

fn type_names(t: &Value) -> Vec<&str> {
    match t {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn is_type(v: &Value, name: &str) -> bool {
    match name {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "string" => v.is_string(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        "number" => v.is_number(),
        "integer" => v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0),
        _ => true,
    }
}

/// Python equality of JSON values for `enum` (1 == 1.0).
fn py_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// The UUID pattern of the image `id` (the only `pattern` in Glance's image schema).
fn matches_pattern(s: &str, pattern: &str) -> bool {
    if !pattern.starts_with("^([0-9a-fA-F]){8}-") {
        return true;
    }
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit()))
}

/// A walk of one instance through the schema, collecting errors in jsonschema's order.
struct Walk<'a> {
    errors: &'a mut Vec<SchemaError>,
    schema_path: Vec<Step>,
    instance_path: Vec<Step>,
}

impl Walk<'_> {
    fn fail(&mut self, validator: &'static str, message: String, schema: &Value, inst: &Value) {
        self.errors.push(SchemaError {
            message,
            validator,
            schema_path: self.schema_path.clone(),
            instance_path: self.instance_path.clone(),
            schema: schema.clone(),
            instance: inst.clone(),
        });
    }

    fn descend(&mut self, schema_steps: &[Step], inst_step: Step, inst: &Value, schema: &Value) {
        let depth = self.schema_path.len();
        self.schema_path.extend_from_slice(schema_steps);
        self.instance_path.push(inst_step);
        self.value(inst, schema);
        self.schema_path.truncate(depth);
        self.instance_path.pop();
    }

    /// Applies each keyword of `schema` to `inst`, in the schema's order.
    fn value(&mut self, inst: &Value, schema: &Value) {
        let Some(keywords) = schema.as_object() else {
            return;
        };
        for (kw, arg) in keywords {
            match kw.as_str() {
                "type" => {
                    let names = type_names(arg);
                    if !names.iter().any(|n| is_type(inst, n)) {
                        let shown: Vec<String> = names.iter().map(|n| repr_str(n)).collect();
                        let msg = format!("{} is not of type {}", repr(inst), shown.join(", "));
                        self.fail("type", msg, schema, inst);
                    }
                }
                "enum" => {
                    let options = arg.as_array().map(Vec::as_slice).unwrap_or_default();
                    if !options.iter().any(|o| py_eq(o, inst)) {
                        let msg = format!("{} is not one of {}", repr(inst), repr(arg));
                        self.fail("enum", msg, schema, inst);
                    }
                }
                "maxLength" | "minLength" => self.length(kw, arg, inst, schema),
                "pattern" => {
                    if let (Some(s), Some(p)) = (inst.as_str(), arg.as_str()) {
                        if !matches_pattern(s, p) {
                            let msg = format!("{} does not match {}", repr(inst), repr(arg));
                            self.fail("pattern", msg, schema, inst);
                        }
                    }
                }
                "items" => {
                    for (i, item) in inst.as_array().into_iter().flatten().enumerate() {
                        self.descend(&[Step::Key("items".into())], Step::Index(i), item, arg);
                    }
                }
                "required" => self.required(arg, inst, schema),
                "properties" | "additionalProperties" => {
                    if let Some(obj) = inst.as_object() {
                        self.properties(kw, obj, schema);
                    }
                }
                _ => {}
            }
        }
    }

    fn length(&mut self, kw: &str, arg: &Value, inst: &Value, schema: &Value) {
        let (Some(s), Some(limit)) = (inst.as_str(), arg.as_u64()) else {
            return;
        };
        let len = s.chars().count() as u64;
        if kw == "maxLength" && len > limit {
            self.fail(
                "maxLength",
                format!("{} is too long", repr(inst)),
                schema,
                inst,
            );
        } else if kw == "minLength" && len < limit {
            self.fail(
                "minLength",
                format!("{} is too short", repr(inst)),
                schema,
                inst,
            );
        }
    }

    fn required(&mut self, arg: &Value, inst: &Value, schema: &Value) {
        let Some(obj) = inst.as_object() else {
            return;
        };
        for name in arg
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if !obj.contains_key(name) {
                let msg = format!("{} is a required property", repr_str(name));
                self.fail("required", msg, schema, inst);
            }
        }
    }

    /// `properties` (in schema order) or `additionalProperties` (in instance order).
    fn properties(&mut self, kw: &str, obj: &Map<String, Value>, schema: &Value) {
        let declared = schema.get("properties").and_then(Value::as_object);
        if kw == "properties" {
            for (name, sub) in declared.into_iter().flatten() {
                if let Some(v) = obj.get(name) {
                    let steps = [Step::Key("properties".into()), Step::Key(name.clone())];
                    self.descend(&steps, Step::Key(name.clone()), v, sub);
                }
            }
            return;
        }
        let extra: Vec<(&String, &Value)> = obj
            .iter()
            .filter(|(k, _)| declared.is_none_or(|d| !d.contains_key(*k)))
            .collect();
        match schema.get("additionalProperties") {
            Some(Value::Bool(false)) if !extra.is_empty() => {
                let names: Vec<String> = extra.iter().map(|(k, _)| repr_str(k)).collect();
                let verb = if names.len() == 1 { "was" } else { "were" };
                let msg = format!(
                    "Additional properties are not allowed ({} {verb} unexpected)",
                    names.join(", ")
                );
                self.fail(
                    "additionalProperties",
                    msg,
                    schema,
                    &Value::Object(obj.clone()),
                );
            }
            Some(sub @ Value::Object(_)) => {
                for (name, v) in extra {
                    let steps = [Step::Key("additionalProperties".into())];
                    self.descend(&steps, Step::Key(name.clone()), v, sub);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(v: Value) -> Result<(), String> {
        validate_image(&v)
    }

    #[test]
    fn messages_match_python_jsonschema() {
        assert!(check(json!({"name": "x", "min_disk": 1.0, "kind": "a"})).is_ok());
        let e = check(json!({"disk_format": "floppy", "min_disk": "x"})).unwrap_err();
        assert_eq!(
            e,
            "Provided object does not match schema 'image': 'x' is not of type 'integer'\n\nFailed validating 'type' in schema['properties']['min_disk']:\n    {'type': 'integer',\n     'description': 'Amount of disk space (in GB) required to boot image.'}\n\nOn instance['min_disk']:\n    'x'"
        );
        let e = check(json!({"name": 5, "disk_format": "floppy"})).unwrap_err();
        assert!(e.contains(": 5 is not of type 'null', 'string'\n\nFailed validating 'type' in schema['properties']['name']:\n    {'type': ['null', 'string'],\n     'description': 'Descriptive name for the image',\n     'maxLength': 255}\n\nOn instance['name']:\n    5"), "{e}");
        let e = check(json!({"foo": 1})).unwrap_err();
        assert!(e.ends_with(": 1 is not of type 'string'\n\nFailed validating 'type' in schema['additionalProperties']:\n    {'type': 'string'}\n\nOn instance['foo']:\n    1"), "{e}");
        let e = check(json!({"tags": ["a".repeat(256)]})).unwrap_err();
        assert!(e.contains("is too long\n\nFailed validating 'maxLength' in schema['properties']['tags']['items']:\n    {'type': 'string', 'maxLength': 255}\n\nOn instance['tags'][0]:\n    'aaa"), "{e}");
        let e = check(json!({"id": "abc"})).unwrap_err();
        assert!(
            e.contains("'abc' does not match '^([0-9a-fA-F]){8}-"),
            "{e}"
        );
        let e = check(json!({"locations": [{"url": "x"}]})).unwrap_err();
        assert!(e.contains("'metadata' is a required property\n\nFailed validating 'required' in schema['properties']['locations']['items']:\n    {'type': 'object',\n     'properties': {'url': {'type': 'string', 'maxLength': 255},\n                    'metadata': {'type': 'object'},\n                    'validation_data': {'description': 'Values to be used '\n                                                       'to populate the '\n"), "{e}");
    }

    #[test]
    fn disk_format_message_is_the_sample() {
        let e = check(
            json!({"name": "capture-bad", "disk_format": "floppy", "container_format": "bare"}),
        )
        .unwrap_err();
        assert_eq!(
            e,
            "Provided object does not match schema 'image': 'floppy' is not one of [None, 'ami', 'ari', 'aki', 'vhd', 'vhdx', 'vmdk', 'raw', 'qcow2', 'vdi', 'iso', 'ploop']\n\nFailed validating 'enum' in schema['properties']['disk_format']:\n    {'type': ['null', 'string'],\n     'description': 'Format of the disk',\n     'enum': [None,\n              'ami',\n              'ari',\n              'aki',\n              'vhd',\n              'vhdx',\n              'vmdk',\n              'raw',\n              'qcow2',\n              'vdi',\n              'iso',\n              'ploop']}\n\nOn instance['disk_format']:\n    'floppy'"
        );
    }
}
