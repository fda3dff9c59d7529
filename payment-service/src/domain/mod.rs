//! Types that say what a value is, so the compiler holds the rules: a match on one names every
//! case. The store maps them to their columns (`store/`), the edges to the wire.
pub mod currency;
mod payment_method;
mod payment_status;
mod refund_status;

pub use payment_method::PaymentMethod;
pub use payment_status::PaymentStatus;
pub use refund_status::RefundStatus;
