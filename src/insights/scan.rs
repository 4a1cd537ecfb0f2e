//! Gathering the signals of one conversation into insights with evidence.
//!
//! One pass over each source: trackers first (Gong's own judgement, and their
//! occurrences point at sentences), then the transcript, the other texts, the action
//! items and the CRM deals. Findings with the same kind and label (compared
//! case-insensitively) are one insight; evidence is kept up to the rules' cap while the
//! hit counts keep counting.

use std::collections::HashMap;

use super::priority::{deal_is_large, deal_is_renewal, deal_name, deal_summary};
use super::rules::{Compiled, Target};
use super::sentiment::Counts;
use super::text::{Words, clip, for_each_sentence, phrase_words};
use super::{
    ActionItemSignal, Deal, Evidence, Insight, InsightKind, Occurrence, Rules, Subject, TextBlock,
    TrackerSignal, Utterance,
};

/// Texts longer than this are scanned only up to here: an email body is untrusted input
/// and can carry megabytes of quoted history; what matters is at the top.
const MAX_TEXT_BYTES: usize = 64 * 1024;

/// How far before a tracker occurrence its sentence may start (Gong's tracker times are
/// the phrase's time, inside the sentence).
const SENTENCE_LOOKBACK_MS: i64 = 30_000;

/// Tolerance for a tracker time rounded slightly before its sentence's start.
const SENTENCE_SLACK_MS: i64 = 1_000;

/// An insight and what the later stages need to know about it.
#[derive(Debug, Clone)]
pub(crate) struct Finding {
    pub insight: Insight,
    /// Labelled with a tracker's name rather than with what was said ("Competitors"
    /// rather than "Chorus"): next steps and reasons prefer specific labels.
    pub generic: bool,
}

/// Everything the scan found.
#[derive(Debug, Clone)]
pub(crate) struct Found {
    /// In `InsightKind` order, then in order of discovery.
    pub findings: Vec<Finding>,
    pub sentiment_score: Option<f64>,
    /// A question mark or request phrase in the texts, or Gong counted a question.
    pub asks: bool,
    /// Distinct action items.
    pub action_items: usize,
}

pub(crate) fn scan(rules: &Rules, subject: &Subject) -> Found {
    let mut scanner = Scanner::new(rules, subject);
    for tracker in &subject.trackers {
        scanner.tracker(tracker);
    }
    for utterance in &subject.utterances {
        scanner.utterance(utterance);
    }
    for block in &subject.texts {
        scanner.text_block(block);
    }
    for item in &subject.action_items {
        scanner.action_item(item);
    }
    for deal in &subject.deals {
        scanner.deal(deal);
    }
    scanner.finish()
}

/// Up to `max` labels of the findings of `kind`, specific ones first (generic ones only
/// when there is nothing more specific), without duplicates.
pub(crate) fn labels_of(findings: &[Finding], kind: InsightKind, max: usize) -> Vec<&str> {
    let of_kind = || findings.iter().filter(move |f| f.insight.kind == kind);
    let any_specific = of_kind().any(|f| !f.generic);
    let mut labels: Vec<&str> = Vec::new();
    for f in of_kind().filter(|f| !(any_specific && f.generic)) {
        let label = f.insight.label.as_str();
        if !labels.iter().any(|l| l.eq_ignore_ascii_case(label)) {
            labels.push(label);
        }
    }
    labels.truncate(max);
    labels
}

/// Where a scanned sentence came from, to build its evidence.
#[derive(Clone, Copy)]
enum Origin<'a> {
    Utterance(&'a Utterance),
    Text {
        source: &'static str,
        sentence: &'a str,
    },
    ActionItem(&'a ActionItemSignal),
}

struct Scanner<'a> {
    rules: &'a Rules,
    compiled: &'a Compiled,
    subject: &'a Subject,
    words: Words,
    collector: Collector,
    sentiment: Counts,
    external_sentences: usize,
    negative_sentences: Vec<Evidence>,
    asks: bool,
    /// Speaker id -> name, from the transcript; built on first need.
    speakers: Option<HashMap<&'a str, &'a str>>,
    /// (start_ms, utterance index) sorted by time; built on first need.
    timeline: Option<Vec<(i64, usize)>>,
}

impl<'a> Scanner<'a> {
    fn new(rules: &'a Rules, subject: &'a Subject) -> Scanner<'a> {
        Scanner {
            rules,
            compiled: rules.compiled(),
            subject,
            words: Words::default(),
            collector: Collector::new(rules.evidence.max_per_insight),
            sentiment: Counts::default(),
            external_sentences: 0,
            negative_sentences: Vec::new(),
            asks: subject.question_count.is_some_and(|q| q > 0),
            speakers: None,
            timeline: None,
        }
    }

    fn tracker(&mut self, tracker: &'a TrackerSignal) {
        // Gong lists every tracker, fired or not.
        if tracker.count == 0 && tracker.occurrences.is_empty() {
            return;
        }
        let Some(kind) = self.tracker_kind(&tracker.name) else {
            return;
        };
        let phrases: Vec<&str> = tracker
            .phrases
            .iter()
            .map(|p| p.trim())
            .filter(|p| !p.is_empty())
            .collect();
        if kind == InsightKind::CompetitorMention && !phrases.is_empty() {
            self.competitor_tracker(tracker, &phrases);
            return;
        }
        let fallback = (!phrases.is_empty()).then(|| phrases.join(", "));
        let evidence = self.tracker_evidence(tracker, fallback.as_deref(), true);
        let entry = self.collector.entry(kind, tracker.name.trim());
        entry.generic = true;
        entry.add_tracker(&tracker.name, evidence);
    }

    /// A competitor tracker's phrases are the competitors' names: one insight each, under
    /// the configured spelling so that it merges with the same name found in the text.
    /// The occurrences belong to the phrase only when there is a single phrase.
    fn competitor_tracker(&mut self, tracker: &'a TrackerSignal, phrases: &[&str]) {
        for &phrase in phrases {
            let label = self.competitor_label(phrase);
            let evidence = self.tracker_evidence(tracker, Some(phrase), phrases.len() == 1);
            self.collector
                .entry(InsightKind::CompetitorMention, &label)
                .add_tracker(&tracker.name, evidence);
        }
    }

    /// The tracker's evidence: one per occurrence (up to the cap), quoting the sentence
    /// said then, or a single timeless one.
    fn tracker_evidence(
        &mut self,
        tracker: &TrackerSignal,
        fallback: Option<&str>,
        with_occurrences: bool,
    ) -> Vec<Evidence> {
        let max = self.rules.evidence.max_per_insight;
        if !with_occurrences || tracker.occurrences.is_empty() {
            return vec![Evidence {
                source: "tracker".to_owned(),
                tracker: Some(tracker.name.clone()),
                text: fallback.map(|t| self.clip(t)),
                timestamp_ms: None,
                speaker_id: None,
                speaker_name: None,
            }];
        }
        let occurrences = tracker.occurrences.iter().take(max);
        occurrences
            .map(|o| self.occurrence_evidence(&tracker.name, o, fallback))
            .collect()
    }

    fn occurrence_evidence(
        &mut self,
        tracker: &str,
        occurrence: &Occurrence,
        fallback: Option<&str>,
    ) -> Evidence {
        let speaker_id = occurrence.speaker_id.as_deref();
        let sentence = occurrence
            .start_ms
            .and_then(|t| self.sentence_at(t, speaker_id));
        Evidence {
            source: "tracker".to_owned(),
            tracker: Some(tracker.to_owned()),
            text: sentence.or(fallback).map(|t| self.clip(t)),
            timestamp_ms: occurrence.start_ms,
            speaker_id: occurrence.speaker_id.clone(),
            speaker_name: self.speaker_name(speaker_id),
        }
    }

    /// The first kind (in `InsightKind` order) whose tracker names occur in `name`.
    fn tracker_kind(&mut self, name: &str) -> Option<InsightKind> {
        self.words.fill(name);
        let mut kind: Option<InsightKind> = None;
        self.compiled
            .trackers
            .for_each_match(&self.words, |&k| kind = Some(kind.map_or(k, |c| c.min(k))));
        kind
    }

    fn competitor_label(&self, phrase: &str) -> String {
        let key = phrase_words(phrase).join(" ");
        match self.compiled.competitor_names.get(&key) {
            Some(name) => name.clone(),
            None => phrase.to_owned(),
        }
    }

    fn utterance(&mut self, utterance: &'a Utterance) {
        self.scan_sentence(
            &utterance.text,
            utterance.external,
            Origin::Utterance(utterance),
        );
    }

    fn text_block(&mut self, block: &'a TextBlock) {
        let text = bounded(&block.text);
        self.asks |= text.contains('?');
        let source = if block.source.is_empty() {
            "text"
        } else {
            block.source
        };
        for_each_sentence(text, |sentence| {
            self.scan_sentence(sentence, block.external, Origin::Text { source, sentence });
        });
    }

    fn action_item(&mut self, item: &'a ActionItemSignal) {
        let text = item.text.trim();
        if text.is_empty() {
            return;
        }
        let evidence = self.evidence(Origin::ActionItem(item));
        let label = self.clip(text);
        let entry = self.collector.entry(InsightKind::ActionItem, &label);
        entry.detail = Some(format!("Action item: {label}"));
        entry.add(evidence);
        // "Send the DPA" is also a legal topic; an action item is not known to be the
        // customer's words, so it does not count toward sentiment.
        self.scan_sentence(bounded(text), false, Origin::ActionItem(item));
    }

    fn deal(&mut self, deal: &Deal) {
        let name = deal_name(deal);
        let evidence = Evidence {
            source: "crm".to_owned(),
            tracker: None,
            text: Some(self.clip(&deal_summary(deal))),
            timestamp_ms: None,
            speaker_id: None,
            speaker_name: None,
        };
        let threshold = self.rules.priority.large_deal_amount;
        if let Some(amount) = deal.amount.filter(|_| deal_is_large(deal, threshold)) {
            let entry = self.collector.entry(InsightKind::LargeDeal, name);
            entry.detail = Some(format!(
                "{name} is worth {amount:.0}, at or above {threshold:.0}."
            ));
            entry.add(evidence.clone());
        }
        if deal_is_renewal(deal, &self.compiled.renewal_markers) {
            let entry = self.collector.entry(InsightKind::Renewal, name);
            entry.detail = Some(format!("{name} is a renewal opportunity."));
            entry.add(evidence);
        }
    }

    /// Finds the configured phrases in one sentence, and counts its sentiment when an
    /// external party said or wrote it.
    fn scan_sentence(&mut self, text: &str, external: bool, origin: Origin<'a>) {
        if text.trim().is_empty() {
            return;
        }
        self.words.fill(text);
        let compiled = self.compiled;
        let mut hits: Vec<&'a Target> = Vec::new();
        compiled
            .phrases
            .for_each_match(&self.words, |target| hits.push(target));
        if external {
            self.count_sentiment(origin);
        }
        if hits.is_empty() {
            return;
        }
        let evidence = self.evidence(origin);
        for target in hits {
            match target {
                Target::Request => self.asks = true,
                Target::Insight { kind, label } => {
                    let entry = self.collector.entry(*kind, label);
                    entry.sentences += 1;
                    entry.add(evidence.clone());
                }
            }
        }
    }

    /// Adds the sentence in `self.words` to the sentiment tally; a sentence leaning
    /// negative is kept as evidence for a possible negative-sentiment insight.
    fn count_sentiment(&mut self, origin: Origin<'a>) {
        let counts = self.compiled.lexicon.count(&self.words);
        self.sentiment.add(counts);
        self.external_sentences += 1;
        if counts.negative > counts.positive
            && self.negative_sentences.len() < self.rules.evidence.max_per_insight
        {
            let evidence = self.evidence(origin);
            self.negative_sentences.push(evidence);
        }
    }

    fn evidence(&mut self, origin: Origin<'a>) -> Evidence {
        match origin {
            Origin::Utterance(u) => Evidence {
                source: "transcript".to_owned(),
                tracker: None,
                text: Some(self.clip(&u.text)),
                timestamp_ms: u.start_ms,
                speaker_id: u.speaker_id.clone(),
                speaker_name: u
                    .speaker_name
                    .clone()
                    .or_else(|| self.speaker_name(u.speaker_id.as_deref())),
            },
            Origin::Text { source, sentence } => Evidence {
                source: source.to_owned(),
                tracker: None,
                text: Some(self.clip(sentence)),
                timestamp_ms: None,
                speaker_id: None,
                speaker_name: None,
            },
            Origin::ActionItem(item) => Evidence {
                source: "action_item".to_owned(),
                tracker: None,
                text: Some(self.clip(&item.text)),
                timestamp_ms: item.start_ms,
                speaker_id: item.speaker_id.clone(),
                speaker_name: self.speaker_name(item.speaker_id.as_deref()),
            },
        }
    }

    fn clip(&self, text: &str) -> String {
        clip(text, self.rules.evidence.max_text_chars)
    }

    /// The speaker's name as the transcript gives it.
    fn speaker_name(&mut self, id: Option<&str>) -> Option<String> {
        let id = id?;
        let utterances = &self.subject.utterances;
        let speakers = self.speakers.get_or_insert_with(|| {
            let mut map = HashMap::new();
            for u in utterances {
                if let (Some(id), Some(name)) = (&u.speaker_id, &u.speaker_name) {
                    map.entry(id.as_str()).or_insert(name.as_str());
                }
            }
            map
        });
        speakers.get(id).map(|name| (*name).to_owned())
    }

    /// The transcript sentence being said at `at_ms` (by `speaker`, when known): the
    /// latest one starting at or before it, within the look-back.
    fn sentence_at(&mut self, at_ms: i64, speaker: Option<&str>) -> Option<&'a str> {
        let utterances: &'a [Utterance] = &self.subject.utterances;
        let timeline = self.timeline.get_or_insert_with(|| {
            let mut t: Vec<(i64, usize)> = utterances
                .iter()
                .enumerate()
                .filter_map(|(i, u)| u.start_ms.map(|s| (s, i)))
                .collect();
            t.sort_unstable();
            t
        });
        let end = timeline.partition_point(|&(s, _)| s <= at_ms.saturating_add(SENTENCE_SLACK_MS));
        timeline[..end]
            .iter()
            .rev()
            .take_while(|&&(s, _)| at_ms.saturating_sub(s) <= SENTENCE_LOOKBACK_MS)
            .map(|&(_, i)| &utterances[i])
            .find(|u| match (speaker, u.speaker_id.as_deref()) {
                (Some(want), Some(got)) => want == got,
                _ => true,
            })
            .map(|u| u.text.as_str())
    }

    fn finish(mut self) -> Found {
        let s = &self.rules.sentiment;
        let score = (self.external_sentences > 0).then(|| round3(self.sentiment.score(s.damping)));
        if let Some(score) = score
            && score <= s.negative_threshold
            && self.sentiment.words() >= s.min_words
        {
            let Counts { positive, negative } = self.sentiment;
            let entry = self
                .collector
                .entry(InsightKind::NegativeSentiment, "External sentiment");
            entry.detail = Some(format!(
                "The customer's sentiment scores {score:.2} ({negative} negative, \
                 {positive} positive words)."
            ));
            for evidence in std::mem::take(&mut self.negative_sentences) {
                entry.add(evidence);
            }
        }
        let mut findings: Vec<Finding> = self
            .collector
            .entries
            .into_iter()
            .map(Entry::finish)
            .collect();
        findings.sort_by_key(|f| f.insight.kind);
        let action_items = findings
            .iter()
            .filter(|f| f.insight.kind == InsightKind::ActionItem)
            .count();
        Found {
            findings,
            sentiment_score: score,
            asks: self.asks,
            action_items,
        }
    }
}

/// At most `MAX_TEXT_BYTES` of `text`, cut on a character boundary.
fn bounded(text: &str) -> &str {
    if text.len() <= MAX_TEXT_BYTES {
        return text;
    }
    let mut end = MAX_TEXT_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Insights being gathered, one per (kind, normalized label).
struct Collector {
    entries: Vec<Entry>,
    index: HashMap<(InsightKind, String), usize>,
    max_evidence: usize,
}

impl Collector {
    fn new(max_evidence: usize) -> Collector {
        Collector {
            entries: Vec::new(),
            index: HashMap::new(),
            max_evidence,
        }
    }

    /// The insight of `kind` and `label`, created on first use. Labels compare without
    /// case or final punctuation: "I'll send the DPA." and "i'll send the DPA" are one.
    fn entry(&mut self, kind: InsightKind, label: &str) -> &mut Entry {
        let normalized =
            label.trim_end_matches(|c: char| c.is_whitespace() || ".!?;,…".contains(c));
        let key = (kind, normalized.to_lowercase());
        let next = self.entries.len();
        let i = *self.index.entry(key).or_insert(next);
        if i == next {
            self.entries.push(Entry {
                kind,
                label: label.to_owned(),
                detail: None,
                evidence: Vec::new(),
                sentences: 0,
                trackers: Vec::new(),
                generic: false,
                max_evidence: self.max_evidence,
            });
        }
        &mut self.entries[i]
    }
}

struct Entry {
    kind: InsightKind,
    label: String,
    /// Set for kinds whose detail is not a hit count (action items, deals, sentiment).
    detail: Option<String>,
    evidence: Vec<Evidence>,
    /// Sentences the phrase was found in.
    sentences: u32,
    /// Gong trackers that flagged it.
    trackers: Vec<String>,
    generic: bool,
    max_evidence: usize,
}

impl Entry {
    fn add(&mut self, evidence: Evidence) {
        if self.evidence.len() < self.max_evidence && !self.evidence.contains(&evidence) {
            self.evidence.push(evidence);
        }
    }

    fn add_tracker(&mut self, tracker: &str, evidence: Vec<Evidence>) {
        if !self.trackers.iter().any(|t| t == tracker) {
            self.trackers.push(tracker.to_owned());
        }
        for e in evidence {
            self.add(e);
        }
    }

    fn finish(self) -> Finding {
        let detail = match self.detail {
            Some(detail) => detail,
            None => self.hit_detail(),
        };
        Finding {
            insight: Insight {
                kind: self.kind,
                label: self.label,
                detail,
                evidence: self.evidence,
            },
            generic: self.generic,
        }
    }

    /// E.g. "Competitor mentioned: Chorus (found in 2 sentences; flagged by Gong tracker
    /// "Competitors")."
    fn hit_detail(&self) -> String {
        let mut parts = Vec::new();
        match self.sentences {
            0 => {}
            1 => parts.push("found in 1 sentence".to_owned()),
            n => parts.push(format!("found in {n} sentences")),
        }
        for tracker in &self.trackers {
            parts.push(format!("flagged by Gong tracker \"{tracker}\""));
        }
        let what = capitalize(self.kind.describe());
        if parts.is_empty() {
            format!("{what}: {}.", self.label)
        } else {
            format!("{what}: {} ({}).", self.label, parts.join("; "))
        }
    }
}

/// `s` with its first letter in upper case.
pub(crate) fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
