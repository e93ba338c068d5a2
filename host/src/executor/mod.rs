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
//! - `worker`: one call's worker task, and the record of a call it saves.
//!
//! Durable (with a [`Durable`] store): a call is recorded when it rings, every
//! accepted event goes to the call's inbox in the store before the service hears 200,
//! and the worker saves the call's record (with the decision's actions and their
//! repeatability ids) before the actions run. Another replica, or this one after a
//! restart, continues the call from there ([`Executor::resume`]). Events for a call
//! another replica owns go to its inbox and wake that replica.
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
use crate::store::Store;
use crate::store::live::{ClaimedCall, Handover, InboxEvent, NewLiveCall, Pushed};

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
    /// How long a call waits for the completion of a play or recognize the service
    /// accepted, with no event at all, before the policy hears `outcome-unknown`.
    pub completion_timeout: Duration,
}

/// Where calls are kept so that they outlive this process.
#[derive(Debug, Clone)]
pub struct Durable {
    pub store: Store,
    /// This replica's name (owner of the calls it handles).
    pub replica: String,
    /// How long a replica's claim on its calls lasts unless renewed.
    pub lease: Duration,
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
    /// The event names another call than the token's: refused.
    Foreign,
    /// The store did not answer: not accepted (the service delivers it again).
    Unavailable,
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
    /// The call's: an event under this call's token that names another is refused.
    server_call_id: String,
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
    durable: Option<Durable>,
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
    pub fn new(
        client: acs::Client,
        config: ExecutorConfig,
        tasks: TaskTracker,
        durable: Option<Durable>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                client,
                config,
                calls: Mutex::new(Calls::default()),
                tasks,
                journal: broadcast::channel(4096).0,
                durable,
            }),
        }
    }

    /// Where calls are kept, if anywhere.
    #[must_use]
    pub fn durable(&self) -> Option<&Durable> {
        self.inner.durable.as_ref()
    }

    /// Starts handling a call that rang for `tenant`: a worker, and a callback token
    /// that binds the service's callbacks to this call. Durable: the call is recorded
    /// first, and a ring already recorded (by another replica, or delivered again) is
    /// left alone.
    pub async fn start_call(&self, tenant: TenantRuntime, incoming: Received) {
        let Event::IncomingCall(call) = &incoming.event else {
            return;
        };
        let token = new_token();
        let worker = worker::Worker::new(self.clone(), tenant.clone(), call, token.clone());
        if let Some(durable) = &self.inner.durable {
            let body = serde_json::to_string(&incoming).unwrap_or_default();
            let record = worker.saved();
            let new = NewLiveCall {
                token: &token,
                incoming_event: &incoming.id,
                tenant_id: &tenant.id,
                plugin_sha256: tenant.plugin.digest(),
                server_call_id: &call.server_call_id,
                owner: &durable.replica,
                state: &record,
                first_event: InboxEvent {
                    id: &incoming.id,
                    at_us: now_us(),
                    body: &body,
                },
            };
            match durable.store.create_live_call(new).await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::debug!(event = %incoming.id, "executor.start_call: this ring is a call already");
                    ::metrics::counter!(metrics::EVENTS_DUPLICATE).increment(1);
                    return;
                }
                Err(e) => {
                    ::metrics::counter!(metrics::STORE_ERRORS, "op" => "create").increment(1);
                    tracing::error!(error = %e, "executor.start_call: the store is unavailable; the call goes on without durability");
                }
            }
        }
        self.spawn(token, worker, Some(incoming));
    }

    /// Continues a call from its record (claimed after a restart, or from a replica
    /// whose lease ran out): the saved decision's actions go out again, then the
    /// events waiting in its inbox are handled.
    pub async fn resume(&self, tenant: TenantRuntime, claimed: ClaimedCall) -> anyhow::Result<()> {
        let record: worker::Record = serde_json::from_str(&claimed.state)?;
        let worker = worker::Worker::resume(self.clone(), tenant, claimed.token.clone(), record);
        ::metrics::counter!(metrics::CALLS_RESUMED).increment(1);
        self.spawn(claimed.token.clone(), worker, None);
        self.wake(&claimed.token).await;
        Ok(())
    }

    fn spawn(&self, token: String, worker: worker::Worker, first: Option<Received>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut seen = Window::default();
        if let Some(event) = first {
            seen.insert(&event.id, DEDUPE_WINDOW);
            let _ = tx.send(Box::new(event));
        }
        let server_call_id = worker.server_call_id().to_owned();
        let live = {
            let mut calls = self.lock();
            calls.live.insert(
                token,
                CallHandle {
                    tx,
                    seen,
                    server_call_id,
                },
            );
            calls.live.len()
        };
        ::metrics::gauge!(metrics::ACTIVE_CALLS).set(live as f64);
        self.inner.tasks.spawn(worker.run(rx));
    }

    /// Takes the call's events waiting in the store that its worker has not seen
    /// (woken by the replica that received them, or found waiting).
    pub async fn wake(&self, token: &str) {
        let Some(durable) = &self.inner.durable else {
            return;
        };
        match durable.store.inbox_pending(token).await {
            Ok(bodies) => self.push_stored(token, bodies),
            Err(e) => {
                tracing::warn!(error = %e, "executor.wake: the call's inbox could not be read")
            }
        }
    }

    /// [`Self::wake`] because an event overtook an earlier one of its call that
    /// another replica put in the inbox: timed as the price of keeping order
    /// (`switchboard_store_seconds{op="catch_up"}`).
    pub async fn catch_up(&self, token: &str) {
        let started = std::time::Instant::now();
        self.wake(token).await;
        ::metrics::histogram!(metrics::STORE_SECONDS, "op" => "catch_up")
            .record(started.elapsed().as_secs_f64());
    }

    /// Hands events read from the store (JSON) to the call's worker, those it has not
    /// seen.
    pub fn push_stored<B: AsRef<str>>(&self, token: &str, bodies: impl IntoIterator<Item = B>) {
        let mut calls = self.lock();
        let Some(call) = calls.live.get_mut(token) else {
            return;
        };
        for body in bodies {
            match serde_json::from_str::<Received>(body.as_ref()) {
                Ok(event) => {
                    if call.seen.insert(&event.id, DEDUPE_WINDOW) {
                        let _ = call.tx.send(Box::new(event));
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "executor.wake: an inbox event does not parse")
                }
            }
        }
    }

    /// Whether the call's worker here has taken every one of these events.
    pub(crate) fn seen_all<'a>(
        &self,
        token: &str,
        events: impl IntoIterator<Item = &'a str>,
    ) -> bool {
        let calls = self.lock();
        calls
            .live
            .get(token)
            .is_some_and(|call| events.into_iter().all(|id| call.seen.contains(id)))
    }

    /// Whether this replica handles the call now.
    #[must_use]
    pub fn handles(&self, token: &str) -> bool {
        self.lock().live.contains_key(token)
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
            if let Err(e) = client.send(&rest, &acs::Repeatability::new()).await {
                tracing::warn!(error = %e, "executor.reject: the service refused the rejection");
            }
        });
    }

    /// Hands a callback event to its call's worker: here if this replica handles
    /// the call, else through the call's inbox in the store to the replica that does.
    pub async fn deliver(&self, token: &str, event: Received) -> Delivery {
        let local = {
            let mut calls = self.lock();
            let calls = &mut *calls;
            match calls.live.get_mut(token) {
                Some(call)
                    if event
                        .server_call_id
                        .as_ref()
                        .is_some_and(|s| *s != call.server_call_id) =>
                {
                    return Delivery::Foreign;
                }
                Some(call) => {
                    if !call.seen.insert(&event.id, DEDUPE_WINDOW) {
                        return duplicate(&event);
                    }
                    Some(call.tx.clone())
                }
                None if calls.ended.contains(token) => return Delivery::Ended,
                None => None,
            }
        };
        let Some(durable) = &self.inner.durable else {
            return match local {
                Some(tx) => send(&tx, event),
                None => Delivery::Unknown,
            };
        };
        let body = serde_json::to_string(&event).unwrap_or_default();
        let inbox = InboxEvent {
            id: &event.id,
            at_us: now_us(),
            body: &body,
        };
        let started = std::time::Instant::now();
        let Some(tx) = local else {
            let handed = durable
                .store
                .deliver_to_owner(
                    token,
                    inbox,
                    event.server_call_id.as_deref(),
                    &durable.replica,
                )
                .await;
            ::metrics::histogram!(metrics::STORE_SECONDS, "op" => "handover")
                .record(started.elapsed().as_secs_f64());
            return match handed {
                // Ours but not running here yet (being claimed): found waiting later.
                Ok(Handover::Accepted { .. }) => Delivery::Accepted,
                Ok(Handover::Duplicate) => duplicate(&event),
                Ok(Handover::Ended) => Delivery::Ended,
                Ok(Handover::Unknown) => Delivery::Unknown,
                Ok(Handover::Foreign) => Delivery::Foreign,
                Err(e) => {
                    tracing::warn!(error = %e, "executor.deliver: the store is unavailable");
                    Delivery::Unavailable
                }
            };
        };
        let pushed = durable.store.inbox_push(token, inbox).await;
        ::metrics::histogram!(metrics::STORE_SECONDS, "op" => "inbox")
            .record(started.elapsed().as_secs_f64());
        match pushed {
            Ok(Pushed::Queued { after }) => {
                if !self.seen_all(token, after.iter().map(String::as_str)) {
                    // An earlier event of this call reached another replica, which put
                    // it in the inbox and answered 200 before the service sent this
                    // one; its wake-up is still on its way. Take it first, so the call
                    // sees its events in the order they were sent.
                    self.catch_up(token).await;
                }
                send(&tx, event)
            }
            // In the inbox already: handled before (a redelivery), or put there by
            // another replica that stopped before its wake-up went out. The worker
            // has not seen it (the window above said so): if it still waits, it is
            // this delivery's to hand over, or nobody's.
            Ok(Pushed::Already) => match durable.store.inbox_waiting(token, &event.id).await {
                Ok(true) => send(&tx, event),
                Ok(false) => duplicate(&event),
                Err(e) => {
                    tracing::warn!(error = %e, "executor.deliver: the inbox could not be read; handled all the same");
                    send(&tx, event)
                }
            },
            Err(e) => {
                ::metrics::counter!(metrics::STORE_ERRORS, "op" => "inbox").increment(1);
                tracing::warn!(error = %e, "executor.deliver: not kept in the store; handled all the same");
                send(&tx, event)
            }
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

    /// The call's worker stopped: the call ended, or another replica took it over
    /// (`lost`). Only an ended call's token answers late events with 200; a lost
    /// call's events must go on through the store to its new owner.
    fn finish(&self, token: &str, lost: bool) {
        let live = {
            let mut calls = self.lock();
            if calls.live.remove(token).is_some() && !lost {
                calls.ended.insert(token, ENDED_WINDOW);
            }
            calls.live.len()
        };
        ::metrics::gauge!(metrics::ACTIVE_CALLS).set(live as f64);
    }
}

fn duplicate(event: &Received) -> Delivery {
    tracing::debug!(event = %event.id, "executor.duplicate");
    ::metrics::counter!(metrics::EVENTS_DUPLICATE).increment(1);
    Delivery::Duplicate
}

fn send(tx: &mpsc::UnboundedSender<Box<Received>>, event: Received) -> Delivery {
    match tx.send(Box::new(event)) {
        Ok(()) => Delivery::Accepted,
        // The worker finished between the lookup and now.
        Err(_) => Delivery::Ended,
    }
}

/// Now, in Unix microseconds (the inbox's order).
fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

fn new_token() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}
