use std::fmt;

/// An e-mail address, trimmed, with its domain lower-cased. The local part keeps its case
/// (RFC 5321 lets a mail server honour it), but uniqueness ignores case: see `key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

/// Why an e-mail address was refused.
#[derive(Debug, PartialEq, Eq)]
pub struct InvalidEmail(pub &'static str);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, InvalidEmail> {
        let trimmed = raw.trim();
        if trimmed.len() > 254 {
            return Err(InvalidEmail("is longer than 254 characters"));
        }
        let Some((local, domain)) = trimmed.rsplit_once('@') else {
            return Err(InvalidEmail("has no @"));
        };
        if local.is_empty() || local.len() > 64 {
            return Err(InvalidEmail("needs 1 to 64 characters before the @"));
        }
        if local.contains('@') {
            return Err(InvalidEmail("has more than one @"));
        }
        let domain_ok = domain.len() >= 3
            && domain.contains('.')
            && domain.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        if !domain_ok {
            return Err(InvalidEmail("has no valid domain after the @"));
        }
        if local.chars().any(|c| c.is_whitespace() || c.is_control() || "\"(),:;<>[\\]".contains(c)) {
            return Err(InvalidEmail("has a character not allowed before the @"));
        }
        Ok(Self(format!("{local}@{}", domain.to_lowercase())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The case-insensitive identity of the address: what uniqueness and throttling use.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn trims_and_lower_cases_the_domain_only() {
        assert_eq!(Email::parse("  Ada.Lovelace@Example.COM ").unwrap().as_str(), "Ada.Lovelace@example.com");
        assert_eq!(Email::parse("Ada@Example.com").unwrap().key(), "ada@example.com");
    }

    #[test]
    fn refuses_malformed_addresses() {
        for bad in ["", "plain", "@example.com", "a@", "a@b", "a@@b.com", "a b@example.com", "a@-x.com", "a@x..com"] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(Email::parse(&format!("{}@example.com", "a".repeat(65))).is_err());
    }

    proptest! {
        #[test]
        fn well_formed_addresses_round_trip(local in "[a-zA-Z0-9._%+-]{1,64}", domain in "[a-z0-9]{1,20}\\.[a-z]{2,6}") {
            let email = Email::parse(&format!(" {local}@{domain} ")).unwrap();
            prop_assert_eq!(email.as_str(), format!("{local}@{domain}"));
            prop_assert_eq!(Email::parse(email.as_str()).unwrap(), email);
        }

        #[test]
        fn parsing_never_panics(raw in "\\PC{0,300}") {
            let _ = Email::parse(&raw);
        }
    }
}
