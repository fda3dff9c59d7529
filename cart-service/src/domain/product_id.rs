//! A product's id as a cart line names it.
use crate::error::CartError;
use std::fmt;

/// A UUID in its hyphenated form, lower case as product-service writes it: the id becomes part
/// of Redis keys, and a keyed add or a change spelled in upper case names the same line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductId(String);

impl ProductId {
    pub fn parse(raw: &str) -> Result<Self, CartError> {
        if !is_uuid(raw) {
            return Err(CartError::invalid("product_id", "is not a UUID"));
        }
        Ok(Self(raw.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ProductId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether `id` is a UUID in its usual hyphenated form: product ids and user ids are, and the
/// form matters because ids become Redis keys.
pub fn is_uuid(id: &str) -> bool {
    id.len() == 36 && uuid::Uuid::try_parse(id).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_product_id_is_a_hyphenated_uuid_kept_in_lower_case() {
        let id = ProductId::parse("0196F3C0-0000-7000-8000-00000000000A").unwrap();
        assert_eq!(id.as_str(), "0196f3c0-0000-7000-8000-00000000000a");
        for bad in ["", "42", "0196f3c0-0000-7000-8000-00000000000z", "0196f3c0x0000-7000-8000-000000000001"] {
            assert!(matches!(ProductId::parse(bad), Err(CartError::InvalidInput { field: "product_id", .. })), "{bad}");
        }
        assert!(ProductId::parse("0196f3c000007000800000000000000a").is_err(), "the simple form is not a line's id");
    }
}
