//! Write Switchboard call policies in Rust.
//!
//! A policy is a type implementing [`Policy`], exported with [`export_policy!`] from a
//! `cdylib` crate built for `wasm32-wasip2`:
//!
//! ```ignore
//! use switchboard_sdk::{act, Context, Event, Policy, PluginError, ActionRequest};
//!
//! struct Hello;
//! impl Policy for Hello {
//!     type State = ();
//!     fn handle(event: Event, _ctx: &Context, _state: &mut ()) -> Result<Vec<ActionRequest>, PluginError> {
//!         Ok(match event {
//!             Event::IncomingCall(_) => vec![act::answer()],
//!             Event::CallConnected(_) => vec![act::play(act::text("Hello!")).context("hello")],
//!             _ => vec![],
//!         })
//!     }
//! }
//! switchboard_sdk::export_policy!(Hello);
//! ```
//!
//! Map of the crate:
//! - [`bindings`]: the generated contract (`wit/policy.wit`); its types are re-exported
//!   at the crate root (`Event`, `Action`, `Context`, …).
//! - [`act`]: builders for every action.
//! - [`log`]: the host's log, the only thing a policy can reach.
//! - `state`: typed per-call state, JSON between events (so a policy can move between
//!   languages without losing calls).

// The generated code names this crate by its public path, from inside it too.
extern crate self as switchboard_sdk;

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "call-policy",
        path: "../../../wit",
        pub_export_macro: true,
        default_bindings_module: "switchboard_sdk::bindings",
        runtime_path: "switchboard_sdk::__wit_bindgen::rt",
    });
}

#[doc(hidden)]
pub use wit_bindgen as __wit_bindgen;

pub mod act;
mod ext;
pub mod log;
mod state;

pub use bindings::switchboard::policy::types::*;
pub use ext::keys;
pub use state::{decide, run};

/// A call policy: decides what to do for each event of a call.
pub trait Policy {
    /// Per-call state, handed back with the next event of the same call. Encoded as
    /// JSON; `Default` at the first event.
    type State: serde::Serialize + serde::de::DeserializeOwned + Default;

    /// Decides the actions for one event. An `Err` makes the host run the tenant's
    /// fallback for this call.
    fn handle(
        event: Event,
        ctx: &Context,
        state: &mut Self::State,
    ) -> Result<Vec<ActionRequest>, PluginError>;
}

/// Exports a [`Policy`] as the component's `handle` function.
#[macro_export]
macro_rules! export_policy {
    ($policy:ty) => {
        const _: () = {
            struct Export;
            impl $crate::bindings::Guest for Export {
                fn handle(
                    event: $crate::Event,
                    ctx: $crate::Context,
                ) -> ::core::result::Result<$crate::Decision, $crate::PluginError> {
                    $crate::run::<$policy>(event, ctx)
                }
            }
    $crate::bindings::export!(Export with_types_in $crate::bindings);
        };
    };
}
