//! Stock events: what every change of a product's stock writes to the outbox, whoever made it
//! (a reservation, a sale, an expiry, an admin).
use crate::{
    error::ProductError,
    events::{outbox, types},
    proto::shop::events::v1::{ProductBackInStock, ProductOutOfStock, StockChanged},
    store::{products::StockRow, Conn},
};

/// `StockChanged`, plus `ProductOutOfStock` or `ProductBackInStock` when availability
/// crossed zero.
pub async fn record(conn: &mut Conn, topic: &str, stock: &StockRow, available_before: i64) -> Result<(), ProductError> {
    let product_id = stock.id.to_string();
    let changed = StockChanged {
        product_id: product_id.clone(),
        on_hand: stock.on_hand,
        reserved: stock.reserved,
        available: stock.available(),
        version: stock.version,
    };
    outbox::enqueue(conn, topic, &product_id, types::STOCK_CHANGED, &changed).await?;
    if available_before > 0 && stock.available() == 0 {
        let event = ProductOutOfStock { product_id: product_id.clone(), version: stock.version };
        outbox::enqueue(conn, topic, &product_id, types::PRODUCT_OUT_OF_STOCK, &event).await?;
    } else if available_before == 0 && stock.available() > 0 {
        let event =
            ProductBackInStock { product_id: product_id.clone(), available: stock.available(), version: stock.version };
        outbox::enqueue(conn, topic, &product_id, types::PRODUCT_BACK_IN_STOCK, &event).await?;
    }
    Ok(())
}
