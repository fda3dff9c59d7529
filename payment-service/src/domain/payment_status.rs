//! A payment's status. It moves only forward: `Pending` → `Succeeded` | `Failed`, and
//! `Succeeded` → `PartiallyRefunded` → `Refunded`.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentStatus {
    /// The gateway has not answered yet (or timed out); the reconciler settles it.
    Pending,
    Succeeded,
    Failed,
    PartiallyRefunded,
    Refunded,
}

impl PaymentStatus {
    /// The name the column and error messages use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::PartiallyRefunded => "partially_refunded",
            Self::Refunded => "refunded",
        }
    }

    /// The status `name` names; `None` for any other text.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Pending, Self::Succeeded, Self::Failed, Self::PartiallyRefunded, Self::Refunded]
            .into_iter()
            .find(|s| s.as_str() == name)
    }

    /// Whether money was taken and some of it is still the shop's: what a refund can come from.
    pub fn holds_money(self) -> bool {
        match self {
            Self::Succeeded | Self::PartiallyRefunded => true,
            Self::Pending | Self::Failed | Self::Refunded => false,
        }
    }
}

impl std::fmt::Display for PaymentStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::PaymentStatus;

    #[test]
    fn every_status_reads_back_from_its_name_and_nothing_else_does() {
        for status in [
            PaymentStatus::Pending,
            PaymentStatus::Succeeded,
            PaymentStatus::Failed,
            PaymentStatus::PartiallyRefunded,
            PaymentStatus::Refunded,
        ] {
            assert_eq!(PaymentStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(PaymentStatus::parse("SUCCEEDED"), None);
    }
}
