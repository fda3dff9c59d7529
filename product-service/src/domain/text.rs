//! A product's name and description: what shoppers read, so bounded and printable.
use crate::error::ProductError;

const MAX_NAME_CHARS: usize = 200;
const MAX_DESCRIPTION_CHARS: usize = 5_000;

/// 1 to 200 characters with no control character, without surrounding white space.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductName(String);

impl ProductName {
    pub fn parse(raw: &str) -> Result<Self, ProductError> {
        let trimmed = raw.trim();
        let length = trimmed.chars().count();
        if length == 0 || length > MAX_NAME_CHARS || raw.chars().any(char::is_control) {
            return Err(ProductError::invalid("name", format!("must be 1 to {MAX_NAME_CHARS} printable characters")));
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// At most 5,000 characters, none of them NUL (PostgreSQL's text refuses it). May be empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Description(String);

impl Description {
    pub fn parse(raw: &str) -> Result<Self, ProductError> {
        if raw.chars().count() > MAX_DESCRIPTION_CHARS {
            return Err(ProductError::invalid(
                "description",
                format!("is longer than {MAX_DESCRIPTION_CHARS} characters"),
            ));
        }
        if raw.contains('\0') {
            return Err(ProductError::invalid("description", "may not contain NUL characters"));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_trimmed_bounded_and_printable() {
        assert_eq!(ProductName::parse("  Mug ").unwrap().as_str(), "Mug");
        assert!(ProductName::parse("  ").is_err());
        assert!(ProductName::parse(&"x".repeat(201)).is_err());
        assert!(ProductName::parse(&"é".repeat(200)).is_ok(), "characters are counted, not bytes");
        assert!(ProductName::parse("a\u{0}b").is_err());
        assert!(ProductName::parse("a\nb").is_err());
    }

    #[test]
    fn a_description_is_bounded_and_holds_no_nul() {
        assert_eq!(Description::parse("").unwrap(), Description::default());
        assert!(Description::parse(&"x".repeat(5_000)).is_ok());
        assert!(Description::parse(&"x".repeat(5_001)).is_err());
        assert!(matches!(Description::parse("a\u{0}b"), Err(ProductError::InvalidInput { field: "description", .. })));
    }
}
