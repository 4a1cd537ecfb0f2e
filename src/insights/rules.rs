//! The rule set: data, loaded once, compiled once.
//!
//! The built-in rules are `default_rules.toml`, embedded in the binary. An
//! `INSIGHT_RULES_FILE` is merged over them key by key (tables merge, any other value
//! replaces the default), so an operator's file names only what it changes; then
//! `COMPETITORS`, when set, replaces the competitor list. The file is checked on its own
//! first so that a mistake is reported with its line, and unknown keys are errors (a
//! misspelt threshold silently ignored would be worse than a refusal to start).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use serde::Deserialize;

use super::InsightKind;
use super::sentiment::Lexicon;
use super::text::{PhraseIndex, phrase_words};

/// The embedded default rules.
const DEFAULT_RULES: &str = include_str!("default_rules.toml");

/// Insight rules: phrase lists, lexicons, thresholds and next-step templates. Build with
/// [`Rules::builtin`] or [`Rules::load`]; the fields are private so that the compiled
/// matchers can never disagree with them. (Deserializing a `Rules` directly yields only
/// what the text names, every other field empty: that is how an override file is checked,
/// not how rules are made.)
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    #[serde(default)]
    pub(crate) competitors: Vec<String>,
    #[serde(default)]
    pub(crate) request_phrases: Vec<String>,
    /// Kind -> names of Gong trackers that signal it. A `BTreeMap` so that, when a tracker
    /// name matches several kinds, the first kind in `InsightKind` order wins every time.
    #[serde(default)]
    pub(crate) tracker_kinds: BTreeMap<InsightKind, Vec<String>>,
    #[serde(default)]
    pub(crate) phrases: BTreeMap<InsightKind, Vec<String>>,
    #[serde(default)]
    pub(crate) sentiment: SentimentRules,
    #[serde(default)]
    pub(crate) priority: PriorityRules,
    #[serde(default)]
    pub(crate) next_steps: NextStepRules,
    #[serde(default)]
    pub(crate) evidence: EvidenceRules,
    #[serde(skip)]
    compiled: CompiledCache,
}

/// Every sub-table defaults to empty values: that default is only ever used to check an
/// override file on its own (for line numbers); real rules always start from the
/// complete built-in file.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct SentimentRules {
    pub positive: Vec<String>,
    pub negative: Vec<String>,
    pub negators: Vec<String>,
    pub negation_window: usize,
    pub damping: f64,
    pub negative_threshold: f64,
    pub min_words: u32,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct PriorityRules {
    pub large_deal_amount: f64,
    pub renewal_markers: Vec<String>,
    pub urgent_kinds: Vec<InsightKind>,
    pub high_kinds: Vec<InsightKind>,
    pub many_action_items: usize,
    pub short_call_seconds: f64,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct NextStepRules {
    pub max: usize,
    pub max_chars: usize,
    pub order: Vec<InsightKind>,
    pub strip_prefixes: Vec<String>,
    pub templates: BTreeMap<InsightKind, String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct EvidenceRules {
    pub max_per_insight: usize,
    pub max_text_chars: usize,
}

/// Why rules could not be loaded. The message names the file and the problem (with the
/// line, when the TOML parser knows it).
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("cannot read insight rules file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid insight rules file {}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
}

impl Rules {
    /// The built-in default rules (`src/insights/default_rules.toml`).
    pub fn builtin() -> Rules {
        Rules::load(&[], None).expect("the embedded default_rules.toml is valid (unit-tested)")
    }

    /// The built-in rules, then `file` (INSIGHT_RULES_FILE) merged over them (a field
    /// present in the file replaces the default; tables merge key by key), then
    /// `competitors` (COMPETITORS), which replaces the competitor list when it names any.
    pub fn load(competitors: &[String], file: Option<&Path>) -> Result<Rules, RulesError> {
        let mut table: toml::Table = DEFAULT_RULES
            .parse()
            .expect("the embedded default_rules.toml parses (checked by a unit test)");
        let origin = file.map_or_else(|| PathBuf::from("(built-in rules)"), Path::to_path_buf);
        if let Some(path) = file {
            merge(&mut table, read_override(path)?);
        }
        let invalid = |message: String| RulesError::Invalid {
            path: origin.clone(),
            message,
        };
        let mut rules: Rules = table.try_into().map_err(|e| invalid(e.to_string()))?;
        let named: Vec<String> = competitors
            .iter()
            .map(|c| c.trim().to_owned())
            .filter(|c| !c.is_empty())
            .collect();
        if !named.is_empty() {
            rules.competitors = named;
        }
        rules.validate().map_err(invalid)?;
        rules.compiled();
        Ok(rules)
    }

    /// The competitor names looked for.
    pub fn competitors(&self) -> &[String] {
        &self.competitors
    }

    /// The opportunity amount at or above which a deal counts as large.
    pub fn large_deal_amount(&self) -> f64 {
        self.priority.large_deal_amount
    }

    /// The matchers, compiled on first use and shared by clones.
    pub(crate) fn compiled(&self) -> &Compiled {
        self.compiled
            .0
            .get_or_init(|| Arc::new(Compiled::new(self)))
    }

    /// Checks what the types alone cannot; every problem is listed.
    fn validate(&self) -> Result<(), String> {
        let mut problems = Vec::new();
        let s = &self.sentiment;
        for (list, words) in [
            ("sentiment.positive", &s.positive),
            ("sentiment.negative", &s.negative),
            ("sentiment.negators", &s.negators),
        ] {
            for word in words {
                if phrase_words(word).len() != 1 {
                    problems.push(format!("{list}: {word:?} is not a single word"));
                }
            }
        }
        if !(s.damping.is_finite() && s.damping >= 0.0) {
            problems.push("sentiment.damping must be a number >= 0".to_owned());
        }
        if !(-1.0..=1.0).contains(&s.negative_threshold) {
            problems.push("sentiment.negative_threshold must be between -1 and 1".to_owned());
        }
        for (name, value) in [
            (
                "priority.large_deal_amount",
                self.priority.large_deal_amount,
            ),
            (
                "priority.short_call_seconds",
                self.priority.short_call_seconds,
            ),
        ] {
            if !value.is_finite() {
                problems.push(format!("{name} must be a finite number"));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }
}

/// Reads and checks an override file: deserializing it on its own into [`Rules`] (every
/// field optional there) reports wrong types and unknown keys with their line.
fn read_override(path: &Path) -> Result<toml::Table, RulesError> {
    let text = std::fs::read_to_string(path).map_err(|source| RulesError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let invalid = |e: toml::de::Error| RulesError::Invalid {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    toml::from_str::<Rules>(&text).map_err(invalid)?;
    text.parse::<toml::Table>().map_err(invalid)
}

/// Merges `over` into `base`: tables merge key by key, anything else replaces.
fn merge(base: &mut toml::Table, over: toml::Table) {
    for (key, value) in over {
        match value {
            toml::Value::Table(inner) => {
                if let Some(toml::Value::Table(existing)) = base.get_mut(&key) {
                    merge(existing, inner);
                } else {
                    base.insert(key, toml::Value::Table(inner));
                }
            }
            other => {
                base.insert(key, other);
            }
        }
    }
}

/// What a phrase found in text means.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    /// An insight of this kind with this label (the phrase or competitor as configured).
    Insight { kind: InsightKind, label: String },
    /// A request ("could you", "please"): the text asks something of us.
    Request,
}

/// The rules turned into matchers.
#[derive(Debug)]
pub(crate) struct Compiled {
    pub phrases: PhraseIndex<Target>,
    pub trackers: PhraseIndex<InsightKind>,
    pub lexicon: Lexicon,
    /// Lowercase competitor name words joined by a space -> the name as configured, to
    /// give a tracker's phrase ("chorus") the configured spelling ("Chorus").
    pub competitor_names: HashMap<String, String>,
    pub renewal_markers: Vec<String>,
    /// Longest first, so that "i am going to" is tried before any shorter prefix.
    pub strip_prefixes: Vec<String>,
}

impl Compiled {
    fn new(rules: &Rules) -> Compiled {
        let mut phrases = PhraseIndex::default();
        let mut competitor_names = HashMap::new();
        for name in &rules.competitors {
            phrases.insert(name, insight(InsightKind::CompetitorMention, name));
            competitor_names.insert(phrase_words(name).join(" "), name.trim().to_owned());
        }
        for (&kind, list) in &rules.phrases {
            for phrase in list {
                phrases.insert(phrase, insight(kind, phrase));
            }
        }
        for phrase in &rules.request_phrases {
            phrases.insert(phrase, Target::Request);
        }
        let mut trackers = PhraseIndex::default();
        for (&kind, names) in &rules.tracker_kinds {
            for name in names {
                trackers.insert(name, kind);
            }
        }
        let s = &rules.sentiment;
        let mut strip_prefixes: Vec<String> = rules.next_steps.strip_prefixes.clone();
        strip_prefixes.sort_by_key(|p| std::cmp::Reverse(p.len()));
        Compiled {
            phrases,
            trackers,
            lexicon: Lexicon::new(&s.positive, &s.negative, &s.negators, s.negation_window),
            competitor_names,
            renewal_markers: lowercase_all(&rules.priority.renewal_markers),
            strip_prefixes,
        }
    }
}

fn insight(kind: InsightKind, label: &str) -> Target {
    Target::Insight {
        kind,
        label: label.trim().to_owned(),
    }
}

fn lowercase_all(list: &[String]) -> Vec<String> {
    list.iter()
        .map(|s| s.trim().to_lowercase())
        .filter(|s| !s.is_empty())
        .collect()
}

/// The compiled matchers, behind an `Arc` so that cloning rules is cheap.
#[derive(Clone, Default)]
struct CompiledCache(OnceLock<Arc<Compiled>>);

impl fmt::Debug for CompiledCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.get().is_some() {
            "compiled"
        } else {
            "not compiled"
        })
    }
}
