//! Virtual callers and agents: scenario files (TOML or JSON) describing the parties
//! the simulator plays.
//!
//! ```toml
//! [[caller]]
//! name = "press-2-then-3"
//! from = "+14255550123"          # a phone number, or any raw id (8:acs:…)
//! to = "+18005550100"            # the number the application answers
//! # What the caller does at each recognize, in order; once exhausted, silence.
//! inputs = [{ dtmf = "2" }, { dtmf = "3", after = 0.5 }]
//! hang_up_after = 120.0          # seconds after the call is answered (optional)
//! hold_after = 10.0              # the caller puts the call on hold (optional)…
//! hold_for = 5.0                 # …for this long
//! # The operations the application is expected to make, for the scenario report.
//! expect = ["answer", "recognize", "recognize", "play", "terminate"]
//!
//! [[caller.agent]]               # parties reachable during this call
//! id = "+15550001111"
//! answer = "accept"              # accept | decline | no-answer
//! ring = 2.0                     # seconds before answering or declining
//! hang_up_after = 5.0            # seconds after answering
//! ```
//!
//! Input forms: `{ dtmf = "12#", after = 1.0 }` (keys pressed `after` seconds after the
//! prompt ends, or during it with `barge_in = true`), `{ say = "sales", confidence = 0.9 }`
//! (speech or a choice phrase), `{ silence = true }` and `{ hang_up = 1.5 }` (seconds
//! into the prompt). Durations are simulated seconds, divided by the time scale.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// A scenario file: callers to place and the agents they can reach.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    #[serde(default, rename = "caller")]
    pub callers: Vec<Caller>,
    /// Agents reachable from every call.
    #[serde(default, rename = "agent")]
    pub agents: Vec<Agent>,
    /// Faults to inject from the start (see `faults`).
    #[serde(default, rename = "fault")]
    pub faults: Vec<crate::faults::FaultRule>,
}

impl Scenario {
    /// Reads a scenario from a `.toml` or `.json` file.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("reading scenario {}: {e}", path.display()))?;
        Self::parse(
            &text,
            path.extension().and_then(|e| e.to_str()) == Some("json"),
        )
        .map_err(|e| anyhow::anyhow!("scenario {}: {e}", path.display()))
    }

    pub fn parse(text: &str, json: bool) -> anyhow::Result<Self> {
        let scenario: Self = if json {
            serde_json::from_str(text)?
        } else {
            toml::from_str(text)?
        };
        for caller in &scenario.callers {
            caller.validate()?;
        }
        for (i, fault) in scenario.faults.iter().enumerate() {
            fault
                .validate()
                .map_err(|e| anyhow::anyhow!("fault #{}: {e}", i + 1))?;
        }
        Ok(scenario)
    }
}

/// A party that dials the application.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Caller {
    pub name: String,
    pub from: String,
    pub to: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub inputs: Vec<Input>,
    #[serde(default)]
    pub hang_up_after: Option<f64>,
    /// Put the call on hold this many seconds after it is answered…
    #[serde(default)]
    pub hold_after: Option<f64>,
    /// …for this long.
    #[serde(default = "default_hold")]
    pub hold_for: f64,
    #[serde(default)]
    pub expect: Vec<String>,
    #[serde(default, rename = "agent")]
    pub agents: Vec<Agent>,
}

impl Caller {
    fn validate(&self) -> anyhow::Result<()> {
        for input in &self.inputs {
            if let Input::Dtmf { dtmf, .. } = input
                && let Some(bad) = dtmf.chars().find(|c| crate::media::tone_name(*c).is_none())
            {
                anyhow::bail!(
                    "caller {}: {bad:?} is not a DTMF key (0-9, A-D, #, *)",
                    self.name
                );
            }
        }
        Ok(())
    }
}

/// What a caller does when the application listens for input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum Input {
    Dtmf {
        dtmf: String,
        #[serde(default = "default_after")]
        after: f64,
        #[serde(default)]
        barge_in: bool,
    },
    Say {
        say: String,
        #[serde(default = "default_confidence")]
        confidence: f64,
        #[serde(default = "default_after")]
        after: f64,
    },
    Silence {
        silence: bool,
    },
    HangUp {
        hang_up: f64,
    },
}

fn default_hold() -> f64 {
    5.0
}

fn default_after() -> f64 {
    0.5
}

fn default_confidence() -> f64 {
    0.9
}

/// How a party answers an invitation or a transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Answer {
    #[default]
    Accept,
    Decline,
    NoAnswer,
}

/// A party the application can transfer to, invite or call.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Agent {
    pub id: String,
    #[serde(default)]
    pub answer: Answer,
    #[serde(default = "default_ring")]
    pub ring: f64,
    #[serde(default)]
    pub hang_up_after: Option<f64>,
}

fn default_ring() -> f64 {
    1.0
}

impl Agent {
    /// The party used when nobody scripted the target: answers after a second, stays.
    #[must_use]
    pub fn default_for(id: &str) -> Self {
        Self {
            id: id.to_owned(),
            answer: Answer::Accept,
            ring: default_ring(),
            hang_up_after: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_forms() {
        let s = Scenario::parse(
            r#"
            [[caller]]
            name = "x"
            from = "+1"
            to = "+2"
            inputs = [{ dtmf = "2" }, { dtmf = "3", after = 1.0, barge_in = true }, { say = "sales" }, { silence = true }, { hang_up = 1.5 }]
            [[caller.agent]]
            id = "+3"
            answer = "decline"
            "#,
            false,
        )
        .expect("parse");
        let c = &s.callers[0];
        assert_eq!(c.inputs.len(), 5);
        assert_eq!(
            c.inputs[1],
            Input::Dtmf {
                dtmf: "3".into(),
                after: 1.0,
                barge_in: true
            }
        );
        assert_eq!(c.inputs[4], Input::HangUp { hang_up: 1.5 });
        assert_eq!(c.agents[0].answer, Answer::Decline);
    }

    #[test]
    fn bad_scenarios_name_the_problem() {
        let err = Scenario::parse(
            "[[caller]]\nname='x'\nfrom='+1'\nto='+2'\ninputs=[{dtmf='1x'}]",
            false,
        )
        .expect_err("bad key");
        assert!(err.to_string().contains("'x' is not a DTMF key"), "{err}");
        let err = Scenario::parse(
            "[[caller]]\nname='x'\nfrom='+1'\nto='+2'\ncolour='red'",
            false,
        )
        .expect_err("unknown");
        assert!(err.to_string().contains("colour"), "{err}");
    }
}
