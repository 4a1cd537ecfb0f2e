//! Words, phrases and sentences.
//!
//! One tokenizer serves both sides: the configured phrases and the scanned text are split
//! into lowercase words the same way, so "whole words, case-insensitive" means the same
//! thing everywhere, and a phrase match is a comparison of word sequences (no regex, no
//! per-phrase scan of the text: one hash look-up per word finds every phrase that starts
//! there).

use std::collections::HashMap;

/// The lowercase words of one text. Reused from text to text: scanning a long transcript
/// allocates nothing per sentence once the buffers have grown.
#[derive(Debug, Default)]
pub(crate) struct Words {
    lower: String,
    spans: Vec<(usize, usize)>,
}

impl Words {
    /// Splits `text` into words: runs of letters and digits, with an apostrophe kept
    /// inside a word ("don't") and a possessive "'s" dropped ("Chorus's" is "chorus").
    pub(crate) fn fill(&mut self, text: &str) {
        self.lower.clear();
        self.spans.clear();
        for c in text.chars() {
            push_folded(&mut self.lower, c);
        }
        let mut start = None;
        let mut prev_alnum = false;
        let mut chars = self.lower.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            let next_alnum = chars.peek().is_some_and(|&(_, n)| n.is_alphanumeric());
            let in_word = c.is_alphanumeric() || (c == '\'' && prev_alnum && next_alnum);
            match (in_word, start) {
                (true, None) => start = Some(i),
                (false, Some(s)) => {
                    self.spans.push(word_span(&self.lower, s, i));
                    start = None;
                }
                _ => {}
            }
            prev_alnum = c.is_alphanumeric();
        }
        if let Some(s) = start {
            self.spans.push(word_span(&self.lower, s, self.lower.len()));
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.spans.len()
    }

    pub(crate) fn get(&self, i: usize) -> &str {
        let (s, e) = self.spans[i];
        &self.lower[s..e]
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &str> {
        self.spans.iter().map(|&(s, e)| &self.lower[s..e])
    }
}

/// Drops a possessive "'s" so that "Chorus's pricing" mentions Chorus.
fn word_span(lower: &str, start: usize, end: usize) -> (usize, usize) {
    if end - start > 2 && lower[start..end].ends_with("'s") {
        (start, end - 2)
    } else {
        (start, end)
    }
}

/// Lowercases one character, writing typographic apostrophes as `'` (transcripts and
/// emails use both, the rules are typed with `'`).
fn push_folded(out: &mut String, c: char) {
    match c {
        '\u{2019}' | '\u{2018}' | '\u{02BC}' => out.push('\''),
        c if c.is_ascii() => out.push(c.to_ascii_lowercase()),
        c => out.extend(c.to_lowercase()),
    }
}

/// The words of a configured phrase, as owned strings.
pub(crate) fn phrase_words(phrase: &str) -> Vec<String> {
    let mut words = Words::default();
    words.fill(phrase);
    words.iter().map(str::to_owned).collect()
}

/// A set of phrases, each with a target `T` (what a match means), indexed by first word.
#[derive(Debug, Clone)]
pub(crate) struct PhraseIndex<T> {
    by_first: HashMap<String, Vec<usize>>,
    phrases: Vec<(Vec<String>, T)>,
}

impl<T> Default for PhraseIndex<T> {
    fn default() -> Self {
        PhraseIndex {
            by_first: HashMap::new(),
            phrases: Vec::new(),
        }
    }
}

impl<T> PhraseIndex<T> {
    /// Adds a phrase; a phrase without any word (punctuation only) can never match and is
    /// left out.
    pub(crate) fn insert(&mut self, phrase: &str, target: T) {
        let words = phrase_words(phrase);
        let Some(first) = words.first() else { return };
        self.by_first
            .entry(first.clone())
            .or_default()
            .push(self.phrases.len());
        self.phrases.push((words, target));
    }

    /// Calls `found` once for every phrase present in `words` (a phrase said twice in one
    /// sentence is one piece of evidence, not two).
    pub(crate) fn for_each_match<'s>(&'s self, words: &Words, mut found: impl FnMut(&'s T)) {
        let mut seen: Vec<usize> = Vec::new();
        for i in 0..words.len() {
            let Some(candidates) = self.by_first.get(words.get(i)) else {
                continue;
            };
            for &p in candidates {
                if !seen.contains(&p) && self.matches_at(p, words, i) {
                    seen.push(p);
                    found(&self.phrases[p].1);
                }
            }
        }
    }

    fn matches_at(&self, phrase: usize, words: &Words, at: usize) -> bool {
        let phrase = &self.phrases[phrase].0;
        at + phrase.len() <= words.len()
            && phrase
                .iter()
                .enumerate()
                .all(|(k, w)| words.get(at + k) == w)
    }
}

/// Calls `f` with each sentence of a longer text (a brief, an email body): evidence
/// should quote the sentence, not the whole email. Sentences end at `.`, `!` or `?`
/// followed by a space, or at a line break.
pub(crate) fn for_each_sentence<'t>(text: &'t str, mut f: impl FnMut(&'t str)) {
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let end = match c {
            '\n' | '\r' => Some(i),
            '.' | '!' | '?' if chars.peek().is_none_or(|&(_, n)| n.is_whitespace()) => {
                Some(i + c.len_utf8())
            }
            _ => None,
        };
        if let Some(end) = end {
            emit_sentence(&text[start..end], &mut f);
            start = chars.peek().map_or(text.len(), |&(n, _)| n);
        }
    }
    emit_sentence(&text[start..], &mut f);
}

fn emit_sentence<'t>(sentence: &'t str, f: &mut impl FnMut(&'t str)) {
    let sentence = sentence.trim();
    if !sentence.is_empty() {
        f(sentence);
    }
}

/// `text` with runs of white space made single spaces, cut to `max_chars` characters
/// (the last one an ellipsis) so that evidence stays small in notifications.
pub(crate) fn clip(text: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max_chars * 4));
    let mut count = 0;
    for word in text.split_whitespace() {
        let needed = word.chars().count() + usize::from(count > 0);
        if count + needed > max_chars {
            return finish_clipped(out, word, count, max_chars);
        }
        if count > 0 {
            out.push(' ');
        }
        out.push_str(word);
        count += needed;
    }
    out
}

/// Fills the remaining room with the start of `word`, then the ellipsis.
fn finish_clipped(mut out: String, word: &str, mut count: usize, max_chars: usize) -> String {
    if max_chars == 0 {
        return String::new();
    }
    if count > 0 && count + 1 < max_chars {
        out.push(' ');
        count += 1;
    }
    out.extend(word.chars().take((max_chars - 1).saturating_sub(count)));
    out.push('…');
    out
}

/// `text` without a leading `prefix` (compared case-insensitively, apostrophes folded),
/// provided the prefix ends on a word boundary: "I'll send" loses "i'll", "Illustrate"
/// does not lose "ill".
pub(crate) fn strip_word_prefix<'t>(text: &'t str, prefix: &str) -> Option<&'t str> {
    let mut end = 0;
    let mut chars = text.char_indices();
    for p in prefix.chars() {
        let (i, c) = chars.next()?;
        if fold(c) != fold(p) {
            return None;
        }
        end = i + c.len_utf8();
    }
    let rest = &text[end..];
    let continues_word = rest
        .chars()
        .next()
        .is_some_and(|c| c.is_alphanumeric() || fold(c) == '\'');
    (!continues_word).then_some(rest)
}

fn fold(c: char) -> char {
    match c {
        '\u{2019}' | '\u{2018}' | '\u{02BC}' => '\'',
        c => c.to_lowercase().next().unwrap_or(c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        phrase_words(text)
    }

    #[test]
    fn tokenizer_keeps_apostrophes_inside_words_and_drops_possessives() {
        assert_eq!(
            words("We DON’T like Chorus's pricing, e-mail 'quoted'"),
            [
                "we", "don't", "like", "chorus", "pricing", "e", "mail", "quoted"
            ]
        );
    }

    #[test]
    fn phrases_match_whole_word_sequences_once_per_text() {
        let mut index = PhraseIndex::default();
        index.insert("not renewing", 1);
        index.insert("Chorus", 2);
        index.insert("...", 3);
        let mut w = Words::default();
        let mut found = Vec::new();
        w.fill("We're not renewing. Not renewing! Chorusline, chorus.");
        index.for_each_match(&w, |t| found.push(*t));
        assert_eq!(found, [1, 2]);
        found.clear();
        w.fill("renewing not");
        index.for_each_match(&w, |t| found.push(*t));
        assert!(found.is_empty());
    }

    #[test]
    fn sentences_split_on_terminators_and_lines() {
        let mut out = Vec::new();
        for_each_sentence("Hi Ann.\nSee v1.2 attached!  Any questions? ok", |s| {
            out.push(s)
        });
        assert_eq!(
            out,
            ["Hi Ann.", "See v1.2 attached!", "Any questions?", "ok"]
        );
    }

    #[test]
    fn clip_collapses_space_and_cuts_with_an_ellipsis() {
        assert_eq!(clip("  a   b\nc ", 10), "a b c");
        assert_eq!(clip("abcdef ghijkl", 9), "abcdef g…");
        assert_eq!(clip("abcdefghijkl", 5), "abcd…");
        assert_eq!(clip("abc", 0), "");
    }

    #[test]
    fn word_prefixes_stop_at_word_boundaries() {
        assert_eq!(strip_word_prefix("I’ll send it", "i'll"), Some(" send it"));
        assert_eq!(strip_word_prefix("Illustrate", "ill"), None);
        assert_eq!(strip_word_prefix("I can't", "i can"), None);
        assert_eq!(strip_word_prefix("So", "so"), Some(""));
    }
}
