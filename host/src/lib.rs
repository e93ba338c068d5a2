//! Switchboard: a multi-tenant host for Azure Communication Services Call Automation
//! policies written as WebAssembly components.
//!
//! Map of the crate:
//! - [`acs`]: the Call Automation REST client (signing, repeatability, retries),
//!   contract actions as REST requests, service events as contract events.
//! - [`admin`]: the admin API (tenants, keys, plugins, routes) and its OpenAPI document.
//! - [`author`]: plugin author tooling: events from files run through a plugin
//!   locally (`switchboard plugin run`).
//! - [`admission`]: which actions a decision may run (per event, call state, tenant).
//! - [`config`]: typed settings (TOML + environment) of `switchboard serve`.
//! - [`contract`]: the `switchboard:policy` world (the one `bindgen!`), and the
//!   contract types every other module uses.
//! - [`dedupe`]: bounded windows of recently seen ids (redelivered events).
//! - [`describe`]: one-line descriptions of events and actions for people.
//! - [`runtime`]: engine, plugin loading and caching, sandboxed invocation under
//!   limits, typed outcomes.
//! - [`ingress`]: what comes in from the service: Event Grid and callback endpoints,
//!   callback authentication (JWT).
//! - [`invariants`]: what must hold for any input at the edges (the fuzz targets'
//!   checks, replayed as regression tests).
//! - [`directory`]: who answers a call (config tenants, then store routes), pinned to
//!   the plugin version active when it rang.
//! - [`executor`]: per-call workers: events in order, plugin decisions, actions out,
//!   action-failed, fallback; durable calls saved before their actions run.
//! - [`replica`]: this replica's calls in a shared store: leases, takeover of a
//!   stopped replica's calls, wake-ups from replicas that received their events.
//! - [`metrics`]: the Prometheus metrics the host records and `/metrics` serves.
//! - [`store`]: the durable store (SQLite or PostgreSQL): tenants, keys, plugins,
//!   routes, calls in progress and their inboxes, the call log.
//! - [`server`]: the app factory (`App::build` → `run_until_stopped`).
//! - [`native`]: policies written in plain Rust: the IVR baseline for benchmarks and
//!   equivalence tests, and the fallback for calls whose plugin failed.
//! - [`scenario`]: the `ivr.md` caller scripts as event sequences, run through a policy
//!   (the demo, tests and benchmarks share it).
//!
//! The `switchboard` binary (`src/main.rs`) is thin glue over these.

pub mod acs;
pub mod admin;
pub mod admission;
pub mod author;
pub mod config;
pub mod contract;
pub mod dedupe;
pub mod describe;
pub mod directory;
pub mod executor;
pub mod ingress;
pub mod invariants;
pub mod metrics;
pub mod native;
pub mod replica;
pub mod runtime;
pub mod scenario;
pub mod server;
pub mod store;
