//! The Redis cart store against the real Redis: merging, limits, the product index kept in
//! step with the carts, and versioned event updates.
use crate::helpers::spawn_app;
use cart_service::{
    proto::shop::common::v1::Money,
    store::{Added, Snapshot, MAX_LINES},
};

fn snapshot(product_id: &str, version: i64) -> Snapshot {
    Snapshot {
        product_id: product_id.to_owned(),
        name: format!("Mug v{version}"),
        unit_price: Money { amount_minor: 1250, currency: "EUR".to_owned() },
        available: true,
        version,
    }
}

fn product() -> String {
    uuid::Uuid::now_v7().to_string()
}

#[tokio::test]
async fn adding_merges_quantities_up_to_99_and_a_cart_holds_at_most_100_lines() {
    let app = spawn_app().await;
    let store = app.store();
    let user = uuid::Uuid::now_v7().to_string();
    let mug = product();
    assert!(matches!(store.add(&user, &snapshot(&mug, 1), 40).await.unwrap(), Added::Quantity(40)));
    assert!(matches!(store.add(&user, &snapshot(&mug, 1), 59).await.unwrap(), Added::Quantity(99)));
    assert!(matches!(store.add(&user, &snapshot(&mug, 1), 1).await.unwrap(), Added::TooMany));
    let lines = store.lines(&user).await.unwrap();
    assert_eq!((lines.len(), lines[0].quantity, lines[0].name.as_str()), (1, 99, "Mug v1"));

    for _ in 1..MAX_LINES {
        assert!(matches!(store.add(&user, &snapshot(&product(), 1), 1).await.unwrap(), Added::Quantity(1)));
    }
    assert!(matches!(store.add(&user, &snapshot(&product(), 1), 1).await.unwrap(), Added::CartFull));
    assert_eq!(store.lines(&user).await.unwrap().len(), MAX_LINES);
    // A line already there may still grow.
    assert!(store.set_quantity(&user, &mug, 5).await.unwrap());
    store.clear(&user).await.unwrap();
    assert!(store.lines(&user).await.unwrap().is_empty());
}

/// The proxy repeats an add whose answer a dying replica never sent: with its Idempotency-Key
/// the repeat adds nothing more, and the key cannot be spent on another line.
#[tokio::test]
async fn a_keyed_add_repeated_adds_once_and_its_key_is_not_reused_for_another_line() {
    let app = spawn_app().await;
    let store = app.store();
    let (alice, bob) = (uuid::Uuid::now_v7().to_string(), uuid::Uuid::now_v7().to_string());
    let (mug, cup) = (product(), product());
    let keyed = &store;
    let once = |user: &str, pid: &str, quantity| {
        let (user, snapshot) = (user.to_owned(), snapshot(pid, 1));
        async move { keyed.add_once(&user, &snapshot, quantity, Some("add-1")).await.unwrap() }
    };
    assert!(matches!(once(&alice, &mug, 2).await, Added::Quantity(2)));
    assert!(matches!(once(&alice, &mug, 2).await, Added::Repeated));
    assert!(matches!(once(&alice, &mug, 3).await, Added::KeyReused));
    assert!(matches!(once(&alice, &cup, 2).await, Added::KeyReused));
    let lines = store.lines(&alice).await.unwrap();
    assert_eq!((lines.len(), lines[0].quantity), (1, 2), "one line of 2: {lines:?}");
    // Keys are per shopper, and an add without a key always adds.
    assert!(matches!(once(&bob, &mug, 1).await, Added::Quantity(1)));
    assert!(matches!(store.add(&alice, &snapshot(&mug, 1), 2).await.unwrap(), Added::Quantity(4)));
}

#[tokio::test]
async fn product_events_reach_every_cart_holding_the_product_and_stale_ones_change_nothing() {
    let app = spawn_app().await;
    let store = app.store();
    let (alice, bob, carol) =
        (uuid::Uuid::now_v7().to_string(), uuid::Uuid::now_v7().to_string(), uuid::Uuid::now_v7().to_string());
    let mug = product();
    store.add(&alice, &snapshot(&mug, 3), 1).await.unwrap();
    store.add(&bob, &snapshot(&mug, 3), 2).await.unwrap();
    store.add(&carol, &snapshot(&mug, 3), 1).await.unwrap();
    assert!(store.remove(&carol, &mug).await.unwrap());

    assert_eq!(store.mark(&mug, Some(false), None, 4).await.unwrap(), 2, "alice and bob, not carol");
    for user in [&alice, &bob] {
        assert!(!store.lines(user).await.unwrap()[0].available);
    }
    // An older event arriving late is ignored.
    assert_eq!(store.mark(&mug, Some(true), None, 2).await.unwrap(), 0);
    assert!(!store.lines(&alice).await.unwrap()[0].available);
    let renamed = Snapshot { name: "Tin mug".to_owned(), ..snapshot(&mug, 5) };
    assert_eq!(store.mark(&mug, Some(true), Some(&renamed), 5).await.unwrap(), 2);
    let line = &store.lines(&bob).await.unwrap()[0];
    assert_eq!((line.name.as_str(), line.available, line.quantity, line.version), ("Tin mug", true, 2, 5));
    // Adding again with an older snapshot keeps the newer one the events brought.
    store.add(&bob, &snapshot(&mug, 4), 1).await.unwrap();
    let line = &store.lines(&bob).await.unwrap()[0];
    assert_eq!((line.name.as_str(), line.quantity), ("Tin mug", 3));
}

#[tokio::test]
async fn settling_a_sale_takes_only_the_bought_units_and_only_once() {
    // Finding 8 of "Checkout money invariants": settling deleted whole lines, so units added
    // while the checkout ran were lost with them.
    let app = spawn_app().await;
    let store = app.store();
    let user = uuid::Uuid::now_v7().to_string();
    let (mug, cup) = (product(), product());
    store.add(&user, &snapshot(&mug, 1), 2).await.unwrap();
    store.add(&user, &snapshot(&cup, 1), 1).await.unwrap();
    // The checkout reserved 2 mugs and the cup; meanwhile the shopper adds a third mug.
    store.add(&user, &snapshot(&mug, 1), 1).await.unwrap();
    let bought = [(mug.clone(), 2), (cup.clone(), 1)];
    let checkout = uuid::Uuid::now_v7().to_string();
    store.settle(&user, &checkout, &bought).await.unwrap();
    let lines = store.lines(&user).await.unwrap();
    assert_eq!(lines.iter().map(|l| (l.product_id.clone(), l.quantity)).collect::<Vec<_>>(), [(mug.clone(), 1)]);
    // The consumer of PaymentSucceeded settles the same checkout again: nothing changes.
    store.settle(&user, &checkout, &bought).await.unwrap();
    assert_eq!(store.lines(&user).await.unwrap()[0].quantity, 1);
    // The cup's line left the product index too: a cup event reaches no cart.
    assert_eq!(store.mark(&cup, Some(false), None, 5).await.unwrap(), 0);
}

/// The settling script's edges: a product bought on two lines is taken twice over, more than is
/// held takes the line, an empty or missing cart is marked settled all the same, and no lines at
/// all only marks.
#[tokio::test]
async fn settling_takes_repeated_lines_in_turn_and_marks_a_cart_that_holds_nothing() {
    let app = spawn_app().await;
    let store = app.store();
    let user = uuid::Uuid::now_v7().to_string();
    let (mug, cup) = (product(), product());
    store.add(&user, &snapshot(&mug, 1), 5).await.unwrap();
    store.add(&user, &snapshot(&cup, 1), 1).await.unwrap();
    let checkout = uuid::Uuid::now_v7().to_string();
    store.settle(&user, &checkout, &[(mug.clone(), 2), (mug.clone(), 2), (cup.clone(), 7)]).await.unwrap();
    let lines = store.lines(&user).await.unwrap();
    assert_eq!(lines.iter().map(|l| (l.product_id.clone(), l.quantity)).collect::<Vec<_>>(), [(mug.clone(), 1)]);
    assert!(store.is_settled(&checkout).await.unwrap());
    // The cup's line left the product index with it.
    assert_eq!(store.mark(&cup, Some(false), None, 5).await.unwrap(), 0);

    let (nobody, unlined) = (uuid::Uuid::now_v7().to_string(), uuid::Uuid::now_v7().to_string());
    store.settle(&nobody, &unlined, &[(mug.clone(), 1)]).await.unwrap();
    assert!(store.is_settled(&unlined).await.unwrap());
    assert!(store.lines(&nobody).await.unwrap().is_empty());
    let bare = uuid::Uuid::now_v7().to_string();
    assert!(!store.is_settled(&bare).await.unwrap());
    store.settle(&user, &bare, &[]).await.unwrap();
    assert!(store.is_settled(&bare).await.unwrap());
    assert_eq!(store.lines(&user).await.unwrap()[0].quantity, 1);
}
