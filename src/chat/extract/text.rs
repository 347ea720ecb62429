//! A message cut into tokens the extractors read: words (folded to lower-case
//! ASCII, so "Mañana", "manana" and "MAÑANA" look alike), numbers with their
//! ordinal suffix ("20th", "1er", "27."), whole numeric dates ("2026-12-20",
//! "20/12", "20.12.2026") and the punctuation that carries meaning (",", "?",
//! "-", "→", currency signs). Control characters are dropped first and the
//! length is capped, so no input can make the extractor slow or panic.

/// At most this many characters of a message are read.
const MAX_CHARS: usize = 2000;
/// At most this many tokens are kept.
const MAX_TOKENS: usize = 300;

/// What a token is.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    /// Letters (possibly with digits inside: "2moro", "a320").
    Word,
    /// Digits, with a letter suffix when there was one (`"th"`, `"er"`, `"o"`).
    Number {
        /// The value (saturating).
        value: u32,
        /// Folded letters right after the digits.
        suffix: String,
    },
    /// `2026-12-20`.
    IsoDate {
        /// Year.
        year: i32,
        /// Month.
        month: u32,
        /// Day.
        day: u32,
    },
    /// `12/20`, `20.12.`, `20/12/2026`: two numbers in an order the locale decides.
    NumericDate {
        /// First number.
        first: u32,
        /// Second number.
        second: u32,
        /// Year, when written (two digits become 20xx).
        year: Option<i32>,
    },
    /// A punctuation mark that matters (`,` `?` `!` `.` `-` `→` `/` `$` `€` `£` `#` `+` `&`).
    Punct(char),
}

/// One token.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    /// The text as written.
    pub(crate) raw: String,
    /// Folded: lower-case ASCII letters and digits (punctuation: the mark).
    pub(crate) norm: String,
    /// What it is.
    pub(crate) kind: Kind,
    /// Written in capitals ("LHR", "JFK"), at least two letters.
    pub(crate) upper: bool,
    /// Starts with a capital letter ("Nice").
    pub(crate) capital: bool,
}

impl Token {
    /// Whether this is a word token whose folded form is `word`.
    pub(crate) fn is(&self, word: &str) -> bool {
        self.kind == Kind::Word && self.norm == word
    }

    /// Whether this is a word.
    pub(crate) fn is_word(&self) -> bool {
        self.kind == Kind::Word
    }

    /// Whether this is the punctuation mark `c`.
    pub(crate) fn is_punct(&self, c: char) -> bool {
        self.kind == Kind::Punct(c)
    }

    /// A plain number's value (no suffix, or the German ordinal dot handled by the caller).
    pub(crate) fn number(&self) -> Option<u32> {
        match &self.kind {
            Kind::Number { value, suffix } if suffix.is_empty() => Some(*value),
            _ => None,
        }
    }
}

/// The text without control characters, cut to [`MAX_CHARS`].
pub(crate) fn clean(text: &str) -> String {
    text.chars().take(MAX_CHARS).map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// Letters the extractor reads: Latin scripts only, so other scripts and
/// emoji fall out as separators instead of being transliterated into words.
fn is_letter(c: char) -> bool {
    c.is_alphabetic() && ((c as u32) < 0x250 || (0x1E00..0x1F00).contains(&(c as u32)))
}

fn fold_word(word: &str) -> String {
    deunicode::deunicode(word).chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_lowercase()).collect()
}

fn punct(c: char) -> Option<char> {
    match c {
        ',' | '?' | '!' | '.' | '-' | '/' | '$' | '€' | '£' | '#' | '+' | '&' | ':' | ';' => Some(c),
        '–' | '—' | '‐' | '−' => Some('-'),
        '→' | '⇒' | '➡' | '➔' | '⟶' | '>' => Some('→'),
        '¿' | '¡' => None,
        _ => None,
    }
}

fn parse_u32(digits: &str) -> u32 {
    digits.bytes().fold(0u32, |acc, b| acc.saturating_mul(10).saturating_add(u32::from(b - b'0')))
}

/// `2026-12-20` (also with `/` or `.`).
fn iso_date(core: &str) -> Option<Kind> {
    let parts: Vec<&str> = core.split(['-', '/', '.']).collect();
    let [y, m, d] = parts.as_slice() else { return None };
    if y.len() != 4 || !(1..=2).contains(&m.len()) || !(1..=2).contains(&d.len()) {
        return None;
    }
    if ![y, m, d].iter().all(|p| p.bytes().all(|b| b.is_ascii_digit())) {
        return None;
    }
    Some(Kind::IsoDate { year: parse_u32(y) as i32, month: parse_u32(m), day: parse_u32(d) })
}

/// `12/20`, `20.12.`, `20/12/2026`, `20-12-2026`, `20.12.26`.
fn numeric_date(core: &str) -> Option<Kind> {
    let trimmed = core.strip_suffix('.').unwrap_or(core);
    let separator = trimmed.chars().find(|c| matches!(c, '/' | '.' | '-'))?;
    let parts: Vec<&str> = trimmed.split(separator).collect();
    if !parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())) {
        return None;
    }
    match parts.as_slice() {
        [a, b] if separator != '-' && a.len() <= 2 && b.len() <= 2 => {
            Some(Kind::NumericDate { first: parse_u32(a), second: parse_u32(b), year: None })
        }
        [a, b, y] if a.len() <= 2 && b.len() <= 2 && (y.len() == 2 || y.len() == 4) => {
            let year = parse_u32(y) as i32;
            let year = if y.len() == 2 { 2000 + year } else { year };
            Some(Kind::NumericDate { first: parse_u32(a), second: parse_u32(b), year: Some(year) })
        }
        _ => None,
    }
}

/// Words that start with a digit but are words ("2moro").
const DIGIT_WORDS: [&str; 5] = ["2moro", "2morrow", "2morow", "2day", "2nite"];

fn push_run(tokens: &mut Vec<Token>, run: &str) {
    if run.is_empty() {
        return;
    }
    let norm = fold_word(run);
    if norm.is_empty() {
        return;
    }
    let digits: String = run.chars().take_while(char::is_ascii_digit).collect();
    let letters = run.chars().filter(|c| is_letter(*c)).count();
    let upper = letters >= 2 && run.chars().filter(|c| is_letter(*c)).all(char::is_uppercase);
    if !digits.is_empty() && !DIGIT_WORDS.contains(&norm.as_str()) {
        let rest = &run[digits.len()..];
        if rest.chars().all(is_letter) {
            let suffix = fold_word(rest);
            tokens.push(Token {
                raw: run.to_owned(),
                norm: digits.clone(),
                kind: Kind::Number { value: parse_u32(&digits), suffix },
                upper: false,
                capital: false,
            });
            return;
        }
    }
    let capital = run.chars().next().is_some_and(char::is_uppercase);
    tokens.push(Token { raw: run.to_owned(), norm, kind: Kind::Word, upper, capital });
}

/// The tokens of `text` (already [`clean`]ed or not: control characters are
/// separators either way).
pub(crate) fn tokenize(text: &str) -> Vec<Token> {
    let text = clean(text);
    let mut tokens = Vec::new();
    for chunk in text.split_whitespace() {
        if tokens.len() >= MAX_TOKENS {
            break;
        }
        let core =
            chunk.trim_matches(|c: char| matches!(c, ',' | ';' | '!' | '?' | '(' | ')' | '"' | '\'' | '¿' | '¡'));
        let core_no_dot = core.strip_suffix('.').unwrap_or(core);
        if let Some(kind) = iso_date(core_no_dot).or_else(|| numeric_date(core)) {
            tokens.push(Token { raw: core.to_owned(), norm: core.to_owned(), kind, upper: false, capital: false });
            if let Some(end) = chunk.chars().last().and_then(punct).filter(|c| *c != '.' && !core.ends_with(*c)) {
                tokens.push(Token {
                    raw: end.to_string(),
                    norm: end.to_string(),
                    kind: Kind::Punct(end),
                    upper: false,
                    capital: false,
                });
            }
            continue;
        }
        scan_chunk(chunk, &mut tokens);
    }
    tokens.truncate(MAX_TOKENS);
    tokens
}

fn scan_chunk(chunk: &str, tokens: &mut Vec<Token>) {
    let chars: Vec<char> = chunk.chars().collect();
    let mut run = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if is_letter(c) || c.is_ascii_digit() {
            run.push(c);
            i += 1;
            continue;
        }
        // A thousands separator inside a number: "1.000", "1,500".
        if matches!(c, '.' | ',')
            && !run.is_empty()
            && run.chars().all(|d| d.is_ascii_digit())
            && chars.get(i + 1..i + 4).is_some_and(|next| next.iter().all(char::is_ascii_digit))
            && !chars.get(i + 4).is_some_and(char::is_ascii_digit)
        {
            run.extend(&chars[i + 1..i + 4]);
            i += 4;
            continue;
        }
        push_run(tokens, &std::mem::take(&mut run));
        // "->" and "=>" are arrows.
        let mark = if matches!(c, '-' | '=') && chars.get(i + 1) == Some(&'>') {
            i += 1;
            Some('→')
        } else if c == '=' {
            None
        } else {
            punct(c)
        };
        if let Some(mark) = mark {
            tokens.push(Token {
                raw: mark.to_string(),
                norm: mark.to_string(),
                kind: Kind::Punct(mark),
                upper: false,
                capital: false,
            });
        }
        i += 1;
    }
    push_run(tokens, &run);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norms(text: &str) -> Vec<String> {
        tokenize(text).into_iter().map(|t| t.norm).collect()
    }

    #[test]
    fn words_fold_and_punctuation_splits() {
        assert_eq!(norms("Mañana, a MÜNCHEN!"), ["manana", ",", "a", "munchen", "!"]);
        assert_eq!(norms("après-demain"), ["apres", "-", "demain"]);
        assert_eq!(norms("d'Orly"), ["d", "orly"]);
        assert_eq!(norms("MAD->BCN"), ["mad", "→", "bcn"]);
        assert_eq!(norms("2moro"), ["2moro"]);
        assert!(tokenize("LHR").first().is_some_and(|t| t.upper));
        assert!(!tokenize("Lhr").first().is_some_and(|t| t.upper));
    }

    #[test]
    fn numbers_keep_their_suffix() {
        let tokens = tokenize("the 20th, 1er, $1,500 27.");
        let kinds: Vec<&Kind> = tokens.iter().map(|t| &t.kind).collect();
        assert_eq!(kinds[1], &Kind::Number { value: 20, suffix: "th".into() });
        assert_eq!(kinds[3], &Kind::Number { value: 1, suffix: "er".into() });
        assert_eq!(kinds[5], &Kind::Punct('$'));
        assert_eq!(kinds[6], &Kind::Number { value: 1500, suffix: String::new() });
        assert_eq!(kinds[7], &Kind::Number { value: 27, suffix: String::new() });
        assert_eq!(kinds[8], &Kind::Punct('.'));
    }

    #[test]
    fn dates_are_single_tokens() {
        assert_eq!(tokenize("2026-12-20,")[0].kind, Kind::IsoDate { year: 2026, month: 12, day: 20 });
        assert_eq!(tokenize("20.12.")[0].kind, Kind::NumericDate { first: 20, second: 12, year: None });
        assert_eq!(tokenize("12/20")[0].kind, Kind::NumericDate { first: 12, second: 20, year: None });
        assert_eq!(tokenize("20/12/26")[0].kind, Kind::NumericDate { first: 20, second: 12, year: Some(2026) });
        // A hyphen between two numbers is a range, not a date.
        assert_eq!(norms("20-27"), ["20", "-", "27"]);
    }

    #[test]
    fn other_scripts_and_control_characters_are_separators() {
        assert_eq!(norms("你好 🙂 paris\u{0}\u{7}rome"), ["paris", "rome"]);
        assert!(tokenize(&"x".repeat(100_000)).len() <= 1);
        assert!(tokenize(&"a ".repeat(10_000)).len() <= MAX_TOKENS);
    }
}
