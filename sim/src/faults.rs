//! Fault injection: rules that make requests fail or slow down and events get lost,
//! duplicated, delayed or reordered, per operation and per event type. Rules come
//! from scenario files (`[[fault]]`) or at runtime (`POST /sim/faults`); each may
//! fire with a probability (drawn from the seeded generator) and a limited number of
//! times.
//!
//! ```toml
//! [[fault]]
//! operation = "TransferToParticipant"   # a REST operationId, or "*"
//! fault = { kind = "status", status = 503, retry_after = 1 }
//! times = 1
//!
//! [[fault]]
//! event = "RecognizeCompleted"          # an event type, or "*"
//! fault = { kind = "duplicate" }
//! probability = 0.5
//! ```

use rand::Rng;
use serde::{Deserialize, Serialize};

/// What goes wrong.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Fault {
    /// Requests: answer this status (429, 500, 503…) with the service's error body.
    /// With `after_effect`, the operation runs first (its response is lost): a retry
    /// with the same Repeatability-Request-ID then gets the real response.
    Status {
        status: u16,
        #[serde(default)]
        retry_after: Option<u64>,
        #[serde(default)]
        after_effect: bool,
    },
    /// Requests: hold the answer this long (real milliseconds; the operation runs at
    /// once, so a client that times out and retries gets a repeatability replay).
    /// Events: wait this long before delivering.
    Latency { ms: u64 },
    /// Events: never delivered.
    Drop,
    /// Events: delivered twice.
    Duplicate,
    /// Events: held back and delivered after the call's next event.
    Reorder,
}

/// A fault and where it applies.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    /// The REST operationId it applies to (`*` = every operation).
    #[serde(default)]
    pub operation: Option<String>,
    /// The event type it applies to, without `Microsoft.Communication.` (`*` = every event).
    #[serde(default)]
    pub event: Option<String>,
    pub fault: Fault,
    /// Chance of firing at each match, 0..=1.
    #[serde(default = "always")]
    pub probability: f64,
    /// Fire at most this many times.
    #[serde(default)]
    pub times: Option<u32>,
}

fn always() -> f64 {
    1.0
}

impl FaultRule {
    /// Checks the rule makes sense, naming what does not.
    pub fn validate(&self) -> Result<(), String> {
        match (&self.operation, &self.event) {
            (None, None) => return Err("a fault rule needs `operation` or `event`".into()),
            (Some(_), Some(_)) => {
                return Err(
                    "a fault rule applies to an `operation` or an `event`, not both".into(),
                );
            }
            _ => {}
        }
        if !(0.0..=1.0).contains(&self.probability) {
            return Err(format!(
                "`probability` must be within 0..=1, got {}",
                self.probability
            ));
        }
        match (&self.fault, self.event.is_some()) {
            (Fault::Status { status, .. }, false) if (400..=599).contains(status) => Ok(()),
            (Fault::Status { status, .. }, false) => {
                Err(format!("`status` must be 400..=599, got {status}"))
            }
            (Fault::Status { .. }, true) => {
                Err("a `status` fault applies to operations, not events".into())
            }
            (Fault::Drop | Fault::Duplicate | Fault::Reorder, false) => {
                Err("`drop`, `duplicate` and `reorder` apply to events, not operations".into())
            }
            _ => Ok(()),
        }
    }
}

/// What a fault applies to.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    Operation(&'a str),
    Event(&'a str),
}

/// The active rules, with how often each has fired.
#[derive(Debug, Default)]
pub struct Faults {
    rules: Vec<(u64, FaultRule, u32)>,
    next_id: u64,
}

impl Faults {
    pub fn add(&mut self, rule: FaultRule) -> Result<u64, String> {
        rule.validate()?;
        self.next_id += 1;
        self.rules.push((self.next_id, rule, 0));
        Ok(self.next_id)
    }

    pub fn remove(&mut self, id: u64) -> bool {
        let before = self.rules.len();
        self.rules.retain(|(i, ..)| *i != id);
        self.rules.len() != before
    }

    pub fn clear(&mut self) {
        self.rules.clear();
    }

    /// The rules with their ids and counts, for the API.
    #[must_use]
    pub fn list(&self) -> Vec<serde_json::Value> {
        self.rules
            .iter()
            .map(|(id, rule, fired)| serde_json::json!({"id": id, "rule": rule, "fired": fired}))
            .collect()
    }

    /// The faults that fire for `target` now (each rule at most once).
    pub fn fire(&mut self, target: Target<'_>, rng: &mut impl Rng) -> Vec<Fault> {
        let mut fired = Vec::new();
        for (_, rule, count) in &mut self.rules {
            let pattern = match target {
                Target::Operation(_) => rule.operation.as_deref(),
                Target::Event(_) => rule.event.as_deref(),
            };
            let name = match target {
                Target::Operation(n) | Target::Event(n) => n,
            };
            let matches = pattern.is_some_and(|p| p == "*" || p == name);
            if !matches || rule.times.is_some_and(|t| *count >= t) {
                continue;
            }
            if rule.probability < 1.0 && !rng.gen_bool(rule.probability) {
                continue;
            }
            *count += 1;
            fired.push(rule.fault.clone());
        }
        fired
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    fn rule(toml_text: &str) -> FaultRule {
        toml::from_str(toml_text).expect("rule parses")
    }

    #[test]
    fn rules_fire_where_they_apply_and_as_often_as_allowed() {
        let mut faults = Faults::default();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        faults
            .add(rule("operation = \"TransferToParticipant\"\ntimes = 1\nfault = { kind = \"status\", status = 503 }"))
            .expect("add");
        assert!(faults.fire(Target::Operation("Play"), &mut rng).is_empty());
        assert_eq!(
            faults
                .fire(Target::Operation("TransferToParticipant"), &mut rng)
                .len(),
            1
        );
        assert!(
            faults
                .fire(Target::Operation("TransferToParticipant"), &mut rng)
                .is_empty()
        );
        faults
            .add(rule(
                "event = \"*\"\nprobability = 0.5\nfault = { kind = \"drop\" }",
            ))
            .expect("add");
        let dropped = (0..1000)
            .filter(|_| {
                !faults
                    .fire(Target::Event("PlayCompleted"), &mut rng)
                    .is_empty()
            })
            .count();
        assert!((400..600).contains(&dropped), "{dropped}");
    }

    #[test]
    fn nonsense_rules_are_refused_with_the_reason() {
        let mut faults = Faults::default();
        let err = faults
            .add(rule(
                "event = \"PlayCompleted\"\nfault = { kind = \"status\", status = 503 }",
            ))
            .expect_err("status on event");
        assert!(err.contains("operations, not events"), "{err}");
        let err = faults
            .add(rule("operation = \"Play\"\nfault = { kind = \"drop\" }"))
            .expect_err("drop on op");
        assert!(err.contains("apply to events"), "{err}");
        let err = faults
            .add(rule("fault = { kind = \"drop\" }"))
            .expect_err("no target");
        assert!(err.contains("needs"), "{err}");
        let err = faults
            .add(rule(
                "operation = \"Play\"\nprobability = 2.0\nfault = { kind = \"latency\", ms = 5 }",
            ))
            .expect_err("p");
        assert!(err.contains("probability"), "{err}");
    }
}
