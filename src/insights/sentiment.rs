//! The lexicon sentiment scorer (architecture §8: a score in [-1, 1] over the external parties'
//! sentences).
//!
//! Deliberately simple and explainable: count positive and negative lexicon words, flip a
//! word that follows a negator closely ("not happy"), and score
//! `(positive - negative) / (positive + negative + damping)`. The damping term keeps a
//! single "great" from scoring a call +1; with the default damping of 2, three negative
//! words and nothing else score -0.6.

use std::collections::{HashMap, HashSet};

use super::text::Words;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Polarity {
    Positive,
    Negative,
}

/// The compiled word lists.
#[derive(Debug, Clone, Default)]
pub(crate) struct Lexicon {
    polarity: HashMap<String, Polarity>,
    negators: HashSet<String>,
    window: usize,
}

/// Counts of lexicon words in one sentence.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub positive: u32,
    pub negative: u32,
}

impl Counts {
    pub(crate) fn add(&mut self, other: Counts) {
        self.positive += other.positive;
        self.negative += other.negative;
    }

    pub(crate) fn words(self) -> u32 {
        self.positive + self.negative
    }

    /// The damped score; see the module documentation.
    pub(crate) fn score(self, damping: f64) -> f64 {
        let total = f64::from(self.words()) + damping;
        if total <= 0.0 {
            return 0.0;
        }
        (f64::from(self.positive) - f64::from(self.negative)) / total
    }
}

impl Lexicon {
    /// `positive`, `negative` and `negators` are single words (checked when the rules
    /// load); a word in both lists counts as negative, the cautious reading.
    pub(crate) fn new(
        positive: &[String],
        negative: &[String],
        negators: &[String],
        window: usize,
    ) -> Lexicon {
        let mut polarity = HashMap::new();
        for word in positive {
            polarity.insert(word.to_lowercase(), Polarity::Positive);
        }
        for word in negative {
            polarity.insert(word.to_lowercase(), Polarity::Negative);
        }
        Lexicon {
            polarity,
            negators: negators.iter().map(|w| w.to_lowercase()).collect(),
            window,
        }
    }

    /// Counts the lexicon words of one sentence, a word within `window` words after a
    /// negator counting for the other side.
    pub(crate) fn count(&self, words: &Words) -> Counts {
        let mut counts = Counts::default();
        let mut last_negator: Option<usize> = None;
        for (i, word) in words.iter().enumerate() {
            if self.negators.contains(word) {
                last_negator = Some(i);
                continue;
            }
            let Some(&polarity) = self.polarity.get(word) else {
                continue;
            };
            let negated = last_negator.is_some_and(|n| i - n <= self.window);
            match (polarity, negated) {
                (Polarity::Positive, false) | (Polarity::Negative, true) => counts.positive += 1,
                (Polarity::Negative, false) | (Polarity::Positive, true) => counts.negative += 1,
            }
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lexicon() -> Lexicon {
        let list = |s: &[&str]| s.iter().map(|w| w.to_string()).collect::<Vec<_>>();
        Lexicon::new(
            &list(&["happy", "great"]),
            &list(&["problem", "slow"]),
            &list(&["not", "no", "don't"]),
            3,
        )
    }

    fn count(text: &str) -> Counts {
        let mut words = Words::default();
        words.fill(text);
        lexicon().count(&words)
    }

    #[test]
    fn negators_flip_nearby_words_only() {
        assert_eq!(
            count("We are not happy."),
            Counts {
                positive: 0,
                negative: 1
            }
        );
        assert_eq!(
            count("No problem at all"),
            Counts {
                positive: 1,
                negative: 0
            }
        );
        assert_eq!(
            count("Not that I mind, but it is slow and we are happy"),
            Counts {
                positive: 1,
                negative: 1
            }
        );
        assert_eq!(
            count("I don’t think it's great"),
            Counts {
                positive: 0,
                negative: 1
            }
        );
    }

    #[test]
    fn score_is_damped_and_bounded() {
        let three_bad = Counts {
            positive: 0,
            negative: 3,
        };
        assert!((three_bad.score(2.0) + 0.6).abs() < 1e-9);
        assert_eq!(three_bad.score(0.0), -1.0);
        assert_eq!(Counts::default().score(0.0), 0.0);
        let good = Counts {
            positive: 100,
            negative: 0,
        };
        assert!(good.score(2.0) < 1.0 && good.score(2.0) > 0.9);
    }
}
