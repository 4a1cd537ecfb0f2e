//! Priority and its reason (architecture §8).
//!
//! The checks run in a fixed order and the first that applies wins: urgent, high, low,
//! medium. Low comes after high on purpose: shortness or an email's brevity only lowers
//! the priority of a conversation that carries no risk.

use super::scan::{Found, capitalize, labels_of};
use super::{Deal, InsightKind, Priority, Rules, Subject, SubjectKind};

/// Labels quoted in a reason, per kind.
const REASON_LABELS: usize = 3;

pub(crate) fn decide(rules: &Rules, subject: &Subject, found: &Found) -> (Priority, String) {
    if let Some(reason) = urgent(rules, subject, found) {
        return (Priority::Urgent, reason);
    }
    if let Some(reason) = high(rules, found) {
        return (Priority::High, reason);
    }
    if let Some(reason) = low(rules, subject, found) {
        return (Priority::Low, reason);
    }
    (Priority::Medium, medium_reason(rules, subject, found))
}

/// An urgent kind (churn risk) on a large or renewal opportunity.
fn urgent(rules: &Rules, subject: &Subject, found: &Found) -> Option<String> {
    let risks = risk_summary(found, &rules.priority.urgent_kinds)?;
    let deal = deal_at_stake(rules, &subject.deals)?;
    Some(format!("{} on {deal}.", capitalize(&risks)))
}

/// High kinds (churn, competitor, negative sentiment) or many action items.
fn high(rules: &Rules, found: &Found) -> Option<String> {
    let mut parts: Vec<String> = risk_summary(found, &rules.priority.high_kinds)
        .into_iter()
        .collect();
    let many = rules.priority.many_action_items;
    if many > 0 && found.action_items >= many {
        parts.push(format!("{} action items", found.action_items));
    }
    (!parts.is_empty()).then(|| format!("{}.", capitalize(&parts.join("; "))))
}

/// A short call (or meeting with a recorded call), or an informational email.
fn low(rules: &Rules, subject: &Subject, found: &Found) -> Option<String> {
    match subject.kind {
        SubjectKind::Email => informational(found).then(|| {
            "Informational email: no question, request, action item or risk signal.".to_owned()
        }),
        SubjectKind::Meeting if subject.utterances.is_empty() => None,
        SubjectKind::Call | SubjectKind::Meeting => {
            let limit = rules.priority.short_call_seconds;
            let seconds = subject
                .duration_seconds
                .filter(|d| d.is_finite() && *d >= 0.0)?;
            (seconds < limit).then(|| {
                format!(
                    "Short call ({}, under {}) with no risk signal.",
                    minutes(seconds),
                    minutes(limit)
                )
            })
        }
    }
}

/// No question, request or action item, and nothing found in the text (CRM facts about
/// the deal do not make an email more than informational).
fn informational(found: &Found) -> bool {
    !found.asks
        && found.action_items == 0
        && found.findings.iter().all(|f| is_crm_only(f.insight.kind))
}

fn is_crm_only(kind: InsightKind) -> bool {
    matches!(kind, InsightKind::LargeDeal | InsightKind::Renewal)
}

fn medium_reason(rules: &Rules, subject: &Subject, found: &Found) -> String {
    let text_kinds: Vec<&str> = kinds_found(found)
        .into_iter()
        .filter(|k| !is_crm_only(*k))
        .map(InsightKind::describe)
        .collect();
    match subject.kind {
        SubjectKind::Email if found.asks => "The email asks a question or makes a request.".into(),
        SubjectKind::Email if found.action_items > 0 => "The email carries an action item.".into(),
        SubjectKind::Email => format!("The email mentions {}.", text_kinds.join(", ")),
        SubjectKind::Meeting if subject.utterances.is_empty() => {
            "A meeting without a recorded call, and no urgent or high-priority signal.".into()
        }
        SubjectKind::Call | SubjectKind::Meeting => match subject.duration_seconds {
            Some(d) if d.is_finite() && d >= rules.priority.short_call_seconds => format!(
                "A {} call with no urgent or high-priority signal.",
                minutes(d)
            ),
            _ => "No urgent or high-priority signal.".into(),
        },
    }
}

/// The kinds present, each once, in order.
fn kinds_found(found: &Found) -> Vec<InsightKind> {
    let mut kinds: Vec<InsightKind> = found.findings.iter().map(|f| f.insight.kind).collect();
    kinds.dedup();
    kinds
}

/// "churn risk (cancel, not renewing); competitor mentioned (Chorus)" for the `kinds`
/// found, or `None` when none of them was.
fn risk_summary(found: &Found, kinds: &[InsightKind]) -> Option<String> {
    let mut parts = Vec::new();
    for &kind in kinds {
        let labels = labels_of(&found.findings, kind, REASON_LABELS);
        if labels.is_empty() {
            continue;
        }
        let part = match kind {
            // The label ("External sentiment") adds nothing; the score does.
            InsightKind::NegativeSentiment => match found.sentiment_score {
                Some(score) => format!("{} (score {score:.2})", kind.describe()),
                None => kind.describe().to_owned(),
            },
            _ => format!("{} ({})", kind.describe(), labels.join(", ")),
        };
        if !parts.contains(&part) {
            parts.push(part);
        }
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// "a large renewal opportunity (Acme, amount 250000)" for the deal that makes a churn
/// risk urgent, preferring one that is both large and a renewal.
fn deal_at_stake(rules: &Rules, deals: &[Deal]) -> Option<String> {
    let markers = &rules.compiled().renewal_markers;
    let threshold = rules.priority.large_deal_amount;
    let mut best: Option<(u8, &Deal, bool, bool)> = None;
    for deal in deals {
        let large = deal_is_large(deal, threshold);
        let renewal = deal_is_renewal(deal, markers);
        let weight = u8::from(large) + u8::from(renewal);
        if weight > best.map_or(0, |b| b.0) {
            best = Some((weight, deal, large, renewal));
        }
    }
    let (_, deal, large, renewal) = best?;
    let name = deal_name(deal);
    let amount = deal
        .amount
        .map(|a| format!(", amount {a:.0}"))
        .unwrap_or_default();
    Some(match (large, renewal) {
        (true, true) => format!("a large renewal opportunity ({name}{amount})"),
        (true, false) => format!("a large opportunity ({name}{amount})"),
        _ => format!("a renewal opportunity ({name}{amount})"),
    })
}

/// At or above the large-deal threshold.
pub(crate) fn deal_is_large(deal: &Deal, threshold: f64) -> bool {
    deal.amount.is_some_and(|a| a.is_finite() && a >= threshold)
}

/// The opportunity type, name or stage contains a renewal marker (lowercase).
pub(crate) fn deal_is_renewal(deal: &Deal, markers: &[String]) -> bool {
    [&deal.kind, &deal.name, &deal.stage]
        .into_iter()
        .flatten()
        .map(|field| field.to_lowercase())
        .any(|field| markers.iter().any(|m| field.contains(m.as_str())))
}

pub(crate) fn deal_name(deal: &Deal) -> &str {
    deal.name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or("Unnamed opportunity")
}

/// "Acme Renewal: amount 250000, type Renewal, stage Negotiation, closes 2025-06-30".
pub(crate) fn deal_summary(deal: &Deal) -> String {
    let mut facts = Vec::new();
    if let Some(amount) = deal.amount.filter(|a| a.is_finite()) {
        facts.push(format!("amount {amount:.0}"));
    }
    for (what, value) in [
        ("type", &deal.kind),
        ("stage", &deal.stage),
        ("closes", &deal.close_date),
    ] {
        if let Some(value) = value.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
            facts.push(format!("{what} {value}"));
        }
    }
    if facts.is_empty() {
        deal_name(deal).to_owned()
    } else {
        format!("{}: {}", deal_name(deal), facts.join(", "))
    }
}

/// "3 min" or "45 s".
fn minutes(seconds: f64) -> String {
    if seconds >= 60.0 {
        format!("{:.0} min", seconds / 60.0)
    } else {
        format!("{seconds:.0} s")
    }
}
