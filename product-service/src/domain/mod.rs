//! Types that say what a value is, so the compiler holds the rules: a value of one was checked
//! when it was made (`parse`), and a match on a state names every case. The store maps them to
//! their columns (`store/`), the edges to the wire.
mod attributes;
pub mod currency;
mod price;
mod reservation_request;
mod reservation_state;
mod sku;
mod stock;
mod text;

pub use attributes::Attributes;
pub use price::{Price, MAX_PRICE_MINOR};
pub use reservation_request::{ReservationId, ReservationLines, MAX_LINES, MAX_QUANTITY};
pub use reservation_state::ReservationState;
pub use sku::Sku;
pub use stock::{OnHand, StockChange, MAX_ON_HAND};
pub use text::{Description, ProductName};
