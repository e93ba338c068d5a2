//! How an invocation can end. Every way is a variant: callers match on them to pick
//! between running a decision and running the tenant's fallback.

use std::time::Duration;

use crate::contract::{Decision, Level, PluginError};

/// The result of invoking a plugin for one event.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The plugin decided, within every limit.
    Decision(Decision),
    /// The plugin said it could not decide.
    PluginError(PluginError),
    /// The plugin trapped (panic, unreachable, stack overflow, bad memory access…).
    Trap(String),
    /// The deadline passed before the plugin returned: it had run its deadline's length
    /// (CPU time of its thread), waited past it, or passed the wall-clock ceiling.
    DeadlineExceeded(Duration),
    /// The plugin used all of its fuel.
    OutOfFuel(u64),
    /// The plugin tried to grow its memory (or a table) past its limit.
    MemoryLimit { limit_bytes: usize },
    /// The plugin returned, but what it returned breaks a limit.
    InvalidOutput(InvalidOutput),
}

impl Outcome {
    /// A short stable name for metrics and logs.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Outcome::Decision(_) => "decision",
            Outcome::PluginError(_) => "plugin-error",
            Outcome::Trap(_) => "trap",
            Outcome::DeadlineExceeded(_) => "deadline-exceeded",
            Outcome::OutOfFuel(_) => "out-of-fuel",
            Outcome::MemoryLimit { .. } => "memory-limit",
            Outcome::InvalidOutput(_) => "invalid-output",
        }
    }

    /// Whether the host must run the tenant's fallback instead of a decision.
    #[must_use]
    pub fn needs_fallback(&self) -> bool {
        !matches!(self, Outcome::Decision(_))
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Decision(d) => write!(f, "decision with {} action(s)", d.actions.len()),
            Outcome::PluginError(e) => write!(f, "plugin error `{}`: {}", e.code, e.message),
            Outcome::Trap(reason) => write!(f, "trapped: {reason}"),
            Outcome::DeadlineExceeded(d) => write!(f, "exceeded its {} ms deadline", d.as_millis()),
            Outcome::OutOfFuel(fuel) => write!(f, "ran out of fuel ({fuel})"),
            Outcome::MemoryLimit { limit_bytes } => {
                write!(f, "hit its memory limit of {} KiB", limit_bytes >> 10)
            }
            Outcome::InvalidOutput(why) => write!(f, "returned invalid output: {why}"),
        }
    }
}

/// Why a returned decision was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidOutput {
    #[error("{count} actions, more than the limit of {max}")]
    TooManyActions { count: usize, max: usize },
    #[error("actions take {bytes} bytes, more than the limit of {max}")]
    OutputTooLarge { bytes: usize, max: usize },
    #[error("state of {bytes} bytes, more than the limit of {max}")]
    StateTooLarge { bytes: usize, max: usize },
}

/// One line a plugin logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub level: Level,
    pub message: String,
}

/// Everything one invocation produced besides its outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    pub outcome: Outcome,
    pub logs: Vec<LogLine>,
    /// Log bytes over the limit, dropped.
    pub dropped_log_bytes: usize,
    /// Instantiation plus call.
    pub elapsed: Duration,
    /// Fuel consumed, when the runtime meters fuel.
    pub fuel_consumed: Option<u64>,
    /// Largest linear memory size the plugin reached.
    pub peak_memory_bytes: usize,
}
