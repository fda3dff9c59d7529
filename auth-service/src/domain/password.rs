use super::Email;
use secrecy::{ExposeSecret, SecretString};

/// A password that satisfies the policy: 8 to 128 characters, not the e-mail address.
/// Held as a secret so it cannot be logged by accident.
#[derive(Debug)]
pub struct Password(SecretString);

#[derive(Debug, PartialEq, Eq)]
pub struct InvalidPassword(pub &'static str);

pub const MIN_LEN: usize = 8;
pub const MAX_LEN: usize = 128;

impl Password {
    pub fn parse(raw: String, email: &Email) -> Result<Self, InvalidPassword> {
        let length = raw.chars().count();
        if length < MIN_LEN {
            return Err(InvalidPassword("must be at least 8 characters"));
        }
        if length > MAX_LEN {
            return Err(InvalidPassword("must be at most 128 characters"));
        }
        if raw.trim().to_lowercase() == email.key() {
            return Err(InvalidPassword("must not be the e-mail address"));
        }
        Ok(Self(SecretString::from(raw)))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email() -> Email {
        Email::parse("ada@example.com").unwrap()
    }

    #[test]
    fn enforces_the_length_bounds_in_characters() {
        assert!(Password::parse("short".into(), &email()).is_err());
        assert!(Password::parse("éééééééé".into(), &email()).is_ok());
        assert!(Password::parse("x".repeat(128), &email()).is_ok());
        assert!(Password::parse("x".repeat(129), &email()).is_err());
    }

    #[test]
    fn refuses_the_email_address_in_any_case() {
        assert_eq!(
            Password::parse("ADA@example.com".into(), &email()).unwrap_err().0,
            "must not be the e-mail address"
        );
    }

    #[test]
    fn debug_output_hides_the_password() {
        let password = Password::parse("correct horse".into(), &email()).unwrap();
        assert!(!format!("{password:?}").contains("horse"));
    }
}
