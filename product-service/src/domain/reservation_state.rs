//! A reservation's state. Only `Reserved` changes: to `Committed` (a sale), `Released` (given
//! back) or `Expired` (never paid in time), each final.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReservationState {
    Reserved,
    Committed,
    Released,
    Expired,
}

impl ReservationState {
    /// The name the column, the events' `reason` and error messages use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reserved => "reserved",
            Self::Committed => "committed",
            Self::Released => "released",
            Self::Expired => "expired",
        }
    }

    /// The state `name` names; `None` for any other text (the column's CHECK lets none in).
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Reserved, Self::Committed, Self::Released, Self::Expired].into_iter().find(|s| s.as_str() == name)
    }
}

impl std::fmt::Display for ReservationState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::ReservationState;

    #[test]
    fn every_state_reads_back_from_its_name_and_nothing_else_does() {
        for state in [
            ReservationState::Reserved,
            ReservationState::Committed,
            ReservationState::Released,
            ReservationState::Expired,
        ] {
            assert_eq!(ReservationState::parse(state.as_str()), Some(state));
        }
        assert_eq!(ReservationState::parse("Reserved"), None);
        assert_eq!(ReservationState::parse(""), None);
    }
}
