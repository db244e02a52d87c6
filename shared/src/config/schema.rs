//! The configuration's JSON Schema, generated from the types themselves:
//! every field's doc comment is its description, the value types carry the
//! patterns their parsers check, and the rules between fields that a schema
//! can say (`request = true` needs `peer_vpc` and `peer_region`, `tcp` and
//! `udp` need `ports`, …) are `if`/`then` clauses. Editors that read Taplo's
//! `#:schema` directive (the first line of `peerlink.example.toml`) complete
//! and check a document with it; `peerlink schema` prints it and the
//! repository ships it as `schema/peerlink.schema.json`.
//!
//! Draft 7: what the TOML editors' validators support.

use schemars::generate::SchemaSettings;
use schemars::transform::RecursiveTransform;
use schemars::{Schema, json_schema};
use serde_json::Value;

use super::Config;

/// The schema as a JSON value.
pub fn json_schema() -> Value {
    let generator = SchemaSettings::draft07()
        .with_transform(RecursiveTransform(tomlify))
        .into_generator();
    let mut schema = generator.into_root_schema_for::<Config>();
    schema.insert("title".into(), "peerlink configuration".into());
    schema.insert(
        "description".into(),
        "One TOML document per account (and region): the peers this account works with. See peerlink.example.toml."
            .into(),
    );
    schema.to_value()
}

/// The schema as `peerlink schema` prints it and the repository ships it.
pub fn json_schema_text() -> String {
    let mut text = serde_json::to_string_pretty(&json_schema()).expect("a schema is JSON");
    text.push('\n');
    text
}

/// Makes the generated schema fit a TOML document:
/// - doc comments wrap at 80 columns; an editor's tooltip wraps by itself,
///   so single line breaks become spaces (paragraph breaks stay);
/// - TOML has no null: an optional key is absent, never `null`, so the
///   `null` alternative (or type) and `"default": null` of `Option` fields go;
/// - the Rust integer formats (`uint`, `uint64`) are no JSON Schema formats.
fn tomlify(schema: &mut Schema) {
    let Some(map) = schema.as_object_mut() else { return };
    if let Some(Value::String(text)) = map.get_mut("description") {
        *text = text
            .split("\n\n")
            .map(|paragraph| paragraph.split('\n').map(str::trim).collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>()
            .join("\n\n");
    }
    if let Some(Value::Array(options)) = map.get_mut("anyOf") {
        let null = serde_json::json!({ "type": "null" });
        if options.len() == 2 && options.contains(&null) {
            options.retain(|o| *o != null);
            let only = options.remove(0);
            map.remove("anyOf");
            map.insert("allOf".into(), Value::Array(vec![only]));
        }
    }
    if let Some(Value::Array(types)) = map.get_mut("type") {
        types.retain(|t| t != "null");
        if types.len() == 1 {
            let only = types.remove(0);
            map.insert("type".into(), only);
        }
    }
    if map.get("default") == Some(&Value::Null) {
        map.remove("default");
    }
    if map
        .get("format")
        .and_then(Value::as_str)
        .is_some_and(|f| f.starts_with("uint") || f.starts_with("int"))
    {
        map.remove("format");
    }
}

/// Adds an `allOf` clause to an object schema.
fn all_of(schema: &mut Schema, clause: Schema) {
    let list = schema
        .ensure_object()
        .entry("allOf")
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Value::Array(items) = list {
        items.push(clause.to_value());
    }
}

/// `request = true` needs `peer_vpc` and `peer_region`, and excludes `auto_accept = true`.
pub(super) fn request_needs_peer(schema: &mut Schema) {
    all_of(
        schema,
        json_schema!({
            "if": { "properties": { "request": { "const": true } }, "required": ["request"] },
            "then": {
                "required": ["peer_vpc", "peer_region"],
                "properties": { "auto_accept": { "const": false } },
            },
        }),
    );
}

/// `tcp` and `udp` (the default) need `ports`; `icmp` and `all` take none.
pub(super) fn rule_needs_ports(schema: &mut Schema) {
    all_of(
        schema,
        json_schema!({
            "if": { "properties": { "protocol": { "enum": ["icmp", "all"] } }, "required": ["protocol"] },
            "then": { "not": { "required": ["ports"] } },
            "else": { "required": ["ports"] },
        }),
    );
}

/// An IPv4 address as text (`10.1.2.3`), as the parser reads it.
pub(super) fn ipv4(_: &mut schemars::SchemaGenerator) -> Schema {
    json_schema!({
        "type": "string",
        "pattern": r"^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$",
        "examples": ["10.1.2.3"],
    })
}

/// A path's `tcp` and `udp` (the default) need `port`, `icmp` takes none, `all` is no traffic one sends.
pub(super) fn path_needs_port(schema: &mut Schema) {
    all_of(
        schema,
        json_schema!({
            "if": { "properties": { "protocol": { "const": "icmp" } }, "required": ["protocol"] },
            "then": { "not": { "required": ["port"] } },
            "else": { "required": ["port"], "properties": { "protocol": { "enum": ["tcp", "udp"] } } },
        }),
    );
}

/// `select = "tagged"` needs `tags`, `"ids"` needs `ids`, `"subnets"` needs
/// `subnets`; each list applies only with its own select.
pub(super) fn select_needs_its_list(schema: &mut Schema) {
    for (select, list) in [("tagged", "tags"), ("ids", "ids"), ("subnets", "subnets")] {
        all_of(
            schema,
            json_schema!({
                "if": { "properties": { "select": { "const": select } }, "required": ["select"] },
                "then": { "required": [list] },
                "else": { "not": { "required": [list] } },
            }),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every property of every object in the schema.
    fn properties(value: &Value, path: &str, out: &mut Vec<(String, Value)>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::Object(props)) = map.get("properties") {
                    for (name, prop) in props {
                        out.push((format!("{path}.{name}"), prop.clone()));
                    }
                }
                for (k, v) in map {
                    properties(v, &format!("{path}/{k}"), out);
                }
            }
            Value::Array(items) => items.iter().for_each(|v| properties(v, path, out)),
            _ => {}
        }
    }

    #[test]
    fn every_field_has_a_description() {
        let schema = json_schema();
        let mut props = Vec::new();
        properties(&schema, "", &mut props);
        // The rules' if/then clauses name properties without describing them.
        let fields: Vec<_> = props.iter().filter(|(path, _)| !path.contains("/allOf")).collect();
        assert!(fields.len() > 25, "too few fields found: {}", fields.len());
        for (path, prop) in fields {
            let described = prop
                .get("description")
                .and_then(Value::as_str)
                .is_some_and(|d| !d.is_empty());
            assert!(
                described,
                "{path} has no description (a doc comment on the field): {prop}"
            );
        }
        for (name, def) in schema["definitions"].as_object().unwrap() {
            assert!(def.get("description").is_some(), "definition {name} has no description");
        }
    }

    #[test]
    fn descriptions_are_the_doc_comments_unwrapped() {
        let schema = json_schema();
        let settings = &schema["definitions"]["GlobalSettings"]["properties"];
        let text = settings["request_retry_hours"]["description"].as_str().unwrap();
        assert_eq!(
            text,
            "After a request of ours was rejected, expired or failed, how long before an entry with `request = true` asks again (no request storm). 1 to 720 hours."
        );
        assert_eq!(settings["write_concurrency"]["minimum"], 1);
        assert_eq!(settings["write_concurrency"]["maximum"], 64);
        assert_eq!(settings["write_concurrency"]["default"], 16);
    }

    #[test]
    fn nothing_in_it_is_null_or_a_rust_format() {
        let text = json_schema_text();
        assert!(!text.contains("null"), "TOML has no null: {text}");
        assert!(!text.contains("\"format\""), "{text}");
        // A file with a final newline (the shipped copy is compared in cli/tests/offline.rs).
        assert!(text.ends_with("}\n"));
        // The optional fields keep their type and description.
        let vpc = &json_schema()["definitions"]["PeerEntry"]["properties"]["peer_vpc"];
        assert_eq!(vpc["allOf"][0]["$ref"], "#/definitions/VpcId", "{vpc}");
        assert!(vpc["description"].as_str().unwrap().starts_with("The other VPC"));
    }
}
