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

/// Whether a digit string passes the Luhn check every real card number passes.
pub fn luhn_valid(digits: &str) -> bool {
    let mut sum = 0u32;
    for (i, b) in digits.bytes().rev().enumerate() {
        let Some(d) = (b as char).to_digit(10) else {
            return false;
        };
        sum += if i % 2 == 1 {
            let doubled = d * 2;
            if doubled > 9 { doubled - 9 } else { doubled }
        } else {
            d
        };
    }
    !digits.is_empty() && sum.is_multiple_of(10)
}

/// Free text with every card number in it replaced by `[card ending NNNN]`:
/// what the chat stores, caches, logs and sends to an extractor instead of
/// the traveller's words. A card number here is a run of 13–19 digits
/// (spaces or dashes between) that passes Luhn — every real card does.
/// Unlike the payment-method guard, free text needs Luhn: a date range or a
/// reference written as digits is shaped like a card far more often than a
/// mistyped card is typed into a chat, and replacing those would change
/// what the traveller asked for.
pub fn redact_card_numbers(text: &str) -> std::borrow::Cow<'_, str> {
    let bytes = text.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
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
        // The run is ASCII, so these are char boundaries.
        let run = text.get(start..end).unwrap_or("").trim_end_matches([' ', '-']);
        let digits: String = run.chars().filter(char::is_ascii_digit).collect();
        let phone = start > 0 && bytes[start - 1] == b'+';
        if !phone && DIGITS.contains(&digits.len()) && luhn_valid(&digits) {
            let buffer = out.get_or_insert_with(|| String::with_capacity(text.len()));
            buffer.push_str(&text[copied..start]);
            buffer.push_str("[card ending ");
            buffer.push_str(&digits[digits.len() - 4..]);
            buffer.push(']');
            copied = start + run.len();
        }
        start = end;
    }
    match out {
        Some(mut buffer) => {
            buffer.push_str(&text[copied..]);
            std::borrow::Cow::Owned(buffer)
        }
        None => std::borrow::Cow::Borrowed(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_numbers_in_free_text_are_redacted_to_their_last_four() {
        assert_eq!(
            redact_card_numbers("my card is 4242 4242 4242 4242, exp 12/30"),
            "my card is [card ending 4242], exp 12/30"
        );
        assert_eq!(
            redact_card_numbers("4000-0000-0000-0002 and 378282246310005"),
            "[card ending 0002] and [card ending 0005]"
        );
        for kept in [
            "two adults from LIS to NRT on 2026-03-01",
            "4242424242424241 fails Luhn",
            "call +4915112345678",
            "ref 424242424242",
        ] {
            assert_eq!(redact_card_numbers(kept), kept);
        }
        assert!(luhn_valid("4242424242424242") && !luhn_valid("4242424242424241") && !luhn_valid(""));
    }

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
