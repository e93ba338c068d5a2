//! The simulator's settings.

use crate::script::Scenario;

/// How Event Grid events are encoded for a subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventSchema {
    EventGrid,
    CloudEvents,
}

/// An Event Grid subscription: where IncomingCall (and the other Event Grid events)
/// go.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Subscription {
    pub endpoint: String,
    #[serde(default = "default_schema")]
    pub schema: EventSchema,
    /// Event types without the `Microsoft.Communication.` prefix; empty = all.
    #[serde(default)]
    pub event_types: Vec<String>,
    /// Events per delivery request (1 = no batching).
    #[serde(default = "one")]
    pub max_events_per_batch: usize,
}

fn default_schema() -> EventSchema {
    EventSchema::EventGrid
}

fn one() -> usize {
    1
}

impl Subscription {
    #[must_use]
    pub fn wants(&self, event_type: &str) -> bool {
        self.event_types.is_empty() || self.event_types.iter().any(|t| t == event_type)
    }
}

/// Everything the simulator is configured with.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The resource's access key (base64), as in the connection string.
    pub access_key: String,
    /// The resource's immutable id: the audience of callback tokens.
    pub resource_id: String,
    /// Simulated seconds per real second (60 runs a one-minute call in a second).
    pub time_scale: f64,
    /// Seed of every id and random choice.
    pub seed: u64,
    pub subscriptions: Vec<Subscription>,
    /// Agents reachable from every call, and callers `start` places.
    pub scenario: Scenario,
    /// Attempts per callback delivery before it is given up.
    pub callback_attempts: u32,
    /// Origins (`http://host:port`) deliveries (callbacks and Event Grid events) are
    /// spread over in turn, whatever the URI's own: a load balancer in front of
    /// several replicas.
    pub callback_spread: Vec<String>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            // base64("switchboard-simulator-access-key"): a key anyone can use locally.
            access_key: "c3dpdGNoYm9hcmQtc2ltdWxhdG9yLWFjY2Vzcy1rZXk=".into(),
            resource_id: "6d4c0c6e-5b0f-4a8a-9d3e-0a1b2c3d4e5f".into(),
            time_scale: 1.0,
            seed: 42,
            subscriptions: Vec::new(),
            scenario: Scenario::default(),
            callback_attempts: 4,
            callback_spread: Vec::new(),
        }
    }
}
