//! Values written as JSON ahead of time, and the one writer every response
//! goes through.
//!
//! A resolver that writes its value as JSON itself (a page of offers,
//! [`crate::flights::selection`]) answers with a [`Prerendered`] marker, and
//! [`write_value`] copies the text in where the marker stands; the text is
//! shared, so a kept page ([`crate::flights::rendered`]) answers many
//! requests without a copy. A value tree per answer (≈ 1,200 values for a
//! 20-offer page: a map per object, a string per value) was built, walked
//! by the writer and dropped again; the splice took ≈ 10 % off a cached
//! search's server CPU and writing pages without a tree ≈ 15 % off an
//! uncached one (BENCHMARKS.md, "What this session changed").
//!
//! The marker travels inside async-graphql's response as a `Value::Binary`
//! whose bytes start with [`MARK`]: the schema has no binary outputs, so
//! nothing else in a response looks like one, and async-graphql passes a
//! field's value through untouched — except that it merges the values of
//! two fields of one response key, which a marker cannot take part in
//! (the page answers a tree there: [`Prerendered::to_tree`]). Every
//! response is written by [`write_value`] (HTTP single and batch bodies,
//! WebSocket messages: `crate::http::graphql::ResponseBody`); serde's own
//! serialisation of a value would write a marker as a list of byte values,
//! so nothing that answers a client uses it.

use std::convert::Infallible;

use async_graphql::Value;
use bytes::Bytes;

/// The first bytes of a marker: NUL-delimited, so no JSON text starts so.
pub const MARK: &[u8] = b"\0wayfarer:prerendered-json\0";

/// A value's JSON text behind [`MARK`], shared.
#[derive(Debug, Clone)]
pub struct Prerendered(Bytes);

impl Prerendered {
    /// What `write` appends to an empty buffer of `capacity` bytes.
    pub fn write<E>(capacity: usize, write: impl FnOnce(&mut Vec<u8>) -> Result<(), E>) -> Result<Self, E> {
        let mut text = Vec::with_capacity(MARK.len() + capacity);
        text.extend_from_slice(MARK);
        write(&mut text)?;
        // The buffer becomes the shared text: no copy.
        Ok(Self(Bytes::from(text)))
    }

    /// The marker to answer with: the text shared, not copied.
    pub fn to_value(&self) -> Value {
        Value::Binary(self.0.clone())
    }

    /// The value the text stands for, as a tree: for where a marker cannot
    /// stand (async-graphql merging two values of one response key).
    pub fn to_tree(&self) -> Result<Value, serde_json::Error> {
        serde_json::from_slice(self.json())
    }

    /// The JSON text.
    pub fn json(&self) -> &[u8] {
        self.0.get(MARK.len()..).unwrap_or_default()
    }
}

/// Appends `value` as JSON to `out`: what serde writes for it, except that
/// a [`Prerendered`] marker is replaced by its text.
pub fn write_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Boolean(true) => out.extend_from_slice(b"true"),
        Value::Boolean(false) => out.extend_from_slice(b"false"),
        Value::Number(number) => write_serde(out, number),
        Value::String(text) => write_serde(out, text.as_str()),
        Value::Enum(name) => write_serde(out, name.as_str()),
        Value::Binary(bytes) => match bytes.strip_prefix(MARK) {
            Some(json) => out.extend_from_slice(json),
            None => write_serde(out, value),
        },
        Value::List(items) => write_list(out, items, write_value),
        Value::Object(map) => write_object(out, map.iter().map(|(key, item)| (key.as_str(), item))),
    }
}

/// Appends `items` as a JSON array, each written by `write`.
pub fn write_list<T>(out: &mut Vec<u8>, items: impl IntoIterator<Item = T>, mut write: impl FnMut(&mut Vec<u8>, T)) {
    let Ok(()) = write_separated::<T, Infallible>(out, b'[', b']', items, |out, item| {
        write(out, item);
        Ok(())
    });
}

/// Appends `members` as a JSON object, each value by [`write_value`].
pub fn write_object<'v>(out: &mut Vec<u8>, members: impl IntoIterator<Item = (&'v str, &'v Value)>) {
    let Ok(()) = write_separated::<_, Infallible>(out, b'{', b'}', members, |out, (key, item)| {
        write_serde(out, key);
        out.push(b':');
        write_value(out, item);
        Ok(())
    });
}

/// Appends `items` between `open` and `close`, separated by commas, each
/// written by `write`: the one comma loop behind every array and object a
/// response has (values here, pages of offers in
/// [`crate::flights::selection`]). Stops at `write`'s first error.
pub fn write_separated<T, E>(
    out: &mut Vec<u8>,
    open: u8,
    close: u8,
    items: impl IntoIterator<Item = T>,
    mut write: impl FnMut(&mut Vec<u8>, T) -> Result<(), E>,
) -> Result<(), E> {
    out.push(open);
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write(out, item)?;
    }
    out.push(close);
    Ok(())
}

/// Appends what serde_json writes for `value` (strings escaped, numbers as
/// serde_json formats them).
pub fn write_serde<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    // Writing into a Vec cannot fail, and these values (strings, numbers,
    // errors with string-keyed extensions) always serialise.
    let _ = serde_json::to_writer(&mut *out, value);
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::Name;
    use async_graphql::indexmap::IndexMap;

    fn sample() -> Value {
        let mut airport = IndexMap::new();
        airport.insert(Name::new("code"), Value::String("LIS".into()));
        airport.insert(Name::new("name"), Value::String("Humberto \"Delgado\"\n\u{1}é ✈".into()));
        airport.insert(Name::new("nothing"), Value::Null);
        let mut offer = IndexMap::new();
        offer.insert(Name::new("amount"), Value::Number(serde_json::Number::from_f64(1290.1).expect("finite")));
        offer.insert(Name::new("seats"), Value::Number(9.into()));
        offer.insert(Name::new("negative"), Value::Number((-3).into()));
        offer.insert(Name::new("labels"), Value::List(vec![Value::Enum(Name::new("CHEAPEST")), Value::Boolean(true)]));
        offer.insert(Name::new("airport"), Value::Object(airport));
        offer.insert(Name::new("empty"), Value::List(Vec::new()));
        offer.insert(Name::new("bare"), Value::Object(IndexMap::new()));
        offer.insert(Name::new("bytes"), Value::Binary(bytes::Bytes::from_static(b"\x01\x02")));
        Value::List(vec![Value::Object(offer), Value::Boolean(false)])
    }

    fn written(value: &Value) -> String {
        let mut out = Vec::new();
        write_value(&mut out, value);
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn values_are_written_as_serde_writes_them() {
        let value = sample();
        assert_eq!(written(&value), serde_json::to_string(&value).expect("serialises"));
    }

    #[test]
    fn a_marker_is_replaced_by_its_text_wherever_it_stands() {
        let page = sample();
        let Ok(kept) = Prerendered::write::<std::convert::Infallible>(0, |out| {
            write_value(out, &page);
            Ok(())
        });
        assert_eq!(kept.json(), written(&page).as_bytes());
        let mut data = IndexMap::new();
        data.insert(Name::new("offers"), kept.to_value());
        data.insert(Name::new("again"), Value::List(vec![kept.to_value(), Value::Null]));
        let mut expected = IndexMap::new();
        expected.insert(Name::new("offers"), page.clone());
        expected.insert(Name::new("again"), Value::List(vec![page, Value::Null]));
        assert_eq!(written(&Value::Object(data)), written(&Value::Object(expected)));
        let parsed: serde_json::Value = serde_json::from_slice(kept.json()).expect("valid JSON");
        assert_eq!(parsed[0]["airport"]["code"], "LIS");
    }
}
