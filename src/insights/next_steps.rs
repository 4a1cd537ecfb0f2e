//! Next steps: the insights rendered through the rules' templates, kinds in the rules'
//! order of importance, without duplicates, at most `next_steps.max`.
//!
//! A template with `{label}` or `{action}` gives one step per insight (each action item
//! is its own step); any other template gives one step per kind ("Loop in CSM: churn risk
//! (cancel, not renewing)"), so that five churn phrases do not crowd out everything else.

use std::collections::HashSet;

use super::InsightKind;
use super::Rules;
use super::rules::NextStepRules;
use super::scan::{Finding, capitalize, labels_of};
use super::text::{clip, strip_word_prefix};

/// Labels listed in a per-kind step.
const STEP_LABELS: usize = 3;

/// Characters of evidence quoted by `{evidence}`.
const EVIDENCE_CHARS: usize = 80;

/// Times a leading filler or "I'll" is stripped from an action item ("So, and I'll go
/// ahead and send" needs four); bounded so that a long list of prefixes cannot loop long.
const MAX_PREFIX_STRIPS: usize = 6;

pub(crate) fn derive(rules: &Rules, findings: &[Finding]) -> Vec<String> {
    let config = &rules.next_steps;
    let prefixes = &rules.compiled().strip_prefixes;
    let mut steps = Steps::new(config);
    for kind in kind_order(config) {
        let Some(template) = config.templates.get(&kind).filter(|t| !t.trim().is_empty()) else {
            continue;
        };
        let of_kind: Vec<&Finding> = findings.iter().filter(|f| f.insight.kind == kind).collect();
        if of_kind.is_empty() {
            continue;
        }
        if is_per_insight(template) {
            for finding in &of_kind {
                steps.push(&render(template, |name| {
                    per_insight_value(name, finding, prefixes)
                }));
            }
        } else {
            steps.push(&render(template, |name| {
                per_kind_value(name, kind, findings, &of_kind)
            }));
        }
        if steps.is_full() {
            break;
        }
    }
    steps.list
}

/// The kinds in the configured order, then any other kind that has a template.
fn kind_order(config: &NextStepRules) -> Vec<InsightKind> {
    let mut kinds: Vec<InsightKind> = Vec::new();
    for &kind in config.order.iter().chain(config.templates.keys()) {
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    kinds
}

fn is_per_insight(template: &str) -> bool {
    template.contains("{label}") || template.contains("{action}")
}

fn per_insight_value(name: &str, finding: &Finding, prefixes: &[String]) -> Option<String> {
    match name {
        "label" => Some(finding.insight.label.clone()),
        "action" => Some(imperative(&finding.insight.label, prefixes)),
        "evidence" => first_evidence(std::slice::from_ref(&finding)),
        _ => None,
    }
}

fn per_kind_value(
    name: &str,
    kind: InsightKind,
    findings: &[Finding],
    of_kind: &[&Finding],
) -> Option<String> {
    match name {
        "labels" => Some(joined_labels(findings, kind)),
        "evidence" => first_evidence(of_kind),
        _ => None,
    }
}

/// "Chorus, Clari, Outreach and 2 more".
fn joined_labels(findings: &[Finding], kind: InsightKind) -> String {
    let all = labels_of(findings, kind, usize::MAX);
    let shown = all.len().min(STEP_LABELS);
    let mut text = all[..shown].join(", ");
    if all.len() > shown {
        text.push_str(&format!(" and {} more", all.len() - shown));
    }
    text
}

/// The first sentence of evidence, quoted.
fn first_evidence(findings: &[&Finding]) -> Option<String> {
    let text = findings
        .iter()
        .flat_map(|f| &f.insight.evidence)
        .find_map(|e| e.text.as_deref())?;
    Some(format!("\"{}\"", clip(text, EVIDENCE_CHARS)))
}

/// Replaces each `{name}` that `value` knows; anything else is left as written.
fn render(template: &str, value: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let replaced = after
            .find('}')
            .and_then(|close| Some((value(&after[..close])?, close)));
        match replaced {
            Some((text, close)) => {
                out.push_str(&text);
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// An action item as an instruction: "And I'll send you the DPA." -> "Send you the DPA".
fn imperative(text: &str, prefixes: &[String]) -> String {
    let mut rest = trim_leading(text);
    for _ in 0..MAX_PREFIX_STRIPS {
        match prefixes.iter().find_map(|p| strip_word_prefix(rest, p)) {
            Some(stripped) => rest = trim_leading(stripped),
            None => break,
        }
    }
    let rest = rest.trim_end_matches(|c: char| c.is_whitespace() || ".!,;".contains(c));
    if rest.is_empty() {
        return text.trim().to_owned();
    }
    capitalize(rest)
}

fn trim_leading(text: &str) -> &str {
    text.trim_start_matches(|c: char| c.is_whitespace() || ",-–—:".contains(c))
}

/// The list being built: clipped, deduplicated (case and final punctuation aside), capped.
struct Steps {
    list: Vec<String>,
    seen: HashSet<String>,
    max: usize,
    max_chars: usize,
}

impl Steps {
    fn new(config: &NextStepRules) -> Steps {
        Steps {
            list: Vec::new(),
            seen: HashSet::new(),
            max: config.max,
            max_chars: config.max_chars,
        }
    }

    fn push(&mut self, step: &str) {
        let step = clip(step, self.max_chars);
        let key = step
            .trim_end_matches(|c: char| c.is_whitespace() || ".!;…".contains(c))
            .to_lowercase();
        if self.is_full() || key.is_empty() || !self.seen.insert(key) {
            return;
        }
        self.list.push(step);
    }

    fn is_full(&self) -> bool {
        self.list.len() >= self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_fills_known_placeholders_only() {
        let value = |name: &str| (name == "labels").then(|| "Chorus".to_owned());
        assert_eq!(
            render("Compare {labels} {x} {", value),
            "Compare Chorus {x} {"
        );
    }

    #[test]
    fn imperative_strips_fillers_and_first_person() {
        let rules = Rules::builtin();
        let prefixes = &rules.compiled().strip_prefixes;
        assert_eq!(
            imperative("So, and I’ll go ahead and send you the DPA.", prefixes),
            "Send you the DPA"
        );
        assert_eq!(
            imperative("Send the security questionnaire by Friday", prefixes),
            "Send the security questionnaire by Friday"
        );
        assert_eq!(imperative("Okay.", prefixes), "Okay.");
    }
}
