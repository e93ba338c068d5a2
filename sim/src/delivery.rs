//! Getting events to the application: mid-call CloudEvents to callback URIs (in order
//! per call, each with a fresh JWT), and Event Grid deliveries to subscriptions (either
//! schema, the validation handshakes, retries with Event Grid's backoff).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde_json::{Value, json};

use crate::config::{EventSchema, Subscription};
use crate::faults::{Fault, Target};
use crate::world::{PendingEvent, Sim, World, new_uuid, now_rfc3339};

/// A callback waiting to be delivered.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub url: String,
    pub event_type: String,
    /// The JSON array of CloudEvents to POST.
    pub body: Value,
    pub server_call_id: String,
}

impl Sim {
    /// Queues a callback on its call; a task delivers the call's queue in order
    /// while it is not empty (idle calls hold no task).
    pub(crate) fn queue_callback(&self, world: &mut World, call_id: &str, outgoing: Outgoing) {
        let Some(call) = world.calls.get_mut(call_id) else {
            return;
        };
        call.outbox.push_back(outgoing);
        if !call.draining {
            call.draining = true;
            tokio::spawn(drain(self.arc(), call_id.to_owned()));
        }
    }

    /// The call's next callback; with none, and `release`, the call's drain ends (the
    /// next callback emitted starts another). A drain holding reordered events keeps
    /// the call (`release` false), so that no second drain overtakes it.
    fn next_callback(&self, call_id: &str, release: bool) -> Option<Outgoing> {
        let mut world = self.world();
        let call = world.calls.get_mut(call_id)?;
        let next = call.outbox.pop_front();
        if next.is_none() && release {
            call.draining = false;
        }
        next
    }
}

/// Delivers a call's callbacks one at a time, in the order they were emitted, unless
/// an injected fault drops, duplicates, delays or reorders one.
async fn drain(sim: Arc<Sim>, call_id: String) {
    let mut held: Vec<Outgoing> = Vec::new();
    loop {
        let outgoing = match sim.next_callback(&call_id, held.is_empty()) {
            Some(next) => next,
            None if held.is_empty() => return,
            // A reordered event goes out after the next one, or when none comes soon.
            None => {
                tokio::time::sleep(sim.scaled(Duration::from_secs(2))).await;
                match sim.next_callback(&call_id, false) {
                    Some(next) => next,
                    None => {
                        for outgoing in held.drain(..) {
                            deliver_callback(&sim, &outgoing).await;
                        }
                        continue;
                    }
                }
            }
        };
        let effect = EventFaults::of(&sim, &outgoing.event_type, &outgoing.server_call_id);
        if !effect.delay.is_zero() {
            tokio::time::sleep(effect.delay).await;
        }
        if effect.reorder && effect.copies > 0 {
            held.push(outgoing);
            continue;
        }
        for _ in 0..effect.copies {
            deliver_callback(&sim, &outgoing).await;
        }
        for outgoing in held.drain(..) {
            deliver_callback(&sim, &outgoing).await;
        }
    }
}

/// What injected faults do to one event.
struct EventFaults {
    copies: usize,
    delay: Duration,
    reorder: bool,
}

impl EventFaults {
    fn of(sim: &Sim, event_type: &str, server_call_id: &str) -> Self {
        let mut effect = Self {
            copies: 1,
            delay: Duration::ZERO,
            reorder: false,
        };
        for fault in sim.fire(Target::Event(event_type), Some(server_call_id)) {
            match fault {
                Fault::Drop => effect.copies = 0,
                Fault::Duplicate => effect.copies += 1,
                Fault::Latency { ms } => effect.delay += Duration::from_millis(ms),
                Fault::Reorder => effect.reorder = true,
                Fault::Status { .. } => {}
            }
        }
        effect
    }
}

/// What a delivery carries, for the spread (which may leave callbacks alone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Delivery {
    Callback,
    EventGrid,
}

impl Sim {
    /// Where a delivery to `url` goes: the next origin of the spread, if any (and if
    /// it spreads this kind), with the URI's path.
    fn spread<'a>(&self, url: &'a str, kind: Delivery) -> std::borrow::Cow<'a, str> {
        let mut world = self.world();
        if world.spread.is_empty() || (kind == Delivery::Callback && !world.spread_callbacks) {
            return url.into();
        }
        let origin = world.spread[world.spread_next % world.spread.len()].clone();
        world.spread_next += 1;
        let path = url
            .find("://")
            .and_then(|scheme| url[scheme + 3..].find('/').map(|p| &url[scheme + 3 + p..]))
            .unwrap_or("/");
        format!("{}{path}", origin.trim_end_matches('/')).into()
    }
}

/// Backoff between callback attempts, in simulated time.
const CALLBACK_BACKOFF: [Duration; 4] = [
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
    Duration::from_secs(8),
];

async fn deliver_callback(sim: &Arc<Sim>, outgoing: &Outgoing) {
    let attempts = sim.config.callback_attempts.max(1);
    for attempt in 1..=attempts {
        let sent_ms = sim.elapsed_ms();
        let token = sim.signer.current(SystemTime::now());
        let url = sim.spread(&outgoing.url, Delivery::Callback);
        let result = sim
            .http
            .post(url.as_ref())
            .header(AUTHORIZATION, format!("Bearer {token}"))
            .header(CONTENT_TYPE, "application/json")
            .body(outgoing.body.to_string())
            .send()
            .await;
        let (status, ok) = match &result {
            Ok(response) => (
                Value::from(response.status().as_u16()),
                response.status().is_success(),
            ),
            Err(error) => (Value::from(error.to_string()), false),
        };
        {
            let mut world = sim.world();
            sim.record(
                &mut world,
                &outgoing.server_call_id,
                "delivery",
                &outgoing.event_type,
                json!({"attempt": attempt, "status": status, "sent_ms": sent_ms, "url": url.as_ref()}),
            );
        }
        if ok {
            return;
        }
        if attempt < attempts {
            let backoff = CALLBACK_BACKOFF[(attempt as usize - 1).min(CALLBACK_BACKOFF.len() - 1)];
            tokio::time::sleep(sim.scaled(backoff)).await;
        }
    }
    tracing::warn!(url = %outgoing.url, event = %outgoing.event_type, "callback not delivered; giving up");
}

/// The topic of the simulated resource.
#[must_use]
pub fn topic(resource_id: &str) -> String {
    format!(
        "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/switchboard-sim/providers/Microsoft.Communication/communicationServices/sim-{resource_id}"
    )
}

/// One event in the subscription's schema.
#[must_use]
pub fn event_grid_event(
    subscription: &Subscription,
    id: &str,
    event_type: &str,
    subject: &str,
    data: &Value,
    resource_id: &str,
) -> Value {
    let full_type = format!("Microsoft.Communication.{event_type}");
    match subscription.schema {
        EventSchema::EventGrid => json!({
            "id": id, "topic": topic(resource_id), "subject": subject, "data": data,
            "eventType": full_type, "dataVersion": "1.0", "metadataVersion": "1", "eventTime": now_rfc3339(),
        }),
        EventSchema::CloudEvents => json!({
            "id": id, "source": topic(resource_id), "subject": subject, "data": data,
            "type": full_type, "specversion": "1.0", "time": now_rfc3339(),
        }),
    }
}

/// Event Grid's retry schedule (simulated time), after which an event is dropped.
const EVENT_GRID_BACKOFF: [Duration; 6] = [
    Duration::from_secs(10),
    Duration::from_secs(30),
    Duration::from_secs(60),
    Duration::from_secs(300),
    Duration::from_secs(600),
    Duration::from_secs(1800),
];

/// Delivers a batch to a subscription: 200-204 is success; 400, 401, 403 and 413
/// are not retried. Faults apply to each event (dropped ones leave the batch).
pub async fn deliver_event_grid(
    sim: &Arc<Sim>,
    subscription: &Subscription,
    events: Vec<PendingEvent>,
) {
    let content_type = match subscription.schema {
        EventSchema::EventGrid => "application/json; charset=utf-8",
        EventSchema::CloudEvents => "application/cloudevents-batch+json; charset=utf-8",
    };
    let mut body = Vec::with_capacity(events.len());
    let mut delay = Duration::ZERO;
    for pending in &events {
        let effect = EventFaults::of(sim, &pending.event_type, &pending.server_call_id);
        delay += effect.delay;
        body.extend(std::iter::repeat_n(pending.event.clone(), effect.copies));
    }
    if body.is_empty() {
        return;
    }
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let (first_type, first_call) = (&events[0].event_type, &events[0].server_call_id);
    if subscription.max_events_per_batch <= 1 {
        // Unbatched: one request per event (a duplicate is a second request).
        for event in body {
            let body = Value::Array(vec![event]).to_string();
            post_event_grid(
                sim,
                subscription,
                &body,
                content_type,
                first_type,
                first_call,
            )
            .await;
        }
    } else {
        let body = Value::Array(body).to_string();
        post_event_grid(
            sim,
            subscription,
            &body,
            content_type,
            first_type,
            first_call,
        )
        .await;
    }
}

async fn post_event_grid(
    sim: &Arc<Sim>,
    subscription: &Subscription,
    body: &str,
    content_type: &str,
    event_type: &str,
    server_call_id: &str,
) {
    for attempt in 1..=EVENT_GRID_BACKOFF.len() + 1 {
        let sent_ms = sim.elapsed_ms();
        let endpoint = sim.spread(&subscription.endpoint, Delivery::EventGrid);
        let mut request = sim
            .http
            .post(endpoint.as_ref())
            .header(CONTENT_TYPE, content_type)
            .header("aeg-event-type", "Notification")
            .header("aeg-subscription-name", "SWITCHBOARD-SIM")
            .header("aeg-delivery-count", (attempt - 1).to_string())
            .body(body.to_owned());
        request = match subscription.schema {
            EventSchema::EventGrid => request
                .header("aeg-data-version", "1.0")
                .header("aeg-metadata-version", "1"),
            EventSchema::CloudEvents => request.header("aeg-metadata-version", "1.0"),
        };
        let result = request.send().await;
        let status = result.as_ref().ok().map(|r| r.status().as_u16());
        {
            let mut world = sim.world();
            let shown = status.map_or_else(
                || Value::from(result.as_ref().err().map(ToString::to_string)),
                Value::from,
            );
            sim.record(
                &mut world,
                server_call_id,
                "delivery",
                event_type,
                json!({"to": endpoint.as_ref(), "attempt": attempt, "status": shown, "sent_ms": sent_ms}),
            );
        }
        match status {
            Some(200..=204) => return,
            Some(400 | 401 | 403 | 413) => break,
            _ => {}
        }
        if let Some(backoff) = EVENT_GRID_BACKOFF.get(attempt - 1) {
            tokio::time::sleep(sim.scaled(*backoff)).await;
        }
    }
    tracing::warn!(endpoint = %subscription.endpoint, event = event_type, "Event Grid delivery dropped");
}

/// Why a subscription endpoint was not validated.
#[derive(Debug, thiserror::Error)]
pub enum ValidationError {
    #[error("the endpoint could not be reached: {0}")]
    Unreachable(#[from] reqwest::Error),
    #[error("the endpoint answered {0} to the validation request")]
    Status(u16),
    #[error("the endpoint did not echo the validation code (answered {0:?})")]
    WrongCode(String),
    #[error("the endpoint did not allow the origin (WebHook-Allowed-Origin: {0:?})")]
    Origin(Option<String>),
}

/// The subscription validation handshake of the subscription's schema.
pub async fn validate(sim: &Sim, subscription: &Subscription) -> Result<(), ValidationError> {
    match subscription.schema {
        EventSchema::EventGrid => {
            let code = {
                let mut world = sim.world();
                new_uuid(&mut world.rng)
            };
            let event = json!([{
                "id": code, "topic": topic(&sim.config.resource_id), "subject": "",
                "data": {"validationCode": code, "validationUrl": format!("{}/sim/validate?id={code}", sim.base_url())},
                "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent", "eventTime": now_rfc3339(),
                "metadataVersion": "1", "dataVersion": "2",
            }]);
            let response = sim
                .http
                .post(&subscription.endpoint)
                .header(CONTENT_TYPE, "application/json; charset=utf-8")
                .header("aeg-event-type", "SubscriptionValidation")
                .body(event.to_string())
                .send()
                .await?;
            let status = response.status().as_u16();
            if status != 200 {
                return Err(ValidationError::Status(status));
            }
            let body: Value = response.json().await.unwrap_or(Value::Null);
            match body.get("validationResponse").and_then(Value::as_str) {
                Some(echo) if echo == code => Ok(()),
                other => Err(ValidationError::WrongCode(
                    other.unwrap_or_default().to_owned(),
                )),
            }
        }
        EventSchema::CloudEvents => {
            let response = sim
                .http
                .request(reqwest::Method::OPTIONS, &subscription.endpoint)
                .header("WebHook-Request-Origin", "eventgrid.azure.net")
                .header("WebHook-Request-Rate", "120")
                .send()
                .await?;
            let status = response.status().as_u16();
            if status != 200 {
                return Err(ValidationError::Status(status));
            }
            let origin = response
                .headers()
                .get("WebHook-Allowed-Origin")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            match origin.as_deref() {
                Some("eventgrid.azure.net" | "*") => Ok(()),
                _ => Err(ValidationError::Origin(origin)),
            }
        }
    }
}

impl Sim {
    /// The base URL clients reach the simulator at (HTTPS when served).
    #[must_use]
    pub fn base_url(&self) -> String {
        self.base_url.lock().map(|u| u.clone()).unwrap_or_default()
    }
}
