//! What comes in from the service.
//!
//! - [`auth`]: the JWT bearer token of every callback, validated against the
//!   service's OpenID configuration and keys.
//! - [`http`]: the endpoints: Event Grid, callbacks, health.
//!
//! Must not: run plugins or call the service; it admits or refuses.

pub mod auth;
pub mod http;
