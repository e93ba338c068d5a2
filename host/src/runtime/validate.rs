//! Checking an uploaded component before it is accepted, in the order a tenant can fix
//! things: it is a component, it compiles, it targets the `call-policy` world of a
//! supported contract version (and imports nothing else), and a smoke invocation (an
//! IncomingCall, with the tenant's config) returns within the tenant's limits. Loading through the runtime also
//! precompiles it into the artifact cache: the first call on the new version pays no
//! compile.

use super::{Limits, LoadError, Outcome, Plugin, Runtime};
use crate::contract::ConfigEntry;
use crate::scenario;

/// The check an upload failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Check {
    Component,
    Compile,
    World,
    Smoke,
}

/// Why an upload was refused: the check and what it found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[error("{check:?} check failed: {message}")]
pub struct Rejected {
    pub check: Check,
    pub message: String,
}

/// Validates `bytes` as a plugin under `limits`, its smoke run seeing `config`; the
/// loaded plugin if it passes.
pub fn validate(
    runtime: &Runtime,
    bytes: &[u8],
    limits: &Limits,
    config: Vec<ConfigEntry>,
) -> Result<Plugin, Rejected> {
    let plugin = runtime.load(bytes).map_err(|e| Rejected {
        check: match e {
            LoadError::NotAComponent(_) => Check::Component,
            LoadError::Compile(_) | LoadError::Cache(_) | LoadError::NoCache => Check::Compile,
            LoadError::Imports(_) | LoadError::WrongWorld(_) => Check::World,
        },
        message: e.to_string(),
    })?;
    let mut ctx = scenario::context();
    ctx.config = config;
    let invocation = plugin.invoke(&scenario::incoming_call(), &ctx, limits);
    match invocation.outcome {
        // It ran and answered; a policy may refuse an event it has no config for.
        Outcome::Decision(_) | Outcome::PluginError(_) => Ok(plugin),
        other => Err(Rejected {
            check: Check::Smoke,
            message: format!(
                "on a sample IncomingCall the plugin {other} (within the limits: {} ms, {} MiB)",
                limits.deadline_ms,
                limits.memory_bytes >> 20
            ),
        }),
    }
}
