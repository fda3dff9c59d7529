//! A product's price: integer minor units in an ISO 4217 currency, never a float.
use super::currency;
use crate::error::ProductError;

/// Largest price in minor units (ten million in a two-decimal currency).
pub const MAX_PRICE_MINOR: i64 = 1_000_000_000;

/// 0 to `MAX_PRICE_MINOR` minor units of a currency ISO 4217 lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Price {
    amount_minor: i64,
    currency: String,
}

impl Price {
    pub fn parse(amount_minor: i64, currency_code: &str) -> Result<Self, ProductError> {
        if !(0..=MAX_PRICE_MINOR).contains(&amount_minor) {
            return Err(ProductError::invalid(
                "price.amount_minor",
                format!("must be 0 to {MAX_PRICE_MINOR} minor units"),
            ));
        }
        if !currency::is_known(currency_code) {
            return Err(ProductError::invalid(
                "price.currency",
                format!("{currency_code:?} is not an ISO 4217 currency code"),
            ));
        }
        Ok(Self { amount_minor, currency: currency_code.to_owned() })
    }

    pub fn amount_minor(&self) -> i64 {
        self.amount_minor
    }

    pub fn currency(&self) -> &str {
        &self.currency
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_need_a_real_currency_and_no_sign() {
        let price = Price::parse(1999, "EUR").unwrap();
        assert_eq!((price.amount_minor(), price.currency()), (1999, "EUR"));
        assert!(Price::parse(0, "JPY").is_ok());
        assert!(Price::parse(MAX_PRICE_MINOR, "EUR").is_ok());
        assert!(matches!(Price::parse(-1, "EUR"), Err(ProductError::InvalidInput { field: "price.amount_minor", .. })));
        assert!(Price::parse(MAX_PRICE_MINOR + 1, "EUR").is_err());
        assert!(matches!(Price::parse(100, "EUO"), Err(ProductError::InvalidInput { field: "price.currency", .. })));
        assert!(Price::parse(100, "eur").is_err());
    }
}
