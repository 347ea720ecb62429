//! The card-number guard: Wayfarer never takes raw card numbers (PCI DSS
//! scope), only the gateway's payment-method tokens. The contract refuses
//! anything that *looks* like a card number, so the check is on shape alone:
//! no Luhn test, because a mistyped real number fails Luhn and must still be
//! refused (and never logged or stored).

/// Fewest and most digits of a card number (ISO/IEC 7812 PANs).
const DIGITS: std::ops::RangeInclusive<usize> = 13..=19;

/// Whether `s` (trimmed) is 13–19 digits, optionally grouped by spaces or
/// dashes: `4242 4242 4242 4242`, `4242-4242-4242-4242`, `4000000000000002`.
///
/// A leading `+` makes it a phone number (`+351912345678`), not a card. A
/// bare 13–15 digit phone number written without `+` (`4915112345678`)
/// *is* refused: it has the shape of a card number, and a payment-method
/// field has no business holding a phone number either.
pub fn looks_like_card_number(s: &str) -> bool {
    let s = s.trim();
    let starts_and_ends_with_digit =
        s.bytes().next().is_some_and(|b| b.is_ascii_digit()) && s.bytes().last().is_some_and(|b| b.is_ascii_digit());
    if !starts_and_ends_with_digit || !s.bytes().all(|b| b.is_ascii_digit() || b == b' ' || b == b'-') {
        return false;
    }
    DIGITS.contains(&s.bytes().filter(u8::is_ascii_digit).count())
}

/// Whether free text (a chat message, a note) holds something that looks
/// like a card number anywhere in it: a run of digits, spaces and dashes
/// that passes [`looks_like_card_number`]. A run glued to letters or `+`
/// (`ref4242424242424242`, `+351…`) still counts when its digits alone
/// have the shape; only the `+` prefix right before the run exempts it.
pub fn contains_card_number(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut start = 0;
    while start < bytes.len() {
        if !bytes[start].is_ascii_digit() {
            start += 1;
            continue;
        }
        let mut end = start;
        while end < bytes.len() && (bytes[end].is_ascii_digit() || bytes[end] == b' ' || bytes[end] == b'-') {
            end += 1;
        }
        let phone = start > 0 && bytes[start - 1] == b'+';
        // The run is ASCII, so these are char boundaries.
        if !phone && text.get(start..end).is_some_and(looks_like_card_number) {
            return true;
        }
        start = end;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grouped_and_plain_card_numbers_are_recognised() {
        for s in [
            "4242 4242 4242 4242",
            "4242-4242-4242-4242",
            "4242424242424242",
            " 4000000000000002 ",
            "378282246310005",       // 15-digit Amex
            "4222222222222",         // 13 digits
            "6011000990139424123",   // 19 digits
            "4242 - 4242 4242-4242", // mixed separators
            "4242424242424241",      // fails Luhn: refused all the same
        ] {
            assert!(looks_like_card_number(s), "{s:?}");
        }
    }

    #[test]
    fn other_values_are_not_card_numbers() {
        for s in [
            "",
            "pm_card_visa",
            "424242424242",         // 12 digits
            "42424242424242424242", // 20 digits
            "4242 4242 4242 424a",
            "+351912345678",
            "+44 20 7183 8750 123",
            "-4242424242424242",
            "4242424242424242-",
            "4242.4242.4242.4242",
        ] {
            assert!(!looks_like_card_number(s), "{s:?}");
        }
    }

    #[test]
    fn a_thirteen_digit_phone_number_without_plus_is_refused() {
        assert!(looks_like_card_number("4915112345678"));
    }

    #[test]
    fn card_numbers_are_found_inside_text() {
        assert!(contains_card_number("pay with 4242 4242 4242 4242 please"));
        assert!(contains_card_number("card:4000-0000-0000-0002."));
        assert!(!contains_card_number("call me on +351912345678 or +4915112345678"));
        assert!(!contains_card_number("booking WF-2024-0001 for 2 adults on 2025-03-01"));
        assert!(!contains_card_number("pm_card_visa"));
    }
}
