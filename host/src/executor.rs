//! The per-call executor: events of one call are handled one at a time, in arrival
//! order, by that call's worker; different calls run concurrently. For each event the
//! worker builds the context, invokes the tenant's plugin (on the blocking pool, so a
//! plugin that spins until its deadline never holds an async worker), admits the
//! decision's actions, and runs them in order against the service. A refused or
//! failed action becomes an `action-failed` event for the plugin (at most
//! [`MAX_FAILURE_DEPTH`] deep); a plugin that fails puts the call in fallback.
//!
//! Must not: parse HTTP or authenticate; ingress does, and hands over `Received` events.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;
use tokio_util::task::TaskTracker;
use tracing::Instrument as _;

use crate::acs::events::Received;
use crate::acs::{self, CallRef};
use crate::admission::{self, Allowances};
use crate::contract::{
    ActionFailed, ActionRequest, CallSnapshot, CallState, CommunicationIdentifier, ConfigEntry,
    Context, Event, Participant,
};
use crate::native;
use crate::runtime::{Limits, Outcome, Plugin};

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

/// Events of one call, handled in order by one worker.
#[derive(Debug)]
struct CallHandle {
    tx: mpsc::UnboundedSender<Received>,
    /// Event ids already taken (de-duplication of redeliveries).
    seen: VecDeque<String>,
    seen_set: HashSet<String>,
}

/// The calls this host is handling.
#[derive(Debug, Clone)]
pub struct Executor {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    client: acs::Client,
    /// By callback token.
    calls: Mutex<HashMap<String, CallHandle>>,
    public_url: String,
    tasks: TaskTracker,
}

/// How many event ids a call remembers for de-duplication.
const DEDUPE_WINDOW: usize = 256;

impl Executor {
    #[must_use]
    pub fn new(client: acs::Client, public_url: String, tasks: TaskTracker) -> Self {
        Self {
            inner: Arc::new(Inner {
                client,
                calls: Mutex::new(HashMap::new()),
                public_url,
                tasks,
            }),
        }
    }

    /// Starts handling a call that rang for `tenant`: a worker, and a callback token
    /// that binds the service's callbacks to this call.
    pub fn start_call(&self, tenant: TenantRuntime, incoming: Received) {
        let token = new_token();
        let Event::IncomingCall(call) = &incoming.event else {
            return;
        };
        let snapshot = CallSnapshot {
            call_connection_id: None,
            server_call_id: call.server_call_id.clone(),
            correlation_id: call.correlation_id.clone(),
            state: CallState::Unknown,
            from: call.from.clone(),
            to: call.to.clone(),
            participants: vec![Participant {
                identifier: call.from.clone(),
                is_muted: false,
                is_on_hold: false,
            }],
        };
        let worker = Worker {
            executor: self.clone(),
            tenant,
            callback_uri: format!("{}/callbacks/{token}", self.inner.public_url),
            incoming_call_context: Some(call.incoming_call_context.clone()),
            snapshot,
            state: Vec::new(),
            in_fallback: false,
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let _ = tx.send(incoming);
        self.lock().insert(
            token.clone(),
            CallHandle {
                tx,
                seen: VecDeque::new(),
                seen_set: HashSet::new(),
            },
        );
        self.inner.tasks.spawn(worker.run(rx, token));
    }

    /// Hands a callback event to its call's worker. `false`: no such call (unknown or
    /// forged token, or the call is over).
    pub fn deliver(&self, token: &str, event: Received) -> bool {
        let mut calls = self.lock();
        let Some(call) = calls.get_mut(token) else {
            return false;
        };
        if !call.seen_set.insert(event.id.clone()) {
            tracing::debug!(event = %event.id, "executor.duplicate");
            return true;
        }
        call.seen.push_back(event.id.clone());
        if call.seen.len() > DEDUPE_WINDOW
            && let Some(old) = call.seen.pop_front()
        {
            call.seen_set.remove(&old);
        }
        call.tx.send(event).is_ok()
    }

    /// Calls being handled now.
    #[must_use]
    pub fn active_calls(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, CallHandle>> {
        self.inner
            .calls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn finish(&self, token: &str) {
        self.lock().remove(token);
    }
}

fn new_token() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// One call's state, owned by its worker task.
struct Worker {
    executor: Executor,
    tenant: TenantRuntime,
    callback_uri: String,
    incoming_call_context: Option<String>,
    snapshot: CallSnapshot,
    /// The plugin's per-call state.
    state: Vec<u8>,
    in_fallback: bool,
}

impl Worker {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Received>, token: String) {
        while let Some(received) = rx.recv().await {
            self.observe(&received);
            let span = tracing::info_span!(
                "call.event",
                tenant = %self.tenant.id,
                call = %self.snapshot.server_call_id,
                event = %received.event_type,
                plugin = %&self.tenant.plugin.digest()[..12],
            );
            self.handle(received.event, 0).instrument(span).await;
            if self.snapshot.state == CallState::Disconnected {
                break;
            }
        }
        // The call is over for this host: its state and token are dropped.
        self.executor.finish(&token);
    }

    /// Updates the call snapshot the way the event says.
    fn observe(&mut self, received: &Received) {
        if let Some(id) = &received.call_connection_id {
            self.snapshot
                .call_connection_id
                .get_or_insert_with(|| id.clone());
        }
        match &received.event {
            Event::CallConnected(_) => self.snapshot.state = CallState::Connected,
            Event::CallTransferAccepted(_) => self.snapshot.state = CallState::TransferAccepted,
            Event::CallDisconnected(_) => self.snapshot.state = CallState::Disconnected,
            Event::ParticipantsUpdated(update) => {
                self.snapshot.participants.clone_from(&update.participants)
            }
            _ => {}
        }
    }

    /// Decides (plugin or fallback) and runs the actions for one event.
    async fn handle(&mut self, event: Event, depth: u32) {
        let actions = if self.in_fallback {
            native::fallback(&event, self.snapshot.state)
        } else {
            match self.decide(&event).await {
                Some(actions) => actions,
                None => {
                    self.in_fallback = true;
                    native::fallback(&event, self.snapshot.state)
                }
            }
        };
        if let Some(failed) = self.carry_out(&event, &actions).await
            && depth < MAX_FAILURE_DEPTH
            && !self.in_fallback
        {
            Box::pin(self.handle(Event::ActionFailed(failed), depth + 1)).await;
        }
    }

    /// The plugin's actions for the event, or `None` if it failed (logged, counted).
    async fn decide(&mut self, event: &Event) -> Option<Vec<ActionRequest>> {
        let ctx = Context {
            tenant_id: self.tenant.id.clone(),
            call: self.snapshot.clone(),
            config: self.tenant.config.clone(),
            state: self.state.clone(),
        };
        let (plugin, limits, event_copy) = (
            self.tenant.plugin.clone(),
            self.tenant.limits,
            event.clone(),
        );
        let invocation =
            tokio::task::spawn_blocking(move || plugin.invoke(&event_copy, &ctx, &limits))
                .await
                .ok()?;
        for line in &invocation.logs {
            tracing::info!(level = ?line.level, "{}", line.message);
        }
        tracing::debug!(
            outcome = invocation.outcome.kind(),
            micros = invocation.elapsed.as_micros(),
            "plugin.invoke"
        );
        match invocation.outcome {
            Outcome::Decision(decision) => {
                if let Some(state) = decision.state {
                    self.state = state;
                }
                Some(decision.actions)
            }
            other => {
                tracing::warn!(
                    tenant = %self.tenant.id,
                    plugin = %&self.tenant.plugin.digest()[..12],
                    outcome = other.kind(),
                    "plugin {} on {}; fallback for this call",
                    other,
                    event.name()
                );
                None
            }
        }
    }

    /// Runs actions in order; stops at the first refused or failed one and returns
    /// what to tell the plugin.
    async fn carry_out(
        &mut self,
        event: &Event,
        actions: &[ActionRequest],
    ) -> Option<ActionFailed> {
        for (index, request) in actions.iter().enumerate() {
            let failed = |status: Option<u16>, code: String, message: String| ActionFailed {
                index: u32::try_from(index).unwrap_or(u32::MAX),
                action: request.action.kind().to_owned(),
                operation_context: request.operation_context.clone(),
                status,
                code,
                message,
            };
            if let Err(refusal) =
                admission::check(request, event, self.snapshot.state, &self.tenant.allowances)
            {
                tracing::warn!(action = request.action.kind(), %refusal, "action.refused");
                return Some(failed(None, "not-allowed".into(), refusal.to_string()));
            }
            let call = CallRef {
                call_connection_id: self.snapshot.call_connection_id.as_deref(),
                server_call_id: &self.snapshot.server_call_id,
                incoming_call_context: self.incoming_call_context.as_deref(),
                callback_uri: &self.callback_uri,
            };
            let rest = match acs::requests::build(request, call) {
                Ok(rest) => rest,
                Err(e) => return Some(failed(None, "not-allowed".into(), e.to_string())),
            };
            match self.executor.inner.client.send(&rest).await {
                Ok(response) => {
                    tracing::debug!(
                        action = request.action.kind(),
                        status = response.status,
                        attempts = response.attempts,
                        "action.done"
                    );
                    self.after_success(request, &response.body);
                }
                Err(error) => {
                    tracing::warn!(action = request.action.kind(), %error, "action.failed");
                    let (status, code, message) = match error {
                        acs::AcsError::Status {
                            status,
                            code,
                            message,
                        } => (Some(status), code, message),
                        acs::AcsError::Unreachable(message) => {
                            (None, "unreachable".into(), message)
                        }
                    };
                    return Some(failed(status, code, message));
                }
            }
        }
        None
    }

    fn after_success(&mut self, request: &ActionRequest, body: &serde_json::Value) {
        use crate::contract::Action;
        match request.action {
            Action::Answer => {
                if let Some(id) = body
                    .get("callConnectionId")
                    .and_then(serde_json::Value::as_str)
                {
                    self.snapshot.call_connection_id = Some(id.to_owned());
                }
                self.snapshot.state = CallState::Connecting;
                self.incoming_call_context = None;
            }
            // A rejected or redirected call never connects to us.
            Action::Reject(_) | Action::Redirect(_) => {
                self.snapshot.state = CallState::Disconnected
            }
            _ => {}
        }
    }
}

/// The tenant a called number belongs to.
#[derive(Debug, Clone, Default)]
pub struct Routes {
    by_number: HashMap<String, TenantRuntime>,
}

impl Routes {
    pub fn add(&mut self, number: &str, tenant: TenantRuntime) {
        self.by_number.insert(number.to_owned(), tenant);
    }

    #[must_use]
    pub fn route(&self, to: &CommunicationIdentifier) -> Option<&TenantRuntime> {
        match to {
            CommunicationIdentifier::PhoneNumber(number) => self.by_number.get(number),
            CommunicationIdentifier::AcsUser(id) | CommunicationIdentifier::Raw(id) => {
                self.by_number.get(id)
            }
            CommunicationIdentifier::TeamsUser(user) => self.by_number.get(&user.user_id),
        }
    }
}
