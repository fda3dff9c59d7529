//! Types that say what a value is: a value of one was checked when it was made (`parse`), so the
//! code that takes one need not check it again.
mod product_id;
mod quantity;

pub use product_id::{is_uuid, ProductId};
pub use quantity::Quantity;
