//! A product's attributes: the JSON object the catalogue's filters match on.
use crate::error::ProductError;

const MAX_ATTRIBUTES: usize = 50;

/// A JSON object of at most 50 entries, names of 1 to 64 bytes, no NUL in any string or key.
#[derive(Debug, Clone, PartialEq)]
pub struct Attributes(serde_json::Value);

impl Attributes {
    pub fn parse(raw: serde_json::Value) -> Result<Self, ProductError> {
        if holds_nul(&raw) {
            return Err(ProductError::invalid("attributes", "may not contain NUL characters"));
        }
        match raw.as_object() {
            Some(map) if map.len() <= MAX_ATTRIBUTES && map.keys().all(|k| (1..=64).contains(&k.len())) => {
                Ok(Self(raw))
            }
            _ => Err(ProductError::invalid(
                "attributes",
                format!("must be an object of at most {MAX_ATTRIBUTES} entries with names of 1 to 64 bytes"),
            )),
        }
    }

    pub fn into_inner(self) -> serde_json::Value {
        self.0
    }
}

impl Default for Attributes {
    /// No attributes: an empty object.
    fn default() -> Self {
        Self(serde_json::Value::Object(serde_json::Map::new()))
    }
}

/// Whether a JSON value holds a NUL character in any string or key: PostgreSQL's text and
/// JSONB refuse it, so it is the caller's mistake to report, not a failed query.
fn holds_nul(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(text) => text.contains('\0'),
        serde_json::Value::Array(items) => items.iter().any(holds_nul),
        serde_json::Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
        serde_json::Value::Null | serde_json::Value::Bool(_) | serde_json::Value::Number(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_object_of_named_entries_passes() {
        assert!(Attributes::parse(json!({"colour": "blue", "sizes": [1, 2]})).is_ok());
        assert_eq!(Attributes::default().into_inner(), json!({}));
    }

    #[test]
    fn anything_else_is_refused() {
        for bad in [
            json!(["not", "an", "object"]),
            json!({"": 1}),
            json!({ "colour": ["green", "a\u{0}b"] }),
            json!({ "a\u{0}b": 1 }),
            json!("text"),
            serde_json::Value::Object((0..51).map(|i| (format!("k{i}"), json!(i))).collect()),
        ] {
            assert!(
                matches!(Attributes::parse(bad.clone()), Err(ProductError::InvalidInput { field: "attributes", .. })),
                "{bad}"
            );
        }
    }
}
