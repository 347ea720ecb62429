//! Stripe's v1 request bodies: `application/x-www-form-urlencoded` with
//! bracket nesting (`metadata[booking_id]=…`,
//! `line_items[0][price_data][unit_amount]=…`). `serde_urlencoded` cannot
//! nest, so bodies are built as flat key–value pairs whose keys already
//! carry the brackets, and encoded with `url::form_urlencoded` (brackets
//! percent-encoded, as Stripe's own SDKs send them). The sandbox decodes
//! with the same module, so the two ends cannot disagree.

use std::collections::BTreeMap;

/// A form body under construction, in insertion order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FormBody {
    pairs: Vec<(String, String)>,
}

impl FormBody {
    /// An empty body.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `key=value`; `key` may carry brackets (`metadata[booking_id]`).
    pub fn push(&mut self, key: impl Into<String>, value: impl Into<String>) -> &mut Self {
        self.pairs.push((key.into(), value.into()));
        self
    }

    /// Adds every entry of a map under `prefix[entry]`.
    pub fn push_map<'a>(&mut self, prefix: &str, map: impl IntoIterator<Item = (&'a String, &'a String)>) -> &mut Self {
        for (key, value) in map {
            self.pairs.push((format!("{prefix}[{key}]"), value.clone()));
        }
        self
    }

    /// The pairs, as pushed.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// The encoded body.
    pub fn encode(&self) -> String {
        encode(&self.pairs)
    }
}

/// Encodes flat pairs: `a[b]=c d` → `a%5Bb%5D=c+d`.
pub fn encode(pairs: &[(String, String)]) -> String {
    let mut serializer = url::form_urlencoded::Serializer::new(String::new());
    for (key, value) in pairs {
        serializer.append_pair(key, value);
    }
    serializer.finish()
}

/// Decodes a body into its flat pairs, in order (keys keep their brackets).
pub fn decode(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

/// The entries nested one level under `prefix`: `metadata[booking_id]=b1`
/// → `{booking_id: b1}` for prefix `metadata`. Deeper keys are skipped.
pub fn nested(pairs: &[(String, String)], prefix: &str) -> BTreeMap<String, String> {
    pairs
        .iter()
        .filter_map(|(key, value)| {
            let inner = key.strip_prefix(prefix)?.strip_prefix('[')?.strip_suffix(']')?;
            (!inner.contains(['[', ']'])).then(|| (inner.to_owned(), value.clone()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bracket_keys_are_percent_encoded_and_round_trip() {
        let mut body = FormBody::new();
        body.push("amount", "34220")
            .push("metadata[booking_id]", "bk_1 & co")
            .push("line_items[0][price_data][currency]", "eur")
            .push("payment_method_types[]", "card");
        let encoded = body.encode();
        assert_eq!(
            encoded,
            "amount=34220&metadata%5Bbooking_id%5D=bk_1+%26+co&line_items%5B0%5D%5Bprice_data%5D%5Bcurrency%5D=eur\
             &payment_method_types%5B%5D=card"
        );
        assert_eq!(decode(encoded.as_bytes()), body.pairs());
    }

    #[test]
    fn nested_reads_one_level() {
        let pairs = decode(b"metadata[booking_id]=b1&metadata[x]=2&metadata[a][b]=deep&metadatax[y]=no&amount=5");
        let map = nested(&pairs, "metadata");
        assert_eq!(map.len(), 2);
        assert_eq!(map.get("booking_id").map(String::as_str), Some("b1"));
        assert_eq!(map.get("x").map(String::as_str), Some("2"));
    }

    #[test]
    fn maps_push_under_their_prefix() {
        let map: BTreeMap<String, String> = [("booking_id".to_owned(), "b9".to_owned())].into();
        let mut body = FormBody::new();
        body.push_map("payment_intent_data[metadata]", &map);
        assert_eq!(body.pairs(), [("payment_intent_data[metadata][booking_id]".to_owned(), "b9".to_owned())]);
    }
}
