//! Amounts on the wire: gateways take integers in the currency's smallest
//! unit (cents, but yen for JPY), and lowercase ISO codes. The exponent
//! table follows Stripe's: zero-decimal and three-decimal currencies are
//! listed, every other currency has two decimals.

use rust_decimal::Decimal;

use crate::flights::model::Money;

/// Currencies without a minor unit (Stripe's zero-decimal list).
const ZERO_DECIMAL: &[&str] =
    &["BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"];

/// Currencies with three decimals.
const THREE_DECIMAL: &[&str] = &["BHD", "JOD", "KWD", "OMR", "TND"];

/// Why an amount cannot be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    /// Not a three-letter ISO 4217 code.
    #[error("`{0}` is not an ISO 4217 currency code")]
    Currency(String),
    /// More decimals than the currency has (`10.005 EUR`, `100.5 JPY`):
    /// rounding silently would charge a different amount.
    #[error("{amount} has more decimals than {currency} allows")]
    Precision {
        /// The amount as given.
        amount: Decimal,
        /// Its currency.
        currency: String,
    },
    /// Zero, negative, or too large for the gateway.
    #[error("{0} is not a chargeable amount")]
    Range(Decimal),
}

/// How many decimals `currency` (ISO 4217, any case) has.
pub fn currency_exponent(currency: &str) -> u32 {
    let upper = currency.to_ascii_uppercase();
    if ZERO_DECIMAL.contains(&upper.as_str()) {
        0
    } else if THREE_DECIMAL.contains(&upper.as_str()) {
        3
    } else {
        2
    }
}

/// `money` in minor units: `12.34 EUR` → `1234`, `1500 JPY` → `1500`.
/// Exact or an error, never rounded; the amount must be positive.
pub fn to_minor_units(money: &Money) -> Result<i64, AmountError> {
    if money.currency.len() != 3 || !money.currency.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(AmountError::Currency(money.currency.clone()));
    }
    let scaled = money.amount * Decimal::from(10_i64.pow(currency_exponent(&money.currency)));
    if scaled.fract() != Decimal::ZERO {
        return Err(AmountError::Precision { amount: money.amount, currency: money.currency.clone() });
    }
    // Stripe's largest amount is eight digits for most currencies; refuse
    // anything that could not be an integer amount at all.
    let minor = i64::try_from(scaled).map_err(|_| AmountError::Range(money.amount))?;
    if minor <= 0 || minor > 99_999_999_999 {
        return Err(AmountError::Range(money.amount));
    }
    Ok(minor)
}

/// Minor units back into [`Money`] (currency upper-cased): `1234, "eur"` → `12.34 EUR`.
pub fn from_minor_units(minor: i64, currency: &str) -> Money {
    let amount = Decimal::new(minor, currency_exponent(currency));
    Money { amount, currency: currency.to_ascii_uppercase() }
}

/// The lowercase code gateways want (`eur`).
pub fn wire_currency(money: &Money) -> String {
    money.currency.to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn money(amount: &str, currency: &str) -> Money {
        Money { amount: amount.parse().expect("decimal"), currency: currency.to_owned() }
    }

    #[test]
    fn two_decimal_currencies_scale_by_a_hundred() {
        assert_eq!(to_minor_units(&money("12.34", "EUR")), Ok(1234));
        assert_eq!(to_minor_units(&money("12.3", "USD")), Ok(1230));
        assert_eq!(to_minor_units(&money("0.01", "GBP")), Ok(1));
        assert_eq!(to_minor_units(&money("342.20", "eur")), Ok(34220));
    }

    #[test]
    fn zero_and_three_decimal_currencies_use_their_exponent() {
        assert_eq!(to_minor_units(&money("1500", "JPY")), Ok(1500));
        assert_eq!(to_minor_units(&money("25000", "KRW")), Ok(25000));
        assert_eq!(to_minor_units(&money("1.234", "KWD")), Ok(1234));
        assert_eq!(currency_exponent("jpy"), 0);
    }

    #[test]
    fn amounts_are_never_rounded() {
        assert!(matches!(to_minor_units(&money("10.005", "EUR")), Err(AmountError::Precision { .. })));
        assert!(matches!(to_minor_units(&money("100.5", "JPY")), Err(AmountError::Precision { .. })));
        assert!(matches!(to_minor_units(&money("0", "EUR")), Err(AmountError::Range(_))));
        assert!(matches!(to_minor_units(&money("-5", "EUR")), Err(AmountError::Range(_))));
        assert!(matches!(to_minor_units(&money("5", "EURO")), Err(AmountError::Currency(_))));
        assert!(matches!(to_minor_units(&money("5", "E1R")), Err(AmountError::Currency(_))));
    }

    #[test]
    fn minor_units_round_trip() {
        for (amount, currency) in [("12.34", "EUR"), ("1500", "JPY"), ("1.234", "KWD"), ("0.5", "USD")] {
            let m = money(amount, currency);
            let minor = to_minor_units(&m).expect("valid");
            assert_eq!(from_minor_units(minor, &currency.to_ascii_lowercase()), m, "{amount} {currency}");
        }
        assert_eq!(from_minor_units(1234, "eur").amount.to_string(), "12.34");
        assert_eq!(from_minor_units(1500, "jpy").amount.to_string(), "1500");
    }
}
