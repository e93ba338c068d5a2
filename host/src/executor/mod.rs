//! The per-call executor: events of one call are handled one at a time, in order, by
//! that call's worker; different calls run concurrently. For each event the worker
//! builds the context, invokes the tenant's plugin (on the blocking pool, so a plugin
//! that spins until its deadline never holds an async worker), admits the decision's
//! actions, and runs them in order against the service, each tagged with an operation
//! context that maps its completion back. A refused or failed action becomes an
//! `action-failed` event for the plugin (at most [`MAX_FAILURE_DEPTH`] deep); a plugin
//! that fails puts the call in fallback.
//!
//! - [`tags`]: the host's operation-context tags.
//! - [`order`]: events that arrive before what they follow are held back.
//! - `worker`: one call's worker task.
//!
//! Must not: parse HTTP or authenticate; ingress does, and hands over `Received` events.

pub mod order;
pub mod tags;
mod worker;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{broadcast, mpsc};
use tokio_util::task::TaskTracker;

use crate::acs::{self, events::Received};
use crate::admission::Allowances;
use crate::contract::{ConfigEntry, Event};
use crate::dedupe::Window;
use crate::metrics;
use crate::runtime::{Limits, Plugin};

/// How deep `action-failed` events may chain (a plugin answering a failure with an
/// action that fails again).
pub const MAX_FAILURE_DEPTH: u32 = 2;

/// A tenant as the executor needs it.
#[derive(Debug, Clone)]
pub struct TenantRuntime {
    pub id: String,
    pub plugin: Plugin,
    pub config: Vec<ConfigEntry>,
    pub limits: Limits,
    pub allowances: Allowances,
}

/// How the executor behaves.
#[derive(Debug, Clone)]
pub struct ExecutorConfig {
    /// The host's URL as the service reaches it (callback URIs start with it).
    pub public_url: String,
    /// How long an event that arrived before what it follows is held back.
    pub reorder_hold: Duration,
}

/// What became of a delivered callback event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Queued for the call's worker.
    Accepted,
    /// Already taken (same event id): dropped.
    Duplicate,
    /// The call ended on this host: nothing left to do with it.
    Ended,
    /// No call has this token (unknown or forged).
    Unknown,
}

/// One event handled, as the journal records it (and the store keeps it).
pub use crate::store::calls::CallEvent as Handled;

/// Events of one call, handled in order by one worker.
#[derive(Debug)]
struct CallHandle {
    /// Boxed: the channel allocates slots in blocks of 32, and an event is 400 bytes;
    /// a pointer keeps an idle call's block small.
    tx: mpsc::UnboundedSender<Box<Received>>,
    /// Event ids already taken (de-duplication of redeliveries).
    seen: Window,
}

/// The calls this host is handling.
#[derive(Debug, Clone)]
pub struct Executor {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    client: acs::Client,
    config: ExecutorConfig,
    calls: Mutex<Calls>,
    tasks: TaskTracker,
    journal: broadcast::Sender<Handled>,
}

#[derive(Debug, Default)]
struct Calls {
    /// By callback token.
    live: HashMap<String, CallHandle>,
    /// Tokens of calls that ended recently: late events for them are not errors.
    ended: Window,
}

/// How many event ids a call remembers for de-duplication.
const DEDUPE_WINDOW: usize = 256;
/// How many ended calls are remembered.
const ENDED_WINDOW: usize = 16_384;

impl Executor {
    #[must_use]
    pub fn new(client: acs::Client, config: ExecutorConfig, tasks: TaskTracker) -> Self {
        Self {
            inner: Arc::new(Inner {
                client,
                config,
                calls: Mutex::new(Calls::default()),
                tasks,
                journal: broadcast::channel(4096).0,
            }),
        }
    }

    /// Starts handling a call that rang for `tenant`: a worker, and a callback token
    /// that binds the service's callbacks to this call.
    pub fn start_call(&self, tenant: TenantRuntime, incoming: Received) {
        let Event::IncomingCall(call) = &incoming.event else {
            return;
        };
        let token = new_token();
        let callback_uri = format!("{}/callbacks/{token}", self.inner.config.public_url);
        let worker = worker::Worker::new(self.clone(), tenant, call, callback_uri);
        let (tx, rx) = mpsc::unbounded_channel();
        let _ = tx.send(Box::new(incoming));
        let live = {
            let mut calls = self.lock();
            calls.live.insert(
                token.clone(),
                CallHandle {
                    tx,
                    seen: Window::default(),
                },
            );
            calls.live.len()
        };
        ::metrics::gauge!(metrics::ACTIVE_CALLS).set(live as f64);
        self.inner.tasks.spawn(worker.run(rx, token));
    }

    /// Rejects a ringing call nobody answers (unrouted number, disabled tenant), in
    /// the background; the reason is the caller's to log.
    pub fn reject(&self, incoming: &Received) {
        let Event::IncomingCall(call) = &incoming.event else {
            return;
        };
        let request = crate::contract::ActionRequest {
            action: crate::contract::Action::Reject(crate::contract::RejectReason::None),
            operation_context: None,
            operation_callback_uri: None,
        };
        let call_ref = acs::CallRef {
            call_connection_id: None,
            server_call_id: &call.server_call_id,
            incoming_call_context: Some(&call.incoming_call_context),
            callback_uri: "",
        };
        let rest = match acs::requests::build(&request, call_ref) {
            Ok(rest) => rest,
            Err(e) => {
                tracing::warn!(error = %e, "executor.reject");
                return;
            }
        };
        let client = self.inner.client.clone();
        self.inner.tasks.spawn(async move {
            if let Err(e) = client.send(&rest).await {
                tracing::warn!(error = %e, "executor.reject: the service refused the rejection");
            }
        });
    }

    /// Hands a callback event to its call's worker.
    pub fn deliver(&self, token: &str, event: Received) -> Delivery {
        let mut calls = self.lock();
        let Some(call) = calls.live.get_mut(token) else {
            return if calls.ended.contains(token) {
                Delivery::Ended
            } else {
                Delivery::Unknown
            };
        };
        if !call.seen.insert(&event.id, DEDUPE_WINDOW) {
            tracing::debug!(event = %event.id, "executor.duplicate");
            ::metrics::counter!(metrics::EVENTS_DUPLICATE).increment(1);
            return Delivery::Duplicate;
        }
        match call.tx.send(Box::new(event)) {
            Ok(()) => Delivery::Accepted,
            // The worker finished between the lookup and now.
            Err(_) => Delivery::Ended,
        }
    }

    /// Every event handled from now on, as it is handled (for timelines and tests;
    /// a receiver that lags loses the oldest records).
    #[must_use]
    pub fn journal(&self) -> broadcast::Receiver<Handled> {
        self.inner.journal.subscribe()
    }

    /// Calls being handled now.
    #[must_use]
    pub fn active_calls(&self) -> usize {
        self.lock().live.len()
    }

    /// Takes no more events: each worker handles what it has already accepted, then
    /// stops (shutdown).
    pub fn close(&self) {
        self.lock().live.clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Calls> {
        self.inner
            .calls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn finish(&self, token: &str) {
        let live = {
            let mut calls = self.lock();
            if calls.live.remove(token).is_some() {
                calls.ended.insert(token, ENDED_WINDOW);
            }
            calls.live.len()
        };
        ::metrics::gauge!(metrics::ACTIVE_CALLS).set(live as f64);
    }
}

fn new_token() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}
