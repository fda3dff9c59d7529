//! A sale: a checkout's reservation that product committed. The cart gives up the bought units
//! for a sale only, and marks it settled (`CartStore::settle`); the PaymentSucceeded consumer
//! trusts that mark to skip the commit it would otherwise ask for again. So the mark must mean a
//! sale: a [`Sale`] is made by [`commit`] alone, from product's yes, and settling takes one.
use crate::{
    error::CartError,
    proto::shop::{common::v1::Money, product::v1::CommitReservationRequest},
    store::CartStore,
    upstream::{
        refusals::{reservation_refused, ReservationRefused},
        Upstream,
    },
};

/// A committed reservation: the checkout's id, which is its reservation's.
pub struct Sale {
    checkout_id: String,
}

/// Asks product to commit the checkout's reservation, which it does only when `paid` is the
/// reservation's total; idempotent (a committed one answers yes again). A refusal says why, for
/// the caller to act on.
pub async fn commit(upstream: &Upstream, checkout_id: &str, paid: Option<Money>) -> Result<Sale, ReservationRefused> {
    let request = CommitReservationRequest { reservation_id: checkout_id.to_owned(), paid };
    upstream
        .product
        .send(&request, |mut c, r| async move { c.commit_reservation(r).await })
        .await
        .map_err(reservation_refused)?;
    Ok(Sale { checkout_id: checkout_id.to_owned() })
}

impl Sale {
    /// Takes the bought quantities out of the user's cart, once: whoever gets here first — the
    /// checkout itself or the PaymentSucceeded consumer — does it, the other does nothing. Only
    /// what was bought leaves: units added to a line while the checkout ran stay.
    pub async fn settle_cart(
        &self,
        store: &CartStore,
        user_id: &str,
        bought: &[(String, i64)],
    ) -> Result<(), CartError> {
        store.settle(user_id, &self.checkout_id, bought).await
    }
}
