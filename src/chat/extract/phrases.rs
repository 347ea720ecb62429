//! Fixed phrases ("pasado mañana", "aller-retour", "ohne Umsteigen") found
//! at a token position, longest first. Tables are written as folded text;
//! hyphens between the words of a phrase are skipped, so "après-demain",
//! "apres demain" and "Après Demain" all match `"apres demain"`.

use std::collections::HashMap;

use super::text::{Kind, Token};

/// A phrase table indexed by first word.
#[derive(Debug)]
pub(crate) struct Phrases<T: 'static> {
    by_first: HashMap<&'static str, Vec<(Vec<&'static str>, T)>>,
}

impl<T: Copy + 'static> Phrases<T> {
    /// The table of `entries` (`"folded words"`, value).
    pub(crate) fn new(entries: &[(&'static str, T)]) -> Self {
        let mut by_first: HashMap<&'static str, Vec<(Vec<&'static str>, T)>> = HashMap::new();
        for (phrase, value) in entries {
            let words: Vec<&'static str> = phrase.split_whitespace().collect();
            if let Some(first) = words.first() {
                by_first.entry(first).or_default().push((words, *value));
            }
        }
        for list in by_first.values_mut() {
            list.sort_by_key(|(words, _)| std::cmp::Reverse(words.len()));
        }
        Self { by_first }
    }

    /// The longest phrase starting at token `i`: its value and the index just after it.
    pub(crate) fn at(&self, tokens: &[Token], i: usize) -> Option<(T, usize)> {
        let first = tokens.get(i)?;
        if matches!(first.kind, Kind::Punct(_)) {
            return None;
        }
        let list = self.by_first.get(first.norm.as_str())?;
        list.iter().find_map(|(words, value)| matches_at(tokens, i, words).map(|end| (*value, end)))
    }

    /// The first phrase anywhere in `tokens[from..]` not overlapping `used`: value, start, end.
    pub(crate) fn find(&self, tokens: &[Token], used: &[bool]) -> Option<(T, usize, usize)> {
        (0..tokens.len()).find_map(|i| {
            if used.get(i).copied().unwrap_or(true) {
                return None;
            }
            let (value, end) = self.at(tokens, i)?;
            used[i..end].iter().all(|u| !u).then_some((value, i, end))
        })
    }

    /// Every folded word the table uses.
    pub(crate) fn words(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.by_first.values().flatten().flat_map(|(words, _)| words.iter().copied())
    }
}

/// Where `words` end when they match at `i` (hyphens between them skipped).
pub(crate) fn matches_at(tokens: &[Token], i: usize, words: &[&str]) -> Option<usize> {
    let mut j = i;
    for (n, word) in words.iter().enumerate() {
        if n > 0 {
            while tokens.get(j).is_some_and(|t| t.is_punct('-')) {
                j += 1;
            }
        }
        let token = tokens.get(j)?;
        if matches!(token.kind, Kind::Punct(_)) || token.norm != *word {
            return None;
        }
        j += 1;
    }
    Some(j)
}

/// Marks `used[start..end]`.
pub(crate) fn mark(used: &mut [bool], start: usize, end: usize) {
    for u in used.iter_mut().take(end).skip(start) {
        *u = true;
    }
}

#[cfg(test)]
mod tests {
    use super::super::text::tokenize;
    use super::*;

    #[test]
    fn longest_phrase_wins_and_hyphens_are_skipped() {
        let table = Phrases::new(&[("apres", 1), ("apres demain", 2), ("demain", 3)]);
        let tokens = tokenize("Après-demain");
        assert_eq!(table.at(&tokens, 0), Some((2, 3)));
        let tokens = tokenize("apres la pluie");
        assert_eq!(table.at(&tokens, 0), Some((1, 1)));
        let used = vec![false; tokens.len()];
        assert_eq!(table.find(&tokens, &used), Some((1, 0, 1)));
        assert_eq!(table.at(&tokens, 5), None);
    }
}
