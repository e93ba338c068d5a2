//! Typed per-call state: decoded before `Policy::handle`, encoded after it.

use crate::{Context, Decision, Event, PluginError, Policy};

/// Runs a policy for one event: decodes its state, calls it, encodes the new state.
/// The state is only returned to the host when it changed.
pub fn run<P: Policy>(event: Event, ctx: Context) -> Result<Decision, PluginError> {
    let mut state: P::State = if ctx.state.is_empty() {
        P::State::default()
    } else {
        serde_json::from_slice(&ctx.state).map_err(|e| PluginError {
            code: "bad-state".into(),
            message: format!("the call's state is not this policy's JSON state: {e}"),
        })?
    };
    let actions = P::handle(event, &ctx, &mut state)?;
    decide(actions, &state, &ctx.state)
}

/// Builds a decision, encoding `state` and omitting it when it equals `previous`.
pub fn decide(
    actions: Vec<crate::ActionRequest>,
    state: &impl serde::Serialize,
    previous: &[u8],
) -> Result<Decision, PluginError> {
    let encoded = serde_json::to_vec(state).map_err(|e| PluginError {
        code: "bad-state".into(),
        message: format!("the policy's state cannot be encoded: {e}"),
    })?;
    let unchanged = encoded == previous || (previous.is_empty() && encoded == b"null");
    Ok(Decision {
        actions,
        state: (!unchanged).then_some(encoded),
    })
}
