//! One call's worker: takes the call's events in order (holding back early ones),
//! decides with the plugin or the fallback, saves the call (with the decision's
//! actions and their repeatability ids) where the executor is durable, then runs the
//! actions.

use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tracing::Instrument as _;

use super::order::{Sequencer, Tagged};
use super::{Executor, Handled, MAX_FAILURE_DEPTH, TenantRuntime, tags};
use crate::acs::events::Received;
use crate::acs::{self, CallRef, Repeatability};
use crate::admission;
use crate::contract::{
    Action, ActionFailed, ActionRequest, CallSnapshot, CallState, Context, Event, IncomingCall,
    Participant,
};
use crate::metrics;
use crate::native;
use crate::runtime::{Outcome, Reuse, Session};
use crate::store::calls::Recorded;
use crate::store::live::Saved;

/// What of a call outlives its host: saved before each decision's actions run, read
/// back by the host that continues the call.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(super) struct Record {
    callback_uri: String,
    incoming_call_context: Option<String>,
    snapshot: CallSnapshot,
    /// The plugin's per-call state.
    #[serde(with = "base64_bytes")]
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
    /// The latest decision: its actions, each with its sequence number and
    /// repeatability id. A host that continues the call sends them again: the service
    /// carries out a repeatable request once however often it comes; a non-repeatable
    /// one marked `started` is not sent again (it may have run): a play or recognize
    /// is awaited as if the service had accepted it, for any other the plugin hears
    /// that its outcome is unknown.
    outbox: Option<Outbox>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Outbox {
    /// The event decided on (admission checks the actions against it).
    event: Event,
    /// How deep in `action-failed` events the decision was.
    depth: u32,
    actions: Vec<Pending>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Pending {
    seq: u64,
    request: ActionRequest,
    repeatability: Repeatability,
    /// Sending it began (saved before a non-repeatable request goes out).
    started: bool,
    /// The service accepted it (saved for non-repeatable requests: a call resumed
    /// later knows they ran, and the plugin is not told their outcome is unknown).
    #[serde(default)]
    done: bool,
}

mod base64_bytes {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;

    pub fn serialize<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text: String = serde::Deserialize::deserialize(d)?;
        STANDARD.decode(text).map_err(serde::de::Error::custom)
    }
}

/// One call's state, owned by its worker task.
pub(super) struct Worker {
    executor: Executor,
    tenant: TenantRuntime,
    token: String,
    rec: Record,
    /// The call was taken over: the saved decision's actions go out again first.
    resumed: bool,
    /// Another replica owns the call now: this worker stops.
    lost: bool,
    /// The last invocation's outcome and time, for the journal.
    last_invocation: (&'static str, u64),
    /// The call's own plugin instance, when the tenant's limits say `reuse =
    /// "per-call"`; created at the first event, dropped with the worker.
    session: Option<Session>,
    /// The last invocation's input and decision, for the call log (only while the
    /// journal has listeners).
    last_recorded: Option<Recorded>,
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
        token: String,
    ) -> Self {
        let hold = executor.inner.config.reorder_hold;
        let mut sequencer = Sequencer::new(hold);
        sequencer.set_completion_timeout(executor.inner.config.completion_timeout);
        let callback_uri = format!("{}/callbacks/{token}", executor.inner.config.public_url);
        let rec = Record {
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
            sequencer,
            participants_seq: None,
            handled: 0,
            outbox: None,
        };
        Self {
            executor,
            tenant,
            token,
            rec,
            resumed: false,
            lost: false,
            last_invocation: ("fallback", 0),
            session: None,
            last_recorded: None,
        }
    }

    /// A call continued from its saved record (after a restart, or taken over from
    /// another replica).
    pub(super) fn resume(
        executor: Executor,
        tenant: TenantRuntime,
        token: String,
        mut rec: Record,
    ) -> Self {
        rec.sequencer.set_hold(executor.inner.config.reorder_hold);
        rec.sequencer
            .set_completion_timeout(executor.inner.config.completion_timeout);
        Self {
            executor,
            tenant,
            token,
            rec,
            resumed: true,
            lost: false,
            last_invocation: ("fallback", 0),
            session: None,
            last_recorded: None,
        }
    }

    /// The call's id at the service.
    pub(super) fn server_call_id(&self) -> &str {
        &self.rec.snapshot.server_call_id
    }

    /// The record as saved (JSON).
    pub(super) fn saved(&self) -> String {
        serde_json::to_string(&self.rec).unwrap_or_else(|e| {
            // Only our own types, all serializable: never happens.
            tracing::error!(error = %e, "call.save: the call's record does not serialize");
            String::new()
        })
    }

    /// Saves the record (and marks `done_event` handled) before actions run, if the
    /// executor is durable. `false`: another replica owns the call now. A store that
    /// fails after retries does not stop the call: it goes on without durability
    /// (logged, counted).
    async fn save(&mut self, done_event: Option<&str>) -> bool {
        let Some(durable) = self.executor.inner.durable.clone() else {
            return true;
        };
        let record = self.saved();
        let ended = self.rec.snapshot.state == CallState::Disconnected;
        let started = Instant::now();
        for attempt in 0..3u32 {
            match durable
                .store
                .save_live_call(&self.token, &durable.replica, &record, done_event, ended)
                .await
            {
                Ok(Saved::Saved) => {
                    ::metrics::histogram!(metrics::STORE_SECONDS, "op" => "save")
                        .record(started.elapsed().as_secs_f64());
                    return true;
                }
                Ok(Saved::NotOwner) => {
                    tracing::warn!(call = %self.rec.snapshot.server_call_id, "call.save: another replica owns the call now; this one stops");
                    self.lost = true;
                    return false;
                }
                Err(e) => {
                    tracing::warn!(attempt, error = %e, "call.save failed");
                    tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
                }
            }
        }
        ::metrics::counter!(metrics::STORE_ERRORS, "op" => "save").increment(1);
        tracing::error!(call = %self.rec.snapshot.server_call_id, "call.save: the store is unavailable; the call goes on without durability");
        true
    }

    pub(super) async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Box<Received>>) {
        if self.resumed {
            self.replay().await;
        }
        loop {
            if self.lost {
                break;
            }
            let held = self.rec.sequencer.deadline();
            let wake = held
                .into_iter()
                .chain(self.rec.sequencer.completion_deadline())
                .min();
            let next = match wake {
                None => rx.recv().await,
                Some(deadline) => tokio::select! {
                    biased;
                    next = rx.recv() => next,
                    () = tokio::time::sleep_until(deadline.into()) => {
                        let now = Instant::now();
                        if held.is_some_and(|held| held <= now) {
                            for tagged in self.rec.sequencer.expire() {
                                self.take(tagged).await;
                            }
                        }
                        if let Some(failed) = self.rec.sequencer.overdue(now) {
                            tracing::warn!(action = %failed.action, "call.completion_overdue");
                            ::metrics::counter!(metrics::COMPLETIONS_OVERDUE).increment(1);
                            Box::pin(self.handle(Event::ActionFailed(failed), None, 1, None)).await;
                        }
                        continue;
                    }
                },
            };
            let Some(received) = next else {
                // Closing: what was accepted is still handled, in order.
                for tagged in self.rec.sequencer.drain() {
                    self.take(tagged).await;
                }
                break;
            };
            let mut received = *received;
            let seq = tags::untag(&mut received.event);
            if self.rec.sequencer.completes_given_up(&received.event, seq) {
                self.drop_late(&received).await;
                continue;
            }
            let tagged = Tagged { received, seq };
            if let Some(wait) = self.rec.sequencer.wait(&tagged.received.event, seq) {
                tracing::debug!(event = %tagged.received.event_type, reason = wait.as_str(), "call.event.held");
                ::metrics::counter!(metrics::EVENTS_HELD, "reason" => wait.as_str()).increment(1);
                self.rec.sequencer.hold(tagged);
                continue;
            }
            self.take(tagged).await;
            while let Some(ready) = self.rec.sequencer.next_ready() {
                self.take(ready).await;
            }
            if self.rec.snapshot.state == CallState::Disconnected {
                // Saved as ended (a rejected or redirected call ends without an event).
                self.rec.outbox = None;
                self.save(None).await;
                break;
            }
        }
        // The call is over for this host: its state and token are dropped.
        self.executor.finish(&self.token, self.lost);
    }

    /// Drops the completion of an operation whose outcome the policy was told is
    /// unknown; in the store it is handled.
    async fn drop_late(&mut self, received: &Received) {
        tracing::info!(
            event = %received.event_type,
            "call.event.late: the policy was told this operation's outcome is unknown; its completion is dropped"
        );
        ::metrics::counter!(metrics::EVENTS_LATE).increment(1);
        self.save(Some(&received.id)).await;
    }

    /// Sends the saved decision's actions again (a call continued elsewhere).
    async fn replay(&mut self) {
        let Some(outbox) = &self.rec.outbox else {
            return;
        };
        let depth = outbox.depth;
        tracing::info!(call = %self.rec.snapshot.server_call_id, actions = outbox.actions.len(), "call.resume: sending the last decision's actions again");
        let ran = self.carry_out(None, true).await;
        if let Some(failed) = ran.failed
            && depth < MAX_FAILURE_DEPTH
            && !self.rec.in_fallback
        {
            Box::pin(self.handle(Event::ActionFailed(failed), None, depth + 1, None)).await;
        }
    }

    /// Handles one event now.
    async fn take(&mut self, tagged: Tagged) {
        let Tagged { received, seq } = tagged;
        self.rec.sequencer.handling(&received.event, seq);
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
            call = %self.rec.snapshot.server_call_id,
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
            self.handle(
                received.event,
                Some(received.received_at),
                0,
                Some(&received.id),
            )
            .instrument(span),
        )
        .await;
    }

    /// Updates the call snapshot the way the event says.
    fn observe(&mut self, received: &Received) {
        if let Some(id) = &received.call_connection_id {
            self.rec
                .snapshot
                .call_connection_id
                .get_or_insert_with(|| id.clone());
        }
        match &received.event {
            Event::CallConnected(_) => self.rec.snapshot.state = CallState::Connected,
            Event::CallTransferAccepted(_) => self.rec.snapshot.state = CallState::TransferAccepted,
            Event::CallDisconnected(_) => self.rec.snapshot.state = CallState::Disconnected,
            Event::ParticipantsUpdated(update)
                if self
                    .rec
                    .participants_seq
                    .is_none_or(|seen| update.sequence_number > seen) =>
            {
                self.rec.participants_seq = Some(update.sequence_number);
                self.rec
                    .snapshot
                    .participants
                    .clone_from(&update.participants);
            }
            _ => {}
        }
    }

    /// Decides (plugin or fallback) and runs the actions for one event.
    async fn handle(
        &mut self,
        event: Event,
        received_at: Option<Instant>,
        depth: u32,
        done_event: Option<&str>,
    ) {
        let started = (Instant::now(), crate::store::now_ms());
        self.rec.handled += 1;
        self.last_invocation = ("fallback", 0);
        let was_fallback = self.rec.in_fallback;
        let actions = match self.rec.in_fallback {
            false => self.decide(&event).await,
            true => None,
        };
        let actions = actions.unwrap_or_else(|| {
            self.rec.in_fallback = true;
            let actions = native::fallback(&event, self.rec.snapshot.state, self.rec.apologised);
            self.rec.apologised |= actions.iter().any(|a| matches!(a.action, Action::Play(_)));
            actions
        });
        self.rec.outbox = Some(self.outbox(&event, actions, depth));
        if !self.save(done_event).await {
            return;
        }
        let ran = self.carry_out(received_at, false).await;
        let span = tracing::Span::current();
        if self.rec.in_fallback {
            span.record("outcome", "fallback");
        }
        span.record("actions", ran.actions.len());
        if let Some(at) = received_at {
            span.record("total_us", at.elapsed().as_micros());
        }
        self.record(&event, was_fallback || self.rec.in_fallback, &ran, started);
        if let Some(failed) = ran.failed
            && depth < MAX_FAILURE_DEPTH
            && !self.rec.in_fallback
        {
            Box::pin(self.handle(Event::ActionFailed(failed), None, depth + 1, None)).await;
        }
    }

    /// The decision's actions as they will go out: numbered, each with its
    /// repeatability id. A first action that is not repeatable is marked started
    /// already: the save before the actions run is the one that says so.
    fn outbox(&mut self, event: &Event, actions: Vec<ActionRequest>, depth: u32) -> Outbox {
        let mut actions: Vec<Pending> = actions
            .into_iter()
            .map(|request| Pending {
                seq: self.rec.sequencer.next_seq(),
                request,
                repeatability: Repeatability::new(),
                started: false,
                done: false,
            })
            .collect();
        if let Some(first) = actions.first_mut() {
            first.started = acs::requests::build(&first.request, self.call_ref())
                .is_ok_and(|rest| !rest.repeatable);
        }
        Outbox {
            event: event.clone(),
            depth,
            actions,
        }
    }

    fn call_ref(&self) -> CallRef<'_> {
        CallRef {
            call_connection_id: self.rec.snapshot.call_connection_id.as_deref(),
            server_call_id: &self.rec.snapshot.server_call_id,
            incoming_call_context: self.rec.incoming_call_context.as_deref(),
            callback_uri: &self.rec.callback_uri,
        }
    }

    fn record(&mut self, event: &Event, fallback: bool, ran: &Ran, started: (Instant, i64)) {
        let journal = &self.executor.inner.journal;
        if journal.receiver_count() == 0 {
            return;
        }
        let _ = journal.send(Handled {
            tenant: self.tenant.id.clone(),
            server_call_id: self.rec.snapshot.server_call_id.clone(),
            seq: self.rec.handled,
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
            recorded: self.last_recorded.take().filter(|_| !fallback),
        });
    }

    /// The plugin's actions for the event, or `None` if it failed (logged, counted).
    async fn decide(&mut self, event: &Event) -> Option<Vec<ActionRequest>> {
        let ctx = Context {
            tenant_id: self.tenant.id.clone(),
            call: self.rec.snapshot.clone(),
            config: self.tenant.config.clone(),
            state: self.rec.state.clone(),
        };
        let invocation = match self.tenant.limits.reuse {
            Reuse::Fresh => run_blocking(&self.tenant, event, &ctx).await?,
            Reuse::PerCall => {
                let session = self
                    .session
                    .take()
                    .unwrap_or_else(|| self.tenant.plugin.session(&self.tenant.limits));
                let (session, invocation) = run_in_session(session, event, &ctx).await?;
                self.session = Some(session);
                invocation
            }
        };
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
        if self.executor.inner.journal.receiver_count() > 0 {
            self.last_recorded = Some(Recorded {
                event: event.clone(),
                context: ctx,
                decision: match &invocation.outcome {
                    Outcome::Decision(decision) => Some(decision.actions.clone()),
                    _ => None,
                },
            });
        }
        match invocation.outcome {
            Outcome::Decision(decision) => {
                if let Some(state) = decision.state {
                    self.rec.state = state;
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

    /// Runs the outbox's actions in order; stops at the first refused or failed one
    /// and returns what to tell the plugin. `replaying`: the call was continued from
    /// its record, and a non-repeatable action already started is not sent again.
    async fn carry_out(&mut self, mut received_at: Option<Instant>, replaying: bool) -> Ran {
        let mut ran = Ran::default();
        let Some(outbox) = self.rec.outbox.clone() else {
            return ran;
        };
        for (index, pending) in outbox.actions.iter().enumerate() {
            let request = &pending.request;
            let kind = request.action.kind();
            if replaying && pending.done {
                // Ran before the host stopped; its effects are in the record.
                continue;
            }
            ran.actions.push(kind.to_owned());
            // Its position in the decision, as the policy hears of it.
            let position = u32::try_from(index).unwrap_or(u32::MAX);
            let failed = |status: Option<u16>, code: &str, message: String| ActionFailed {
                index: position,
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
            if let Err(refusal) = admission::check(
                request,
                &outbox.event,
                self.rec.snapshot.state,
                &self.tenant.allowances,
            ) {
                ran.failed = Some(refused(refusal.to_string()));
                return ran;
            }
            let tagged = ActionRequest {
                operation_context: Some(tags::tag(
                    pending.seq,
                    request.operation_context.as_deref(),
                )),
                ..request.clone()
            };
            let rest = match acs::requests::build(&tagged, self.call_ref()) {
                Ok(rest) => rest,
                Err(e) => {
                    ran.failed = Some(refused(e.to_string()));
                    return ran;
                }
            };
            if !rest.repeatable {
                if replaying && pending.started && request.action.is_media() {
                    // Most likely the service got it (the host stopped during or just
                    // after the request): its completion will come, and the policy
                    // hears it as if nothing happened. If it never does, the
                    // completion watchdog tells the policy its outcome is unknown.
                    tracing::warn!(
                        action = kind,
                        "call.resume: in flight when the host stopped; not sent again, its completion awaited"
                    );
                    count_action(&self.tenant.id, kind, "unknown");
                    self.rec.sequencer.accepted(pending.seq, request, position);
                    continue;
                }
                if replaying && pending.started {
                    tracing::warn!(
                        action = kind,
                        "call.resume: not sent again (it may have run before the host stopped)"
                    );
                    count_action(&self.tenant.id, kind, "unknown");
                    ran.failed = Some(failed(
                        None,
                        "outcome-unknown",
                        "the host stopped while this action was being sent; it may or may not have run".into(),
                    ));
                    return ran;
                }
                if !pending.started && self.executor.inner.durable.is_some() {
                    if let Some(saved) = self.rec.outbox.as_mut() {
                        saved.actions[index].started = true;
                    }
                    if !self.save(None).await {
                        return ran;
                    }
                }
            }
            if let Some(at) = received_at.take() {
                ::metrics::histogram!(metrics::EVENT_OVERHEAD_SECONDS)
                    .record(at.elapsed().as_secs_f64());
            }
            let started = Instant::now();
            let result = self
                .executor
                .inner
                .client
                .send(&rest, &pending.repeatability)
                .await;
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
                    self.rec.sequencer.accepted(pending.seq, request, position);
                    self.after_success(&request.action, &response.body);
                    if !rest.repeatable && self.executor.inner.durable.is_some() {
                        if let Some(saved) = self.rec.outbox.as_mut() {
                            saved.actions[index].done = true;
                        }
                        if !self.save(None).await {
                            return ran;
                        }
                    }
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
                    self.rec.snapshot.call_connection_id = Some(id.to_owned());
                }
                self.rec.snapshot.state = CallState::Connecting;
                self.rec.incoming_call_context = None;
            }
            // A rejected or redirected call never connects to us.
            Action::Reject(_) | Action::Redirect(_) => {
                self.rec.snapshot.state = CallState::Disconnected
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

/// [`run_blocking`] in the call's own instance (which survives for the next event
/// unless this one trapped: [`Session`] starts afresh then).
async fn run_in_session(
    mut session: Session,
    event: &Event,
    ctx: &Context,
) -> Option<(Session, crate::runtime::Invocation)> {
    use tokio::runtime::{Handle, RuntimeFlavor};
    if Handle::current().runtime_flavor() == RuntimeFlavor::MultiThread {
        let invocation = tokio::task::block_in_place(|| session.invoke(event, ctx));
        return Some((session, invocation));
    }
    let (event, ctx) = (event.clone(), ctx.clone());
    tokio::task::spawn_blocking(move || {
        let invocation = session.invoke(&event, &ctx);
        (session, invocation)
    })
    .await
    .ok()
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
