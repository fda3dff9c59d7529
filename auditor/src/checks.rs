//! The promises, checked on the stores themselves. Rows younger than the grace period are left
//! alone: a checkout in flight is not a violation.
use crate::{
    proto::shop::events::v1::{Envelope, PaymentSucceeded},
    stores::Stores,
};
use mysql_async::prelude::Queryable;
use prost::Message as _;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};

#[derive(Debug, Serialize)]
pub struct Violation {
    pub check: &'static str,
    pub detail: String,
    /// The ids involved: `product_id`, `order_id`, `payment_id` or `service`.
    #[serde(flatten)]
    pub ids: BTreeMap<&'static str, String>,
}

#[derive(Default)]
struct Found(Vec<Violation>);

impl Found {
    fn report(&mut self, check: &'static str, detail: String, ids: &[(&'static str, &str)]) {
        let ids = ids.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
        self.0.push(Violation { check, detail, ids });
    }
}

/// Payment statuses after the money moved (a refund does not undo the sale).
const PAID: [&str; 3] = ["succeeded", "partially_refunded", "refunded"];

pub async fn audit(stores: &mut Stores, grace: i64) -> anyhow::Result<Vec<Violation>> {
    let mut found = Found::default();
    stock(stores, &mut found).await?;
    ledger(stores, &mut found).await?;
    orders_and_payments(stores, grace, &mut found).await?;
    refunds(stores, grace, &mut found).await?;
    outboxes(stores, grace, &mut found).await?;
    Ok(found.0)
}

/// A product's reserved count is the quantity its open reservations hold.
async fn stock(stores: &Stores, found: &mut Found) -> anyhow::Result<()> {
    let rows = stores
        .product
        .query(
            "SELECT p.id::text, p.reserved, COALESCE(SUM(l.quantity) FILTER (WHERE r.state = 'reserved'), 0)::bigint
             FROM products p
             LEFT JOIN reservation_lines l ON l.product_id = p.id
             LEFT JOIN reservations r ON r.id = l.reservation_id
             GROUP BY p.id, p.reserved
             HAVING p.reserved <> COALESCE(SUM(l.quantity) FILTER (WHERE r.state = 'reserved'), 0)",
            &[],
        )
        .await?;
    for row in rows {
        let (product, reserved, held): (String, i64, i64) = (row.get(0), row.get(1), row.get(2));
        found.report(
            "stock",
            format!("reserved {reserved} but open reservations hold {held}"),
            &[("product_id", &product)],
        );
    }
    Ok(())
}

/// Stock on hand = initial ± adjustments − sold by the stock ledger, every change explained,
/// and the ledger's sales equal to the lines of committed reservations.
async fn ledger(stores: &Stores, found: &mut Found) -> anyhow::Result<()> {
    let rows = stores
        .product
        .query(
            "WITH ledger AS (
                 SELECT product_id, SUM(delta)::bigint AS total,
                        COUNT(*) FILTER (WHERE reason = 'unexplained') AS unexplained,
                        (-COALESCE(SUM(delta) FILTER (WHERE reason = 'sale'), 0))::bigint AS sold
                 FROM stock_movements GROUP BY product_id),
             commits AS (
                 SELECT l.product_id, SUM(l.quantity)::bigint AS units FROM reservation_lines l
                 JOIN reservations r ON r.id = l.reservation_id WHERE r.state = 'committed' GROUP BY l.product_id)
             SELECT p.id::text, p.on_hand, COALESCE(g.total, 0), COALESCE(g.unexplained, 0),
                    COALESCE(g.sold, 0), COALESCE(c.units, 0)
             FROM products p LEFT JOIN ledger g ON g.product_id = p.id LEFT JOIN commits c ON c.product_id = p.id
             WHERE p.on_hand <> COALESCE(g.total, 0) OR COALESCE(g.unexplained, 0) > 0
                OR COALESCE(g.sold, 0) <> COALESCE(c.units, 0)",
            &[],
        )
        .await?;
    for row in rows {
        let product: String = row.get(0);
        let (on_hand, total, unexplained, sold, committed): (i64, i64, i64, i64, i64) =
            (row.get(1), row.get(2), row.get(3), row.get(4), row.get(5));
        let ids = [("product_id", product.as_str())];
        if on_hand != total {
            found.report("ledger", format!("on hand {on_hand} but the ledger adds up to {total}"), &ids);
        }
        if unexplained > 0 {
            found.report("ledger", format!("{unexplained} change(s) of stock made outside the service"), &ids);
        }
        if sold != committed {
            found.report("ledger", format!("the ledger sold {sold} units, committed reservations {committed}"), &ids);
        }
    }
    Ok(())
}

struct Payment {
    id: String,
    order_id: String,
    status: String,
    age: i64,
    lines: String,
    gateway: String,
}

/// Paid checkouts against reservations and auth's order history, and payments against their
/// announcement. Direct `Charge` calls (the load generator's) have no reservation and are not
/// orders: they are only checked for their event.
async fn orders_and_payments(stores: &mut Stores, grace: i64, found: &mut Found) -> anyhow::Result<()> {
    let reservations: HashMap<String, (String, i64)> = stores
        .product
        .query("SELECT id, state, EXTRACT(EPOCH FROM now() - updated_at)::bigint FROM reservations", &[])
        .await?
        .into_iter()
        .map(|row| (row.get(0), (row.get(1), row.get(2))))
        .collect();
    let payments: Vec<Payment> = stores
        .payment
        .query_map(
            "SELECT id, order_id, status, CAST(TIMESTAMPDIFF(SECOND, updated_at, NOW(6)) AS SIGNED), order_lines,
                    gateway
             FROM payments",
            |(id, order_id, status, age, lines, gateway)| Payment { id, order_id, status, age, lines, gateway },
        )
        .await?;

    let mut charges: HashMap<&str, usize> = HashMap::new();
    for payment in payments.iter().filter(|p| PAID.contains(&p.status.as_str())) {
        *charges.entry(payment.order_id.as_str()).or_default() += 1;
        let reservation = reservations.get(&payment.order_id);
        // A refunded payment is the saga's answer to a reservation that expired first.
        if let Some((state, _)) = reservation {
            if payment.status != "refunded" && state != "committed" && payment.age > grace {
                found.report(
                    "paid-open",
                    format!("payment {}, reservation {state}", payment.status),
                    &[("payment_id", &payment.id), ("order_id", &payment.order_id)],
                );
            }
        }
    }
    // A PayPal payment waiting for its buyer ends when its stock is released: failed
    // (`approval_expired`), never captured afterwards.
    for payment in payments.iter().filter(|p| p.status == "pending" && p.gateway == "paypal") {
        if let Some((state, age)) = reservations.get(&payment.order_id) {
            if (state == "released" || state == "expired") && *age > grace {
                found.report(
                    "approval-open",
                    format!("a PayPal payment still waits for approval {age} s after its reservation was {state}"),
                    &[("payment_id", &payment.id), ("order_id", &payment.order_id)],
                );
            }
        }
    }
    for (order, count) in &charges {
        if *count > 1 {
            found.report("double", format!("{count} successful payments for one checkout"), &[("order_id", order)]);
        }
    }
    for (reservation, (state, age)) in &reservations {
        if state == "committed" && !charges.contains_key(reservation.as_str()) && *age > grace {
            found.report(
                "committed",
                "reservation committed without a successful payment".to_owned(),
                &[("order_id", reservation)],
            );
        }
    }
    paid_lines(stores, &payments, found).await?;

    // Every succeeded payment is named in a sent PaymentSucceeded.
    let envelopes: Vec<Vec<u8>> = stores
        .payment
        .query(
            "SELECT envelope FROM outbox WHERE event_type = 'shop.events.v1.PaymentSucceeded' AND sent_at IS NOT NULL",
        )
        .await?;
    let announced: HashSet<String> = envelopes
        .iter()
        .filter_map(|bytes| Envelope::decode(bytes.as_slice()).ok())
        .filter_map(|envelope| PaymentSucceeded::decode(envelope.payload.as_slice()).ok())
        .map(|event| event.payment_id)
        .collect();
    for payment in payments.iter().filter(|p| PAID.contains(&p.status.as_str())) {
        if !announced.contains(&payment.id) && payment.age > grace {
            found.report(
                "event",
                "succeeded payment without a sent PaymentSucceeded".to_owned(),
                &[("payment_id", &payment.id)],
            );
        }
    }

    // Auth's order history holds real payments only.
    let known: HashSet<&str> = payments.iter().map(|p| p.id.as_str()).collect();
    for row in stores.auth.query("SELECT payment_id::text, order_id FROM orders", &[]).await? {
        let (payment, order): (String, String) = (row.get(0), row.get(1));
        if !known.contains(payment.as_str()) {
            found.report(
                "order",
                "an order in auth's history has no payment".to_owned(),
                &[("payment_id", &payment), ("order_id", &order)],
            );
        }
    }
    Ok(())
}

/// What each committed checkout paid for is what its reservation sold.
async fn paid_lines(stores: &Stores, payments: &[Payment], found: &mut Found) -> anyhow::Result<()> {
    let mut sold: HashMap<String, BTreeMap<String, i64>> = HashMap::new();
    for row in stores
        .product
        .query(
            "SELECT r.id, l.product_id::text, l.quantity FROM reservations r
             JOIN reservation_lines l ON l.reservation_id = r.id WHERE r.state = 'committed'",
            &[],
        )
        .await?
    {
        sold.entry(row.get(0)).or_default().insert(row.get(1), row.get(2));
    }
    #[derive(serde::Deserialize)]
    struct Line {
        product_id: String,
        quantity: i64,
    }
    for payment in payments.iter().filter(|p| PAID.contains(&p.status.as_str())) {
        let Some(sold) = sold.get(&payment.order_id) else { continue };
        let mut paid: BTreeMap<String, i64> = BTreeMap::new();
        for line in serde_json::from_str::<Vec<Line>>(&payment.lines).unwrap_or_default() {
            *paid.entry(line.product_id).or_default() += line.quantity;
        }
        if &paid != sold {
            found.report("paid-lines", format!("paid for {paid:?}, sold {sold:?}"), &[("order_id", &payment.order_id)]);
        }
    }
    Ok(())
}

/// Refunds end, and the order history learns of them: a refund still pending after the grace
/// period (the reconciler asks the gateway until it answers), and an order whose history shows
/// less refunded than the gateway gave back (PaymentRefunded lost, or applied before the
/// PaymentSucceeded it follows).
async fn refunds(stores: &mut Stores, grace: i64, found: &mut Found) -> anyhow::Result<()> {
    let stuck: Vec<(String, String)> = stores
        .payment
        .query_map(
            format!(
                "SELECT id, payment_id FROM refunds
                 WHERE status = 'pending' AND created_at < NOW(6) - INTERVAL {grace} SECOND"
            ),
            |(id, payment_id)| (id, payment_id),
        )
        .await?;
    for (refund, payment) in &stuck {
        found.report(
            "refund-stuck",
            format!("refund {refund} still pending after {grace} s"),
            &[("payment_id", payment)],
        );
    }
    // Per payment: what succeeded refunds gave back, and how long ago the newest settled.
    let settled: Vec<(String, i64, i64)> = stores
        .payment
        .query_map(
            "SELECT payment_id, CAST(SUM(amount_minor) AS SIGNED),
                    CAST(MIN(TIMESTAMPDIFF(SECOND, updated_at, NOW(6))) AS SIGNED)
             FROM refunds WHERE status = 'succeeded' GROUP BY payment_id",
            |(payment_id, total, age)| (payment_id, total, age),
        )
        .await?;
    let history: HashMap<String, i64> = stores
        .auth
        .query("SELECT payment_id::text, refunded_minor FROM orders", &[])
        .await?
        .into_iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    for (payment, total, age) in &settled {
        let Some(shown) = history.get(payment) else { continue };
        if shown < total && *age > grace {
            found.report(
                "history-refund",
                format!("the gateway refunded {total}, the order history shows {shown}"),
                &[("payment_id", payment)],
            );
        }
    }
    Ok(())
}

/// Outboxes drain while the broker is up.
async fn outboxes(stores: &mut Stores, grace: i64, found: &mut Found) -> anyhow::Result<()> {
    let unsent = format!(
        "SELECT count(*) FROM outbox WHERE sent_at IS NULL AND created_at < now() - make_interval(secs => {grace})"
    );
    let auth: i64 = stores.auth.query_one(&unsent, &[]).await?.get(0);
    let product: i64 = stores.product.query_one(&unsent, &[]).await?.get(0);
    let payment: Option<i64> = stores
        .payment
        .query_first(format!(
            "SELECT CAST(count(*) AS SIGNED) FROM outbox WHERE sent_at IS NULL AND created_at < NOW(6) - INTERVAL {grace} SECOND"
        ))
        .await?;
    for (service, rows) in [("auth", auth), ("product", product), ("payment", payment.unwrap_or_default())] {
        if rows > 0 {
            found.report("outbox", format!("{rows} rows older than {grace} s unsent"), &[("service", service)]);
        }
    }
    Ok(())
}
