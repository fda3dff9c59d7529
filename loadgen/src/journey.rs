//! The mixed shopper journey, weighted like Online Boutique's load generator (locustfile.py):
//! browse a product 10, view the cart 3, add to cart 2, home page (catalogue list) 1,
//! checkout 1. Each worker is one shopper with a cart of its own, so two calls never race on
//! one cart.
use crate::scenarios::{add_item, checkout_call, get_product, list_products, view_cart, Op, Shared};
use std::sync::Arc;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Browse,
    ViewCart,
    AddToCart,
    Home,
    Checkout,
}

pub const WEIGHTS: [(Step, u64); 5] =
    [(Step::Browse, 10), (Step::ViewCart, 3), (Step::AddToCart, 2), (Step::Home, 1), (Step::Checkout, 1)];

/// SplitMix64: a well-mixed number from (worker, n), so a run's sequence of steps is the same
/// every time without a random-number dependency.
fn mix(worker: usize, n: u64) -> u64 {
    let mut z = (worker as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(n).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

pub fn step(worker: usize, n: u64) -> Step {
    let total: u64 = WEIGHTS.iter().map(|(_, w)| w).sum();
    let mut pick = mix(worker, n) % total;
    for (step, weight) in WEIGHTS {
        if pick < weight {
            return step;
        }
        pick -= weight;
    }
    Step::Browse
}

/// One journey call per `(worker, n)`: the step its weight picks, as the single-endpoint
/// scenarios make it (a browse goes to a product picked by mixing `n` and the worker).
pub fn journey(shared: &Arc<Shared>) -> Op {
    let (browse, home, view_cart) = (get_product(shared), list_products(shared), view_cart(shared));
    let shared = shared.clone();
    Arc::new(move |worker, n| {
        let shared = shared.clone();
        let pick = mix(n as usize, worker as u64);
        match step(worker, n) {
            Step::Browse => browse(worker, pick),
            Step::Home => home(worker, n),
            Step::ViewCart => view_cart(worker, n),
            Step::AddToCart => Box::pin(async move { add_item(&shared, worker, shared.product(pick)).await }),
            Step::Checkout => Box::pin(async move { checkout_call(&shared, worker, n).await }),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_follow_the_online_boutique_weights() {
        let mut counts = [0u64; 5];
        let draws = 170_000u64;
        for n in 0..draws {
            let index = WEIGHTS.iter().position(|(s, _)| *s == step((n % 64) as usize, n / 64)).unwrap_or(0);
            counts[index] += 1;
        }
        for ((step, weight), count) in WEIGHTS.iter().zip(counts) {
            let expected = draws * weight / 17;
            let off = (count as f64 - expected as f64).abs() / expected as f64;
            assert!(off < 0.05, "{step:?}: {count} of {draws}, expected about {expected}");
        }
    }
}
