//! What a checkout asks to hold: its id and lines, checked and merged once at the edge.
use crate::error::ProductError;
use std::collections::BTreeMap;
use uuid::Uuid;

/// Lines one reservation may have, and units one line may hold.
pub const MAX_LINES: usize = 100;
pub const MAX_QUANTITY: i64 = 10_000;

/// A reservation id: the caller's checkout id, 1 to 255 bytes, not only white space.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservationId(String);

impl ReservationId {
    pub fn parse(raw: &str) -> Result<Self, ProductError> {
        if raw.trim().is_empty() || raw.len() > 255 {
            return Err(ProductError::invalid("reservation_id", "must be 1 to 255 characters"));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// 1 to `MAX_LINES` lines of 1 to `MAX_QUANTITY` units each, one per product (repeats merged),
/// sorted by product id: every transaction locks rows in the same order, so concurrent
/// reservations cannot deadlock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservationLines(Vec<(Uuid, i64)>);

impl ReservationLines {
    pub fn parse(lines: &[(String, i64)]) -> Result<Self, ProductError> {
        if lines.is_empty() || lines.len() > MAX_LINES {
            return Err(ProductError::invalid("lines", format!("must have 1 to {MAX_LINES} entries")));
        }
        let mut merged: BTreeMap<Uuid, i64> = BTreeMap::new();
        for (product_id, quantity) in lines {
            let id: Uuid = product_id
                .parse()
                .map_err(|_| ProductError::invalid("product_id", format!("{product_id:?} is not a UUID")))?;
            if !(1..=MAX_QUANTITY).contains(quantity) {
                return Err(ProductError::invalid("quantity", format!("must be 1 to {MAX_QUANTITY}, got {quantity}")));
            }
            let total = merged.entry(id).or_default();
            *total = (*total + quantity).min(MAX_QUANTITY + 1);
            if *total > MAX_QUANTITY {
                return Err(ProductError::invalid("quantity", format!("more than {MAX_QUANTITY} units of {id}")));
            }
        }
        Ok(Self(merged.into_iter().collect()))
    }

    pub fn iter(&self) -> impl Iterator<Item = &(Uuid, i64)> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
