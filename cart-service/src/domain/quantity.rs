//! Units of one product in a cart line.
use crate::{error::CartError, store::MAX_QUANTITY};

/// 1 to `MAX_QUANTITY` units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quantity(i64);

impl Quantity {
    pub fn parse(units: i64) -> Result<Self, CartError> {
        if !(1..=MAX_QUANTITY).contains(&units) {
            return Err(CartError::invalid("quantity", format!("must be 1 to {MAX_QUANTITY}")));
        }
        Ok(Self(units))
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quantity_is_1_to_99() {
        assert_eq!(Quantity::parse(1).unwrap().get(), 1);
        assert_eq!(Quantity::parse(99).unwrap().get(), 99);
        for bad in [0, 100, -1] {
            assert!(matches!(Quantity::parse(bad), Err(CartError::InvalidInput { field: "quantity", .. })), "{bad}");
        }
    }
}
