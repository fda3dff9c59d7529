//! product-service as payment's sweeper reads it: where an order's reservation stands
//! (`GetReservation`; the order id is the reservation id).
use super::channel::ServiceChannel;
use crate::proto::shop::product::v1::{
    product_service_client::ProductServiceClient, GetReservationRequest, Reservation, ReservationState,
};
use std::{path::Path, time::Duration};

/// product's workload name: the SAN its certificate must carry.
const PRODUCT: &str = "product-service";

/// Where a reservation stands, as far as payment needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    /// Reserved: the checkout may yet commit it.
    Held,
    /// Committed, for this total.
    Sold { amount_minor: i64, currency: String },
    /// Released or expired: never sold.
    Released,
    /// No reservation with this id (NOT_FOUND with the contract's RESERVATION_NOT_FOUND).
    Missing,
    /// Product did not say (unreachable, or a state this build does not know).
    Unknown,
}

#[derive(Clone)]
pub struct Reservations {
    channel: ServiceChannel,
}

impl Reservations {
    /// A client that connects on its first call (product may start after payment); over mutual
    /// TLS with the identity in `tls_dir` when `url` is `https://`.
    pub fn connect_lazy(url: &str, timeout: Duration, tls_dir: &Path) -> anyhow::Result<Self> {
        Ok(Self { channel: ServiceChannel::connect_lazy(PRODUCT, url, timeout, tls_dir)? })
    }

    pub async fn standing(&self, order_id: &str) -> Standing {
        let request = GetReservationRequest { reservation_id: order_id.to_owned() };
        let answer = ProductServiceClient::new(self.channel.current()).get_reservation(request).await;
        standing_of(answer.map(|response| response.into_inner().reservation))
    }
}

fn standing_of(answer: Result<Option<Reservation>, tonic::Status>) -> Standing {
    let reservation = match answer {
        Ok(Some(reservation)) => reservation,
        Ok(None) => return Standing::Unknown,
        Err(status) if status.code() == tonic::Code::NotFound => return Standing::Missing,
        Err(status) => {
            tracing::warn!(error = %status, "product did not say where a reservation stands");
            return Standing::Unknown;
        }
    };
    match ReservationState::try_from(reservation.state) {
        Ok(ReservationState::Reserved) => Standing::Held,
        Ok(ReservationState::Released | ReservationState::Expired) => Standing::Released,
        Ok(ReservationState::Committed) => {
            let total = reservation.total.unwrap_or_default();
            Standing::Sold { amount_minor: total.amount_minor, currency: total.currency }
        }
        Ok(ReservationState::Unspecified) | Err(_) => Standing::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::shop::common::v1::Money;

    fn reservation(state: ReservationState) -> Result<Option<Reservation>, tonic::Status> {
        Ok(Some(Reservation {
            state: state as i32,
            total: Some(Money { amount_minor: 900, currency: "EUR".into() }),
            ..Default::default()
        }))
    }

    #[test]
    fn each_answer_reads_as_where_the_reservation_stands() {
        assert_eq!(standing_of(reservation(ReservationState::Reserved)), Standing::Held);
        assert_eq!(standing_of(reservation(ReservationState::Released)), Standing::Released);
        assert_eq!(standing_of(reservation(ReservationState::Expired)), Standing::Released);
        assert_eq!(
            standing_of(reservation(ReservationState::Committed)),
            Standing::Sold { amount_minor: 900, currency: "EUR".into() }
        );
        assert_eq!(standing_of(reservation(ReservationState::Unspecified)), Standing::Unknown);
        assert_eq!(standing_of(Err(tonic::Status::not_found("none"))), Standing::Missing);
        assert_eq!(standing_of(Err(tonic::Status::unavailable("down"))), Standing::Unknown);
        assert_eq!(standing_of(Ok(None)), Standing::Unknown);
    }
}
