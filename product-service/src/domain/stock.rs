//! Stock on hand and the admin's changes to it.
use crate::error::ProductError;

/// Largest stock on hand a product may have: far beyond any shop, far below overflow.
pub const MAX_ON_HAND: i64 = 1_000_000_000;

/// Units in the warehouse: 0 to `MAX_ON_HAND`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct OnHand(i64);

impl OnHand {
    pub fn parse(units: i64) -> Result<Self, ProductError> {
        if !(0..=MAX_ON_HAND).contains(&units) {
            return Err(ProductError::invalid("stock", format!("must be 0 to {MAX_ON_HAND}")));
        }
        Ok(Self(units))
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

/// An admin's change to the stock on hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StockChange {
    /// The stock on hand becomes this.
    Set(OnHand),
    /// The stock on hand moves by this, never 0 (a delivery, a count correction).
    Adjust(i64),
}

impl StockChange {
    pub fn adjust(delta: i64) -> Result<Self, ProductError> {
        if delta == 0 || delta.unsigned_abs() > MAX_ON_HAND.unsigned_abs() {
            return Err(ProductError::invalid("adjust", format!("must be non-zero and within ±{MAX_ON_HAND}")));
        }
        Ok(Self::Adjust(delta))
    }

    /// The stock on hand after the change, refused when it leaves the bounds.
    pub fn applied_to(self, current: i64) -> Result<OnHand, ProductError> {
        match self {
            Self::Set(on_hand) => Ok(on_hand),
            Self::Adjust(delta) => OnHand::parse(current.saturating_add(delta)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stock_is_bounded() {
        assert!(OnHand::parse(-1).is_err());
        assert_eq!(OnHand::parse(MAX_ON_HAND).unwrap().get(), MAX_ON_HAND);
        assert!(OnHand::parse(MAX_ON_HAND + 1).is_err());
    }

    #[test]
    fn an_adjustment_is_non_zero_and_keeps_the_stock_in_bounds() {
        assert!(matches!(StockChange::adjust(0), Err(ProductError::InvalidInput { field: "adjust", .. })));
        assert!(StockChange::adjust(MAX_ON_HAND + 1).is_err());
        assert!(StockChange::adjust(i64::MIN).is_err());
        assert_eq!(StockChange::adjust(-3).unwrap().applied_to(10).unwrap().get(), 7);
        assert!(StockChange::adjust(-11).unwrap().applied_to(10).is_err());
        assert!(StockChange::adjust(MAX_ON_HAND).unwrap().applied_to(1).is_err());
        assert_eq!(StockChange::Set(OnHand::parse(4).unwrap()).applied_to(10).unwrap().get(), 4);
    }
}
