//! Per-invocation limits, as data with safe defaults (the manifest a tenant's limits
//! are validated against). Nothing here enforces anything: `store` and `invoke` do.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What one invocation of a plugin may use. Every field has a default that suits a
/// call policy; operators lower or raise them per tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Time for instantiation plus the call: the plugin's own running (CPU time of the
    /// thread running it), and in wall time at most this plus max(4×, 100 ms) (a
    /// machine starving the thread); WASI waits end at it in wall time. Enforced by
    /// epoch interruption (`watchdog`).
    pub deadline_ms: u32,
    /// Fuel (roughly, wasm instructions) for one invocation; `None` = unmetered.
    /// Requires a runtime built with fuel metering.
    pub fuel: Option<u64>,
    /// Linear memory, all memories of the instance together.
    pub memory_bytes: usize,
    /// Elements of any one table.
    pub table_elements: usize,
    /// Core instances (Python and JS components have dozens).
    pub instances: usize,
    /// Actions in one decision.
    pub max_actions: usize,
    /// The decision's actions, measured as their JSON encoding.
    pub max_output_bytes: usize,
    /// The per-call state returned in a decision.
    pub max_state_bytes: usize,
    /// Log text kept per invocation; the rest is dropped and counted.
    pub max_log_bytes: usize,
    /// Whether each event gets a fresh instance (the default) or the events of one
    /// call share one.
    pub reuse: Reuse,
}

/// Which events one plugin instance serves.
///
/// `fresh` keeps nothing of one event for the next: the plugin's memory starts from
/// its initial image every time. `per-call` keeps one instance for all events of one
/// call (never across calls or tenants), which spares heavy guests (Python, JS) their
/// instantiation on every event, at the cost of an instance (and its memory) held for
/// the call's whole life. A call's instance is dropped when it traps or runs out of
/// anything, and the next event starts afresh; the per-call state the plugin returns
/// stays the only state the host guarantees (a call resumed on another replica starts
/// a new instance).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reuse {
    #[default]
    Fresh,
    PerCall,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            deadline_ms: 20,
            fuel: None,
            memory_bytes: 64 << 20,
            table_elements: 20_000,
            instances: 100,
            max_actions: 64,
            max_output_bytes: 256 << 10,
            max_state_bytes: 64 << 10,
            max_log_bytes: 4 << 10,
            reuse: Reuse::Fresh,
        }
    }
}

impl Limits {
    #[must_use]
    pub fn deadline(&self) -> Duration {
        Duration::from_millis(u64::from(self.deadline_ms))
    }
}
