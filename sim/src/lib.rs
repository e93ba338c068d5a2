//! A simulator of Azure Communication Services Call Automation, on loopback.
//!
//! It serves the service's REST API (api-version 2025-05-15, and the versions the
//! official SDKs send) over HTTP and HTTPS, authenticates requests with HMAC-SHA256
//! as the service does, honours repeatability headers, plays the parties of each call
//! from scenario scripts, and sends events: Event Grid deliveries to subscriptions
//! and CloudEvents callbacks signed with JWTs whose keys it publishes.
//!
//! Map of the crate:
//! - [`server`]: listeners (HTTP, HTTPS), router, start/stop.
//! - [`api`]: routing of `/calling/…`, auth, api-version, repeatability, dispatch.
//! - [`ops`]: each REST operation on the simulated world.
//! - [`world`]: the state: ringing calls, connections, participants, media, recordings,
//!   timelines; event emission.
//! - [`delivery`]: callbacks (ordered per call, JWT-signed, retried) and Event Grid
//!   (both schemas, validation handshakes, retries).
//! - [`script`]: scenario files: virtual callers and agents.
//! - [`faults`]: injected failures of requests and events.
//! - [`inspect`]: the `/sim/…` API for tests and tools.
//! - [`load`]: the load generator and its report.
//! - [`hmac_auth`], [`jwt`], [`tls`], [`identifier`], [`media`], [`error`], [`config`]:
//!   the service's wire details.
//!
//! Must not depend on the host or on wasmtime: it stands on its own.

pub mod api;
pub mod config;
pub mod delivery;
pub mod error;
pub mod faults;
pub mod hmac_auth;
pub mod identifier;
pub mod inspect;
pub mod jwt;
pub mod load;
pub mod media;
pub mod ops;
pub mod script;
pub mod server;
pub mod tls;
pub mod world;

pub use config::{EventSchema, SimConfig, Subscription};
pub use server::{Listen, Running, start};
