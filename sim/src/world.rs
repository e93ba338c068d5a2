//! The simulated service's state: ringing calls, call connections with their
//! participants and media, recordings, the repeatability store and each call's
//! timeline. Everything lives behind one mutex, held only for short, non-async
//! sections; what takes (simulated) time runs in tasks that re-check the state when
//! they wake up.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};

use crate::config::{SimConfig, Subscription};
use crate::delivery::{self, Outgoing};
use crate::faults::{Fault, Faults, Target};
use crate::hmac_auth::AccessKey;
use crate::identifier::RawId;
use crate::jwt::TokenSigner;
use crate::script::{Agent, Caller, Input};

/// The state of the application's connection to a call, as the service names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ConnState {
    Unknown,
    Connecting,
    Connected,
    Transferring,
    TransferAccepted,
    Disconnecting,
    Disconnected,
}

/// A participant of a call.
#[derive(Debug, Clone)]
pub struct Part {
    pub id: RawId,
    pub muted: bool,
    pub on_hold: bool,
}

impl Part {
    pub fn new(id: RawId) -> Self {
        Self {
            id,
            muted: false,
            on_hold: false,
        }
    }

    #[must_use]
    pub fn to_wire(&self) -> Value {
        json!({"identifier": self.id.to_wire(), "isMuted": self.muted, "isOnHold": self.on_hold})
    }
}

/// A call that rang and waits for answer, reject or redirect.
#[derive(Debug, Clone)]
pub struct Ringing {
    pub server_call_id: String,
    pub correlation_id: String,
    pub from: RawId,
    pub to: RawId,
    pub caller: Option<Caller>,
}

/// A queued or running play/recognize.
#[derive(Debug, Clone)]
pub struct MediaOp {
    pub id: u64,
    pub kind: MediaKind,
    pub sources: Vec<Value>,
    pub context: Option<String>,
    pub callback: Option<String>,
}

#[derive(Debug, Clone)]
pub enum MediaKind {
    Play { looped: bool },
    Recognize(Box<RecognizeSpec>),
}

/// What a recognize listens for.
#[derive(Debug, Clone)]
pub struct RecognizeSpec {
    pub input_type: String,
    pub interrupt_prompt: bool,
    pub initial_silence: Duration,
    pub max_tones: usize,
    pub stop_tones: Vec<String>,
    pub choices: Vec<Value>,
}

/// A streaming subscription (transcription or media streaming).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Streaming {
    #[default]
    Inactive,
    Active,
}

/// One pending invitation (add participant).
#[derive(Debug, Clone)]
pub struct Invitation {
    pub participant: RawId,
    pub context: Option<String>,
    pub callback: Option<String>,
}

/// The application's connection to a call.
#[derive(Debug)]
pub struct Call {
    pub id: String,
    pub server_call_id: String,
    pub correlation_id: String,
    pub api_version: String,
    pub callback_uri: String,
    pub operation_context: Option<String>,
    pub state: ConnState,
    /// Who the call is from (the caller for answered calls; the source for created ones).
    pub source: RawId,
    pub targets: Vec<RawId>,
    pub participants: Vec<Part>,
    pub caller: Option<Caller>,
    pub inputs: VecDeque<Input>,
    pub media_queue: VecDeque<MediaOp>,
    pub media_current: Option<MediaOp>,
    pub continuous_dtmf: bool,
    pub transcription: Streaming,
    pub media_streaming: Streaming,
    pub invitations: HashMap<String, Invitation>,
    pub sequence: u64,
    /// Callbacks waiting for delivery, in order; `draining` while a task delivers them.
    pub outbox: VecDeque<Outgoing>,
    pub draining: bool,
}

impl Call {
    #[must_use]
    pub fn is_live(&self) -> bool {
        !matches!(
            self.state,
            ConnState::Disconnected | ConnState::Disconnecting
        )
    }

    #[must_use]
    pub fn has_participant(&self, id: &RawId) -> bool {
        self.participants.iter().any(|p| &p.id == id)
    }

    /// `CallConnectionProperties`.
    #[must_use]
    pub fn properties(&self) -> Value {
        let mut v = json!({
            "callConnectionId": self.id,
            "serverCallId": self.server_call_id,
            "targets": self.targets.iter().map(RawId::to_wire).collect::<Vec<_>>(),
            "callConnectionState": self.state,
            "callbackUri": self.callback_uri,
            "correlationId": self.correlation_id,
            "source": self.source.to_wire(),
            "mediaStreamingSubscription": {"id": format!("ms-{}", self.id), "state": streaming_state(self.media_streaming), "subscribedContentTypes": ["audio"]},
            "transcriptionSubscription": {"id": format!("tr-{}", self.id), "state": streaming_state(self.transcription), "subscribedResultTypes": ["final"]},
        });
        if let Some(number) = self.source.phone_number() {
            v["sourceCallerIdNumber"] = json!({"value": number});
        }
        v
    }
}

fn streaming_state(s: Streaming) -> &'static str {
    match s {
        Streaming::Inactive => "inactive",
        Streaming::Active => "active",
    }
}

/// A recording.
#[derive(Debug, Clone)]
pub struct Recording {
    pub id: String,
    pub server_call_id: String,
    pub active: bool,
    pub callback: String,
    pub call_id: Option<String>,
}

/// A stored response for `Repeatability-Request-ID`.
#[derive(Debug, Clone)]
pub struct Stored {
    pub fingerprint: String,
    pub status: u16,
    pub body: Option<Value>,
    pub at: Instant,
}

/// One line of a call's timeline.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    /// Milliseconds since the simulator started.
    pub at_ms: f64,
    /// `request`, `event`, `delivery`, `state` or `fault`.
    pub kind: &'static str,
    /// The operation, event type or new state.
    pub name: String,
    /// Kept as compact JSON text: a call's timeline is most of its memory, and a
    /// `Value` tree takes several times the space of its text.
    #[serde(skip_serializing_if = "is_null")]
    detail: Box<RawValue>,
}

fn is_null(raw: &RawValue) -> bool {
    raw.get() == "null"
}

impl Entry {
    #[must_use]
    pub fn new(at_ms: f64, kind: &'static str, name: &str, detail: &Value) -> Self {
        Self {
            at_ms,
            kind,
            name: name.to_owned(),
            detail: serde_json::value::to_raw_value(detail).expect("JSON values serialize"),
        }
    }

    /// The entry's details (parsed from their stored text).
    #[must_use]
    pub fn detail(&self) -> Value {
        serde_json::from_str(self.detail.get()).unwrap_or(Value::Null)
    }
}

/// Everything mutable.
#[derive(Debug)]
pub struct World {
    pub rng: ChaCha8Rng,
    pub ringing: HashMap<String, Ringing>,
    // Boxed: a hash table keeps its values inline, and grows by doubling.
    pub calls: HashMap<String, Box<Call>>,
    pub recordings: HashMap<String, Recording>,
    pub repeat: HashMap<String, Stored>,
    pub timelines: HashMap<String, Vec<Entry>>,
    /// Server call ids in order of creation.
    pub order: Vec<String>,
    pub subscriptions: Vec<Subscription>,
    pub agents: Vec<Agent>,
    /// The caller script each scripted call was placed with, by server call id.
    pub scripts: HashMap<String, Caller>,
    pub faults: Faults,
    /// Event Grid events waiting to go out in a batch, by subscription endpoint.
    pub batches: HashMap<String, Vec<PendingEvent>>,
    /// The last media operation id given out (ids tell a finished operation's timer
    /// from the operation that replaced it).
    pub media_ids: u64,
    /// Deliveries go to these origins in turn instead of the URI's own (a load
    /// balancer in front of several replicas); empty: to the URI as given.
    pub spread: Vec<String>,
    /// Callback deliveries spread so far.
    pub spread_next: usize,
    /// Whether callbacks are spread too, or only Event Grid events (each replica
    /// then gets the callbacks of the calls it answered, at the URI it gave).
    pub spread_callbacks: bool,
}

/// An Event Grid event on its way to a subscription.
#[derive(Debug, Clone)]
pub struct PendingEvent {
    pub event: Value,
    pub event_type: String,
    pub server_call_id: String,
}

/// The simulated service.
pub struct Sim {
    pub config: SimConfig,
    pub key: AccessKey,
    pub signer: TokenSigner,
    world: Mutex<World>,
    pub http: reqwest::Client,
    started: Instant,
    /// The HTTPS base URL (for the OpenID configuration), once listening.
    pub base_url: Mutex<String>,
    /// Itself, for the tasks it spawns from `&self` methods.
    me: std::sync::Weak<Sim>,
}

impl std::fmt::Debug for Sim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sim")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Sim {
    pub fn new(config: SimConfig) -> anyhow::Result<Arc<Self>> {
        let key = AccessKey::from_base64(&config.access_key)
            .map_err(|e| anyhow::anyhow!("the access key is not base64: {e}"))?;
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let signer = TokenSigner::generate(&mut rng, crate::jwt::ISSUER, &config.resource_id)?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            // As many idle connections per receiver as deliveries under load are in
            // flight to it, so that each delivery finds one: with 8, a load of
            // 1,000 calls/s opened a new connection for one delivery in two (the
            // receiver paying an accept, a task and a close each, BENCHMARKS.md).
            // Bounded: idle connections hold buffers, and close after 90 s.
            .pool_max_idle_per_host(256)
            // Receivers on loopback commonly use self-signed certificates.
            .danger_accept_invalid_certs(true)
            .build()?;
        let world = World {
            rng,
            ringing: HashMap::new(),
            calls: HashMap::new(),
            recordings: HashMap::new(),
            repeat: HashMap::new(),
            timelines: HashMap::new(),
            order: Vec::new(),
            subscriptions: config.subscriptions.clone(),
            agents: config.scenario.agents.clone(),
            scripts: HashMap::new(),
            faults: Faults::default(),
            batches: HashMap::new(),
            media_ids: 0,
            spread: config.callback_spread.clone(),
            spread_next: 0,
            spread_callbacks: true,
        };
        let mut world = world;
        for rule in &config.scenario.faults {
            world
                .faults
                .add(rule.clone())
                .map_err(|e| anyhow::anyhow!("fault rule: {e}"))?;
        }
        Ok(Arc::new_cyclic(|me| Self {
            config,
            key,
            signer,
            world: Mutex::new(world),
            http,
            started: Instant::now(),
            base_url: Mutex::new(String::new()),
            me: me.clone(),
        }))
    }

    pub fn world(&self) -> MutexGuard<'_, World> {
        self.world
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The shared handle of this simulator.
    #[must_use]
    pub fn arc(&self) -> Arc<Sim> {
        self.me.upgrade().expect("a Sim lives in an Arc")
    }

    /// Real time for a simulated duration.
    #[must_use]
    pub fn scaled(&self, simulated: Duration) -> Duration {
        simulated.div_f64(self.config.time_scale.max(1e-6))
    }

    /// Runs `f` on the world after `simulated` time.
    pub fn after(
        self: &Arc<Self>,
        simulated: Duration,
        f: impl FnOnce(&Arc<Sim>, &mut World) + Send + 'static,
    ) {
        let sim = Arc::clone(self);
        let delay = self.scaled(simulated);
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let mut world = sim.world();
            f(&sim, &mut world);
        });
    }

    /// The injected faults that fire now for `target`, recorded on the timeline of
    /// `call` (a call connection id or a server call id).
    pub fn fire(&self, target: Target<'_>, call: Option<&str>) -> Vec<Fault> {
        let mut world = self.world();
        let World { faults, rng, .. } = &mut *world;
        let fired = faults.fire(target, rng);
        if !fired.is_empty() {
            let server_call_id = call.map(|id| {
                world
                    .calls
                    .get(id)
                    .map_or_else(|| id.to_owned(), |c| c.server_call_id.clone())
            });
            if let Some(server_call_id) = server_call_id {
                let name = match target {
                    Target::Operation(n) | Target::Event(n) => n,
                };
                self.record(&mut world, &server_call_id, "fault", name, json!(fired));
            }
        }
        fired
    }

    #[must_use]
    pub fn elapsed_ms(&self) -> f64 {
        self.started.elapsed().as_secs_f64() * 1e3
    }

    /// Appends to a call's timeline.
    pub fn record(
        &self,
        world: &mut World,
        server_call_id: &str,
        kind: &'static str,
        name: &str,
        detail: Value,
    ) {
        let entry = Entry::new(self.elapsed_ms(), kind, name, &detail);
        world
            .timelines
            .entry(server_call_id.to_owned())
            .or_default()
            .push(entry);
    }

    /// A CloudEvent for a call, queued on the call's ordered delivery channel.
    pub fn emit(
        &self,
        world: &mut World,
        call_id: &str,
        event_type: &str,
        mut data: Value,
        callback: Option<&str>,
    ) {
        let Some(call) = world.calls.get(call_id) else {
            return;
        };
        let common = json!({
            "callConnectionId": call.id,
            "serverCallId": call.server_call_id,
            "correlationId": call.correlation_id,
            "version": call.api_version,
            "publicEventType": format!("Microsoft.Communication.{event_type}"),
        });
        if let (Some(data), Some(common)) = (data.as_object_mut(), common.as_object()) {
            for (k, v) in common {
                data.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        let id = new_uuid(&mut world.rng);
        let source = format!("calling/callConnections/{}", call.id);
        let event = json!({
            "id": id,
            "source": source,
            "type": format!("Microsoft.Communication.{event_type}"),
            "data": data,
            "time": now_rfc3339(),
            "specversion": "1.0",
            "datacontenttype": "application/json",
            "subject": source,
        });
        let url = callback.unwrap_or(&call.callback_uri).to_owned();
        let server_call_id = call.server_call_id.clone();
        let outgoing = Outgoing {
            url: url.clone(),
            event_type: event_type.to_owned(),
            body: json!([event]),
            server_call_id: server_call_id.clone(),
        };
        self.queue_callback(world, call_id, outgoing);
        self.record(
            world,
            &server_call_id,
            "event",
            event_type,
            json!({"id": id, "to": url, "data": data}),
        );
    }

    /// Sends an Event Grid event to every subscription that wants it.
    pub fn publish(
        self: &Arc<Self>,
        world: &mut World,
        event_type: &str,
        subject: &str,
        data: Value,
        server_call_id: &str,
    ) {
        let id = new_uuid(&mut world.rng);
        let subscriptions: Vec<Subscription> = world
            .subscriptions
            .iter()
            .filter(|s| s.wants(event_type))
            .cloned()
            .collect();
        self.record(
            world,
            server_call_id,
            "event",
            event_type,
            json!({"id": id, "subscriptions": subscriptions.len(), "data": data}),
        );
        for subscription in subscriptions {
            let sim = Arc::clone(self);
            let event = delivery::event_grid_event(
                &subscription,
                &id,
                event_type,
                subject,
                &data,
                &self.config.resource_id,
            );
            let pending = PendingEvent {
                event,
                event_type: event_type.to_owned(),
                server_call_id: server_call_id.to_owned(),
            };
            if subscription.max_events_per_batch <= 1 {
                tokio::spawn(async move {
                    delivery::deliver_event_grid(&sim, &subscription, vec![pending]).await
                });
                continue;
            }
            // Batched subscriptions: events gather for up to 50 ms or a full batch.
            let batch = world
                .batches
                .entry(subscription.endpoint.clone())
                .or_default();
            batch.push(pending);
            let full = batch.len() >= subscription.max_events_per_batch;
            if full || batch.len() == 1 {
                let wait = if full {
                    Duration::ZERO
                } else {
                    Duration::from_millis(50)
                };
                tokio::spawn(async move {
                    tokio::time::sleep(wait).await;
                    let events = sim
                        .world()
                        .batches
                        .remove(&subscription.endpoint)
                        .unwrap_or_default();
                    if !events.is_empty() {
                        delivery::deliver_event_grid(&sim, &subscription, events).await;
                    }
                });
            }
        }
    }

    /// Opens a call connection and its ordered event channel.
    #[allow(clippy::too_many_arguments)]
    pub fn open_call(
        self: &Arc<Self>,
        world: &mut World,
        server_call_id: &str,
        correlation_id: &str,
        api_version: &str,
        callback_uri: &str,
        operation_context: Option<String>,
        source: RawId,
        targets: Vec<RawId>,
        caller: Option<Caller>,
    ) -> String {
        let id = new_uuid(&mut world.rng);
        let mut participants = vec![Part::new(source.clone())];
        participants.extend(targets.iter().cloned().map(Part::new));
        let inputs = caller
            .as_ref()
            .map(|c| c.inputs.iter().cloned().collect())
            .unwrap_or_default();
        world.calls.insert(
            id.clone(),
            Box::new(Call {
                id: id.clone(),
                server_call_id: server_call_id.to_owned(),
                correlation_id: correlation_id.to_owned(),
                api_version: api_version.to_owned(),
                callback_uri: callback_uri.to_owned(),
                operation_context,
                state: ConnState::Connecting,
                source,
                targets,
                participants,
                caller,
                inputs,
                media_queue: VecDeque::new(),
                media_current: None,
                continuous_dtmf: false,
                transcription: Streaming::Inactive,
                media_streaming: Streaming::Inactive,
                invitations: HashMap::new(),
                sequence: 0,
                outbox: VecDeque::new(),
                draining: false,
            }),
        );
        id
    }

    /// Sets a call's state and records it.
    pub fn set_state(&self, world: &mut World, call_id: &str, state: ConnState) {
        if let Some(call) = world.calls.get_mut(call_id) {
            call.state = state;
            let server_call_id = call.server_call_id.clone();
            self.record(
                world,
                &server_call_id,
                "state",
                &format!("{state:?}"),
                Value::Null,
            );
        }
    }

    /// Emits ParticipantsUpdated with the call's participants.
    pub fn participants_updated(&self, world: &mut World, call_id: &str) {
        let Some(call) = world.calls.get_mut(call_id) else {
            return;
        };
        // The service's sequence numbers increase but skip values.
        call.sequence += 2;
        let data = json!({
            "sequenceNumber": call.sequence,
            "participants": call.participants.iter().map(Part::to_wire).collect::<Vec<_>>(),
            "resultInformation": {"code": 200, "subCode": 0, "message": ""},
        });
        self.emit(world, call_id, "ParticipantsUpdated", data, None);
    }

    /// The party behind an identifier: scripted for this call, scripted globally, or a
    /// default that answers.
    #[must_use]
    pub fn agent(world: &World, call_id: Option<&str>, id: &RawId) -> Agent {
        let matches = |a: &&Agent| a.id == id.as_str() || RawId::phone(&a.id) == *id;
        call_id
            .and_then(|c| world.calls.get(c))
            .and_then(|c| c.caller.as_ref())
            .and_then(|c| c.agents.iter().find(matches))
            .or_else(|| world.agents.iter().find(matches))
            .cloned()
            .unwrap_or_else(|| Agent::default_for(id.as_str()))
    }

    /// Ends the application's connection: media stops, CallDisconnected is sent, and
    /// Event Grid hears CallEnded.
    pub fn disconnect(
        self: &Arc<Self>,
        world: &mut World,
        call_id: &str,
        sub_code: u32,
        message: &str,
    ) {
        if let Some(server_call_id) = self.leave(world, call_id, sub_code, message) {
            self.call_ended(world, &server_call_id, sub_code, message);
        }
    }

    /// Ends the application's connection only (the call goes on without it, as after a
    /// transfer); returns the server call id if the connection was live.
    pub fn leave(
        self: &Arc<Self>,
        world: &mut World,
        call_id: &str,
        sub_code: u32,
        message: &str,
    ) -> Option<String> {
        let call = world.calls.get_mut(call_id)?;
        if !call.is_live() {
            return None;
        }
        call.media_queue.clear();
        call.media_current = None;
        let context = call.operation_context.clone();
        let server_call_id = call.server_call_id.clone();
        self.emit(
            world,
            call_id,
            "CallDisconnected",
            json!({"operationContext": context, "resultInformation": {"code": 200, "subCode": sub_code, "message": message}}),
            None,
        );
        self.set_state(world, call_id, ConnState::Disconnected);
        Some(server_call_id)
    }

    /// The conversation is over: Event Grid hears CallEnded.
    pub fn call_ended(
        self: &Arc<Self>,
        world: &mut World,
        server_call_id: &str,
        sub_code: u32,
        message: &str,
    ) {
        let Some(call) = world
            .calls
            .values()
            .find(|c| c.server_call_id == server_call_id)
        else {
            return;
        };
        let (correlation_id, source) = (call.correlation_id.clone(), call.source.clone());
        self.record(world, server_call_id, "state", "Ended", Value::Null);
        self.publish(
            world,
            "CallEnded",
            &format!("/caller/{source}"),
            json!({"serverCallId": server_call_id, "correlationId": correlation_id, "isTwoParty": true, "isRoomsCall": false,
                   "reason": {"code": 200, "subCode": sub_code, "phrase": message}}),
            server_call_id,
        );
    }
}

/// A v4-shaped UUID from the simulator's seeded generator.
pub fn new_uuid(rng: &mut ChaCha8Rng) -> String {
    uuid::Builder::from_random_bytes(rng.r#gen())
        .into_uuid()
        .to_string()
}

/// `2024-02-29T19:15:44.1159369+00:00`, as the service writes times.
#[must_use]
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::from(SystemTime::now());
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:7]+00:00"
    );
    now.format(&format).unwrap_or_default()
}
