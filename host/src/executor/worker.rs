//! One call's worker: takes the call's events in order (holding back early ones),
//! decides with the plugin or the fallback, and runs the actions.

use std::time::Instant;

use tokio::sync::mpsc;
use tracing::Instrument as _;

use super::order::{Sequencer, Tagged};
use super::{Executor, Handled, MAX_FAILURE_DEPTH, TenantRuntime, tags};
use crate::acs::events::Received;
use crate::acs::{self, CallRef};
use crate::admission;
use crate::contract::{
    Action, ActionFailed, ActionRequest, CallSnapshot, CallState, Context, Event, IncomingCall,
    Participant,
};
use crate::metrics;
use crate::native;
use crate::runtime::Outcome;

/// One call's state, owned by its worker task.
pub(super) struct Worker {
    executor: Executor,
    tenant: TenantRuntime,
    callback_uri: String,
    incoming_call_context: Option<String>,
    snapshot: CallSnapshot,
    /// The plugin's per-call state.
    state: Vec<u8>,
    in_fallback: bool,
    /// The fallback's apology went out.
    apologised: bool,
    sequencer: Sequencer,
    /// The sequence number of the participant list in `snapshot` (the service's
    /// numbers increase; an older list arriving late is not applied).
    participants_seq: Option<u64>,
    /// Events handled so far (the journal's sequence).
    handled: u32,
    /// The last invocation's outcome and time, for the journal.
    last_invocation: (&'static str, u64),
}

/// What one decision did, for the journal.
#[derive(Default)]
struct Ran {
    actions: Vec<String>,
    failed: Option<ActionFailed>,
}

impl Worker {
    pub(super) fn new(
        executor: Executor,
        tenant: TenantRuntime,
        call: &IncomingCall,
        callback_uri: String,
    ) -> Self {
        let hold = executor.inner.config.reorder_hold;
        Self {
            executor,
            tenant,
            callback_uri,
            incoming_call_context: Some(call.incoming_call_context.clone()),
            snapshot: CallSnapshot {
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
            },
            state: Vec::new(),
            in_fallback: false,
            apologised: false,
            sequencer: Sequencer::new(hold),
            participants_seq: None,
            handled: 0,
            last_invocation: ("fallback", 0),
        }
    }

    pub(super) async fn run(
        mut self,
        mut rx: mpsc::UnboundedReceiver<Box<Received>>,
        token: String,
    ) {
        loop {
            let next = match self.sequencer.deadline() {
                None => rx.recv().await,
                Some(deadline) => tokio::select! {
                    biased;
                    next = rx.recv() => next,
                    () = tokio::time::sleep_until(deadline.into()) => {
                        for tagged in self.sequencer.expire() {
                            self.take(tagged).await;
                        }
                        continue;
                    }
                },
            };
            let Some(received) = next else {
                // Closing: what was accepted is still handled, in order.
                for tagged in self.sequencer.drain() {
                    self.take(tagged).await;
                }
                break;
            };
            let mut received = *received;
            let seq = tags::untag(&mut received.event);
            let tagged = Tagged { received, seq };
            if let Some(wait) = self.sequencer.wait(&tagged.received.event, seq) {
                tracing::debug!(event = %tagged.received.event_type, reason = wait.as_str(), "call.event.held");
                ::metrics::counter!(metrics::EVENTS_HELD, "reason" => wait.as_str()).increment(1);
                self.sequencer.hold(tagged);
                continue;
            }
            self.take(tagged).await;
            while let Some(ready) = self.sequencer.next_ready() {
                self.take(ready).await;
            }
            if self.snapshot.state == CallState::Disconnected {
                break;
            }
        }
        // The call is over for this host: its state and token are dropped.
        self.executor.finish(&token);
    }

    /// Handles one event now.
    async fn take(&mut self, tagged: Tagged) {
        let Tagged { received, seq } = tagged;
        self.sequencer.handling(&received.event, seq);
        self.observe(&received);
        ::metrics::counter!(
            metrics::EVENTS,
            "tenant" => self.tenant.id.clone(),
            "event" => received.event.name().to_owned()
        )
        .increment(1);
        let span = tracing::info_span!(
            "call.event",
            tenant = %self.tenant.id,
            call = %self.snapshot.server_call_id,
            event = %received.event_type,
            plugin = %&self.tenant.plugin.digest()[..12],
            outcome = tracing::field::Empty,
            plugin_us = tracing::field::Empty,
            actions = tracing::field::Empty,
            total_us = tracing::field::Empty,
        );
        // Boxed: an idle call's task stays small (the handling future, with the REST
        // client's, is several KiB and exists only while an event is handled).
        Box::pin(
            self.handle(received.event, Some(received.received_at), 0)
                .instrument(span),
        )
        .await;
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
            Event::ParticipantsUpdated(update)
                if self
                    .participants_seq
                    .is_none_or(|seen| update.sequence_number > seen) =>
            {
                self.participants_seq = Some(update.sequence_number);
                self.snapshot.participants.clone_from(&update.participants);
            }
            _ => {}
        }
    }

    /// Decides (plugin or fallback) and runs the actions for one event.
    async fn handle(&mut self, event: Event, received_at: Option<Instant>, depth: u32) {
        let started = (Instant::now(), crate::store::now_ms());
        self.last_invocation = ("fallback", 0);
        let was_fallback = self.in_fallback;
        let actions = match self.in_fallback {
            false => self.decide(&event).await,
            true => None,
        };
        let actions = actions.unwrap_or_else(|| {
            self.in_fallback = true;
            let actions = native::fallback(&event, self.snapshot.state, self.apologised);
            self.apologised |= actions.iter().any(|a| matches!(a.action, Action::Play(_)));
            actions
        });
        let ran = self.carry_out(&event, &actions, received_at).await;
        let span = tracing::Span::current();
        if self.in_fallback {
            span.record("outcome", "fallback");
        }
        span.record("actions", ran.actions.len());
        if let Some(at) = received_at {
            span.record("total_us", at.elapsed().as_micros());
        }
        self.record(&event, was_fallback || self.in_fallback, &ran, started);
        if let Some(failed) = ran.failed
            && depth < MAX_FAILURE_DEPTH
            && !self.in_fallback
        {
            Box::pin(self.handle(Event::ActionFailed(failed), None, depth + 1)).await;
        }
    }

    fn record(&mut self, event: &Event, fallback: bool, ran: &Ran, started: (Instant, i64)) {
        self.handled += 1;
        let journal = &self.executor.inner.journal;
        if journal.receiver_count() == 0 {
            return;
        }
        let _ = journal.send(Handled {
            tenant: self.tenant.id.clone(),
            server_call_id: self.snapshot.server_call_id.clone(),
            seq: self.handled,
            at_ms: started.1,
            event: event.name().to_owned(),
            outcome: self.last_invocation.0.to_owned(),
            fallback,
            actions: ran.actions.clone(),
            failed: ran
                .failed
                .as_ref()
                .map(|f| format!("{}: {}", f.code, f.message)),
            plugin_us: self.last_invocation.1,
            total_us: u64::try_from(started.0.elapsed().as_micros()).unwrap_or(u64::MAX),
        });
    }

    /// The plugin's actions for the event, or `None` if it failed (logged, counted).
    async fn decide(&mut self, event: &Event) -> Option<Vec<ActionRequest>> {
        let ctx = Context {
            tenant_id: self.tenant.id.clone(),
            call: self.snapshot.clone(),
            config: self.tenant.config.clone(),
            state: self.state.clone(),
        };
        let invocation = run_blocking(&self.tenant, event, &ctx).await?;
        for line in &invocation.logs {
            tracing::info!(level = ?line.level, "{}", line.message);
        }
        let outcome = invocation.outcome.kind();
        self.last_invocation = (
            outcome,
            u64::try_from(invocation.elapsed.as_micros()).unwrap_or(u64::MAX),
        );
        tracing::Span::current()
            .record("outcome", outcome)
            .record("plugin_us", invocation.elapsed.as_micros());
        ::metrics::counter!(metrics::INVOCATIONS, "tenant" => self.tenant.id.clone(), "outcome" => outcome)
            .increment(1);
        ::metrics::histogram!(metrics::INVOCATION_SECONDS, "tenant" => self.tenant.id.clone())
            .record(invocation.elapsed.as_secs_f64());
        tracing::debug!(
            outcome,
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
                ::metrics::counter!(metrics::FALLBACKS, "tenant" => self.tenant.id.clone(), "reason" => outcome)
                    .increment(1);
                tracing::warn!(
                    tenant = %self.tenant.id,
                    plugin = %&self.tenant.plugin.digest()[..12],
                    outcome,
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
        mut received_at: Option<Instant>,
    ) -> Ran {
        let mut ran = Ran::default();
        for (index, request) in actions.iter().enumerate() {
            let kind = request.action.kind();
            ran.actions.push(kind.to_owned());
            let failed = |status: Option<u16>, code: &str, message: String| ActionFailed {
                index: u32::try_from(index).unwrap_or(u32::MAX),
                action: kind.to_owned(),
                operation_context: request.operation_context.clone(),
                status,
                code: code.to_owned(),
                message,
            };
            let refused = |message: String| {
                tracing::warn!(action = kind, %message, "action.refused");
                count_action(&self.tenant.id, kind, "refused");
                failed(None, "not-allowed", message)
            };
            if let Err(refusal) =
                admission::check(request, event, self.snapshot.state, &self.tenant.allowances)
            {
                ran.failed = Some(refused(refusal.to_string()));
                return ran;
            }
            let seq = self.sequencer.next_seq();
            let tagged = ActionRequest {
                operation_context: Some(tags::tag(seq, request.operation_context.as_deref())),
                ..request.clone()
            };
            let call = CallRef {
                call_connection_id: self.snapshot.call_connection_id.as_deref(),
                server_call_id: &self.snapshot.server_call_id,
                incoming_call_context: self.incoming_call_context.as_deref(),
                callback_uri: &self.callback_uri,
            };
            let rest = match acs::requests::build(&tagged, call) {
                Ok(rest) => rest,
                Err(e) => {
                    ran.failed = Some(refused(e.to_string()));
                    return ran;
                }
            };
            if let Some(at) = received_at.take() {
                ::metrics::histogram!(metrics::EVENT_OVERHEAD_SECONDS)
                    .record(at.elapsed().as_secs_f64());
            }
            let started = Instant::now();
            let result = self.executor.inner.client.send(&rest).await;
            ::metrics::histogram!(metrics::ACTION_SECONDS, "action" => kind)
                .record(started.elapsed().as_secs_f64());
            match result {
                Ok(response) => {
                    if response.attempts > 1 {
                        ::metrics::counter!(metrics::ACTION_RETRIES, "action" => kind)
                            .increment(u64::from(response.attempts - 1));
                    }
                    tracing::debug!(
                        action = kind,
                        status = response.status,
                        attempts = response.attempts,
                        "action.done"
                    );
                    count_action(&self.tenant.id, kind, "ok");
                    self.sequencer.accepted(seq, &request.action);
                    self.after_success(&request.action, &response.body);
                }
                Err(error) => {
                    tracing::warn!(action = kind, %error, "action.failed");
                    count_action(&self.tenant.id, kind, "failed");
                    let (status, code, message) = match error {
                        acs::AcsError::Status {
                            status,
                            code,
                            message,
                        } => (Some(status), code, message),
                        acs::AcsError::Unreachable(message) => {
                            (None, "unreachable".to_owned(), message)
                        }
                    };
                    ran.failed = Some(failed(status, &code, message));
                    return ran;
                }
            }
        }
        ran
    }

    fn after_success(&mut self, action: &Action, body: &serde_json::Value) {
        match action {
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

fn count_action(tenant: &str, kind: &'static str, result: &'static str) {
    ::metrics::counter!(
        metrics::ACTIONS,
        "tenant" => tenant.to_owned(),
        "action" => kind,
        "result" => result
    )
    .increment(1);
}

/// Runs the plugin where a plugin that spins until its deadline holds no async worker:
/// on a multi-thread runtime, in place (the runtime moves this worker's other tasks to
/// another thread meanwhile; no thread hop on the event's path); elsewhere on the
/// blocking pool.
async fn run_blocking(
    tenant: &TenantRuntime,
    event: &Event,
    ctx: &Context,
) -> Option<crate::runtime::Invocation> {
    use tokio::runtime::{Handle, RuntimeFlavor};
    if Handle::current().runtime_flavor() == RuntimeFlavor::MultiThread {
        return Some(tokio::task::block_in_place(|| {
            tenant.plugin.invoke(event, ctx, &tenant.limits)
        }));
    }
    let (plugin, limits, event, ctx) = (
        tenant.plugin.clone(),
        tenant.limits,
        event.clone(),
        ctx.clone(),
    );
    tokio::task::spawn_blocking(move || plugin.invoke(&event, &ctx, &limits))
        .await
        .ok()
}
