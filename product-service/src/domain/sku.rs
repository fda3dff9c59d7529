//! A product's stock-keeping unit: how admins, the seed file and the catalogue's readers name it.
use crate::error::ProductError;
use std::fmt;

/// 1 to 64 ASCII letters, digits, '-', '_' or '.': safe in URLs, logs and file names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sku(String);

impl Sku {
    pub fn parse(raw: &str) -> Result<Self, ProductError> {
        let valid =
            (1..=64).contains(&raw.len()) && raw.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if !valid {
            return Err(ProductError::invalid("sku", "must be 1 to 64 letters, digits, '-', '_' or '.'"));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Sku {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_digits_and_three_marks_pass_and_nothing_else() {
        assert_eq!(Sku::parse("MUG-01_a.b").unwrap().as_str(), "MUG-01_a.b");
        for bad in ["", "has space", "slash/", "é", &"x".repeat(65)] {
            assert!(matches!(Sku::parse(bad), Err(ProductError::InvalidInput { field: "sku", .. })), "{bad:?}");
        }
        assert!(Sku::parse(&"x".repeat(64)).is_ok());
    }
}
