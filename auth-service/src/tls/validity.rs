//! When a certificate stops being valid (its `notAfter`), read from its DER: rustls checks
//! validity during handshakes but does not say when a certificate expires, and a whole X.509
//! parser is a lot of code for one field.
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The certificate's `notAfter`, or None when the DER is not a certificate this reader follows.
pub fn not_after(der: &[u8]) -> Option<SystemTime> {
    // Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signature }
    let (certificate, _) = element(der, SEQUENCE)?;
    // TBSCertificate ::= SEQUENCE { [0] version OPTIONAL, serialNumber, signature, issuer,
    //                               validity, ... }
    let (mut tbs, _) = element(certificate, SEQUENCE)?;
    if tbs.first() == Some(&VERSION) {
        tbs = element(tbs, VERSION)?.1;
    }
    let rest = element(tbs, INTEGER)?.1;
    let rest = element(rest, SEQUENCE)?.1;
    let rest = element(rest, SEQUENCE)?.1;
    // Validity ::= SEQUENCE { notBefore Time, notAfter Time }
    let (validity, _) = element(rest, SEQUENCE)?;
    let (&before_tag, _) = validity.split_first()?;
    let after = element(validity, before_tag)?.1;
    match *after.first()? {
        UTC_TIME => time(element(after, UTC_TIME)?.0, false),
        GENERALIZED_TIME => time(element(after, GENERALIZED_TIME)?.0, true),
        _ => None,
    }
}

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const VERSION: u8 = 0xA0;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;

/// The content of the element at the start of `input` if its tag is `tag`, and what follows it.
fn element(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&found, input) = input.split_first()?;
    if found != tag {
        return None;
    }
    let (&first, mut input) = input.split_first()?;
    let length = if first < 0x80 {
        usize::from(first)
    } else {
        let count = usize::from(first & 0x7F);
        if count == 0 || count > 4 {
            return None;
        }
        let (bytes, rest) = input.split_at_checked(count)?;
        input = rest;
        bytes.iter().fold(0usize, |length, byte| (length << 8) | usize::from(*byte))
    };
    input.split_at_checked(length)
}

/// `YYMMDDHHMMSSZ` (UTCTime; 50-99 are 19xx) or `YYYYMMDDHHMMSSZ` (GeneralizedTime), as X.509
/// writes them (RFC 5280 4.1.2.5: always UTC, always with seconds).
fn time(text: &[u8], four_digit_year: bool) -> Option<SystemTime> {
    let text = std::str::from_utf8(text).ok()?.strip_suffix('Z')?;
    let (year, rest) = if four_digit_year {
        (text.get(..4)?.parse::<i32>().ok()?, text.get(4..)?)
    } else {
        let year = text.get(..2)?.parse::<i32>().ok()?;
        (if year >= 50 { 1900 + year } else { 2000 + year }, text.get(2..)?)
    };
    if rest.len() != 10 || !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let field = |at: usize| rest.get(at..at + 2).and_then(|f| f.parse::<u32>().ok());
    let (month, day, hour, minute, second) = (field(0)?, field(2)?, field(4)?, field(6)?, field(8)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let days = days_from_civil(i64::from(year), month, day);
    let seconds = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second);
    // Before 1970: long expired, which the epoch says as well.
    Some(UNIX_EPOCH + Duration::from_secs(u64::try_from(seconds).unwrap_or(0)))
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, KeyPair};

    fn certificate_until(year: i32, month: u8, day: u8) -> Vec<u8> {
        let mut params = CertificateParams::new(vec!["product-service".to_owned()]).unwrap();
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(year, month, day);
        params.self_signed(&KeyPair::generate().unwrap()).unwrap().der().to_vec()
    }

    fn unix(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(seconds)
    }

    #[test]
    fn not_after_is_read_in_both_time_encodings() {
        // Up to 2049 X.509 writes UTCTime; from 2050, GeneralizedTime.
        assert_eq!(not_after(&certificate_until(2027, 3, 7)), Some(unix(1_804_377_600)));
        assert_eq!(not_after(&certificate_until(2051, 1, 1)), Some(unix(2_556_144_000)));
    }

    #[test]
    fn dates_are_counted_as_the_calendar_does() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 2, 29), 11_016);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(2100, 3, 1) - days_from_civil(2100, 2, 28), 1, "2100 is no leap year");
        assert_eq!(time(b"491231235959Z", false), Some(unix(2_524_607_999)), "UTCTime 49 is 2049");
        assert_eq!(time(b"500101000000Z", false), Some(UNIX_EPOCH), "UTCTime 50 is 1950: before the epoch");
        assert_eq!(time(b"20271301000000Z", true), None, "month 13");
    }

    #[test]
    fn what_is_not_a_certificate_has_no_expiry() {
        let der = certificate_until(2027, 3, 7);
        for cut in [0, 1, 2, 10, 40, der.len() / 2] {
            assert_eq!(not_after(&der[..cut]), None, "cut at {cut}");
        }
        assert_eq!(not_after(b"not DER at all"), None);
        assert_eq!(not_after(&[0x30, 0x84, 0xFF, 0xFF, 0xFF, 0xFF]), None);
    }
}
