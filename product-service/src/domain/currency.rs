//! ISO 4217 currency codes. Prices are refused in a currency that does not exist: a typo such
//! as `EUO` would otherwise create products nobody can pay for.

/// The active alphabetic codes of ISO 4217 (the 2024 list, without funds and precious metals).
const ISO_4217: &[&str] = &[
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT", "BGN", "BHD", "BIF",
    "BMD", "BND", "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF", "CHF", "CLP", "CNY", "COP", "CRC",
    "CUP", "CVE", "CZK", "DJF", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS",
    "GIP", "GMD", "GNF", "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IQD", "IRR", "ISK", "JMD",
    "JOD", "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL",
    "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR", "MWK", "MXN", "MYR", "MZN", "NAD",
    "NGN", "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD",
    "RUB", "RWF", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "SSP", "STN", "SVC", "SYP",
    "SZL", "THB", "TJS", "TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "UYU", "UZS", "VED",
    "VES", "VND", "VUV", "WST", "XAF", "XCD", "XCG", "XOF", "XPF", "YER", "ZAR", "ZMW", "ZWG",
];

/// Whether `code` is an ISO 4217 currency code (upper case, as the standard writes them).
pub fn is_known(code: &str) -> bool {
    ISO_4217.binary_search(&code).is_ok()
}

/// ISO 4217's minor-unit digits for the currencies that do not have two (their amounts in minor
/// units are whole yen, or thousandths of a dinar).
const NO_MINOR_UNIT: &[&str] =
    &["BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"];
const THREE_DIGITS: &[&str] = &["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"];

/// How many digits `code`'s minor unit has: 2 for most, 0 for JPY and the like, 3 for the
/// dinars (ISO 4217).
pub fn minor_unit_digits(code: &str) -> u32 {
    if NO_MINOR_UNIT.contains(&code) {
        0
    } else if THREE_DIGITS.contains(&code) {
        3
    } else {
        2
    }
}

/// An amount in minor units as the decimal string gateways take (`1999` USD is `"19.99"`,
/// `500` JPY is `"500"`); never through a float.
pub fn decimal(amount_minor: i64, code: &str) -> String {
    let digits = minor_unit_digits(code);
    if digits == 0 {
        return amount_minor.to_string();
    }
    let scale = 10_u64.pow(digits);
    let magnitude = amount_minor.unsigned_abs();
    let sign = if amount_minor < 0 { "-" } else { "" };
    format!("{sign}{}.{:0width$}", magnitude / scale, magnitude % scale, width = digits as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_written_with_their_currencys_digits() {
        assert_eq!(decimal(1999, "USD"), "19.99");
        assert_eq!(decimal(5, "EUR"), "0.05");
        assert_eq!(decimal(500, "JPY"), "500");
        assert_eq!(decimal(1234, "KWD"), "1.234");
        assert_eq!(decimal(-150, "USD"), "-1.50");
        assert_eq!(decimal(i64::MIN, "USD"), "-92233720368547758.08");
    }

    #[test]
    fn the_digit_lists_name_only_known_currencies() {
        assert!(NO_MINOR_UNIT.iter().chain(THREE_DIGITS).all(|code| is_known(code)));
    }

    #[test]
    fn the_list_is_sorted_so_the_binary_search_finds_every_code() {
        assert!(ISO_4217.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn real_codes_pass_and_typos_do_not() {
        for code in ["EUR", "USD", "JPY", "GBP", "CHF"] {
            assert!(is_known(code), "{code}");
        }
        for code in ["EUO", "eur", "XXX", "", "EURO", "US"] {
            assert!(!is_known(code), "{code}");
        }
    }
}
