//! The simulator's own API under `/sim/`: what tests and tools use to place calls,
//! act as the caller, subscribe to Event Grid events and read each call's timeline.
//! Not part of the service; not authenticated.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::config::Subscription;
use crate::delivery;
use crate::error::ApiError;
use crate::faults::FaultRule;
use crate::identifier::RawId;
use crate::script::Caller;
use crate::world::Sim;

pub fn router() -> Router<Arc<Sim>> {
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/calls", get(list_calls).post(place_call))
        .route("/calls/{id}", get(show_call))
        .route("/calls/{id}/dtmf", post(press))
        .route("/calls/{id}/hangup", post(hang_up))
        .route("/subscriptions", get(list_subscriptions).post(subscribe))
        .route("/report", get(report))
        .route(
            "/faults",
            get(list_faults).post(add_fault).delete(clear_faults),
        )
        .route("/faults/{id}", axum::routing::delete(remove_fault))
        .route("/callback-spread", get(show_spread).put(set_spread))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Spread {
    origins: Vec<String>,
    /// `false`: only Event Grid events are spread; callbacks go to their URI's own
    /// origin (a balancer in front of the Event Grid webhook alone).
    #[serde(default = "spread_callbacks")]
    callbacks: bool,
}

const fn spread_callbacks() -> bool {
    true
}

async fn show_spread(State(sim): State<Arc<Sim>>) -> Json<Value> {
    let world = sim.world();
    Json(json!({"origins": world.spread, "callbacks": world.spread_callbacks}))
}

/// Spreads deliveries (callbacks, Event Grid events) over these origins in turn, as a
/// load balancer in front of several replicas would (`[]`: to each URI as given);
/// with `"callbacks": false`, Event Grid events only.
async fn set_spread(
    State(sim): State<Arc<Sim>>,
    body: Result<Json<Spread>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Json(spread) = match body {
        Ok(body) => body,
        Err(e) => return ApiError::invalid(format!("bad callback spread: {e}")).into_response(),
    };
    if let Some(bad) = spread
        .origins
        .iter()
        .find(|o| reqwest::Url::parse(o).map_or(true, |u| u.path() != "/" || u.query().is_some()))
    {
        return ApiError::invalid(format!(
            "callback spread origin `{bad}`: expected scheme://host:port, without a path"
        ))
        .into_response();
    }
    let mut world = sim.world();
    world.spread = spread.origins;
    world.spread_next = 0;
    world.spread_callbacks = spread.callbacks;
    Json(json!({"origins": world.spread, "callbacks": world.spread_callbacks})).into_response()
}

async fn list_faults(State(sim): State<Arc<Sim>>) -> Json<Value> {
    Json(json!({"faults": sim.world().faults.list()}))
}

/// Adds a fault rule (the `[[fault]]` table of a scenario file, as JSON).
async fn add_fault(
    State(sim): State<Arc<Sim>>,
    body: Result<Json<FaultRule>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Json(rule) = match body {
        Ok(body) => body,
        Err(e) => return ApiError::invalid(format!("bad fault rule: {e}")).into_response(),
    };
    match sim.world().faults.add(rule) {
        Ok(id) => (StatusCode::CREATED, Json(json!({"id": id}))).into_response(),
        Err(e) => ApiError::invalid(format!("bad fault rule: {e}")).into_response(),
    }
}

async fn clear_faults(State(sim): State<Arc<Sim>>) -> StatusCode {
    sim.world().faults.clear();
    StatusCode::NO_CONTENT
}

async fn remove_fault(State(sim): State<Arc<Sim>>, Path(id): Path<u64>) -> Response {
    if sim.world().faults.remove(id) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        ApiError::not_found(format!("no fault rule {id}")).into_response()
    }
}

/// The scenario report: for each scripted call, the operations the application made
/// against those the script expects.
async fn report(State(sim): State<Arc<Sim>>) -> Json<Value> {
    let world = sim.world();
    let mut passed = 0;
    let calls: Vec<Value> = world
        .order
        .iter()
        .filter_map(|server_call_id| {
            let script = world.scripts.get(server_call_id)?;
            let timeline = world
                .timelines
                .get(server_call_id)
                .map(Vec::as_slice)
                .unwrap_or_default();
            let made = crate::load::made(timeline);
            let ended = crate::load::ended(timeline);
            let pass = ended && (script.expect.is_empty() || made == script.expect);
            passed += usize::from(pass);
            Some(json!({
                "script": script.name, "serverCallId": server_call_id, "ended": ended,
                "expected": script.expect, "made": made, "pass": pass,
            }))
        })
        .collect();
    Json(json!({"passed": passed, "total": calls.len(), "calls": calls}))
}

/// A raw id from a phone number or raw id.
fn party(text: &str) -> RawId {
    if text.starts_with('+') {
        RawId::phone(text)
    } else {
        RawId(text.to_owned())
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlaceCall {
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    /// A caller script (the `[[caller]]` table of a scenario file, as JSON).
    #[serde(default)]
    caller: Option<Caller>,
}

async fn place_call(
    State(sim): State<Arc<Sim>>,
    body: Result<Json<PlaceCall>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Json(body) = match body {
        Ok(body) => body,
        Err(e) => return ApiError::invalid(format!("bad call request: {e}")).into_response(),
    };
    let (from, to) = match (&body.caller, body.from, body.to) {
        (Some(c), from, to) => (
            from.unwrap_or_else(|| c.from.clone()),
            to.unwrap_or_else(|| c.to.clone()),
        ),
        (None, Some(from), Some(to)) => (from, to),
        _ => {
            return ApiError::invalid("give `from` and `to`, or a `caller` script").into_response();
        }
    };
    let placed = sim.ring(party(&from), party(&to), body.caller);
    (StatusCode::CREATED, Json(placed)).into_response()
}

async fn list_calls(State(sim): State<Arc<Sim>>) -> Json<Value> {
    let world = sim.world();
    let calls: Vec<Value> = world
        .order
        .iter()
        .map(|server_call_id| {
            let connections: Vec<Value> = world
                .calls
                .values()
                .filter(|c| &c.server_call_id == server_call_id)
                .map(|c| json!({"callConnectionId": c.id, "state": c.state, "from": c.source.as_str()}))
                .collect();
            let ringing = world.ringing.values().any(|r| &r.server_call_id == server_call_id);
            json!({"serverCallId": server_call_id, "ringing": ringing, "connections": connections})
        })
        .collect();
    Json(json!({"calls": calls}))
}

/// A call by server call id or call connection id, with its timeline.
async fn show_call(State(sim): State<Arc<Sim>>, Path(id): Path<String>) -> Response {
    let world = sim.world();
    let server_call_id = world
        .calls
        .get(&id)
        .map_or(id.clone(), |c| c.server_call_id.clone());
    let Some(timeline) = world.timelines.get(&server_call_id) else {
        return ApiError::not_found(format!("no call {id}")).into_response();
    };
    let connections: Vec<Value> = world
        .calls
        .values()
        .filter(|c| c.server_call_id == server_call_id)
        .map(|c| c.properties())
        .collect();
    Json(json!({"serverCallId": server_call_id, "connections": connections, "timeline": timeline}))
        .into_response()
}

#[derive(Debug, Deserialize)]
struct Keys {
    keys: String,
}

async fn press(
    State(sim): State<Arc<Sim>>,
    Path(id): Path<String>,
    Json(keys): Json<Keys>,
) -> Response {
    match sim.press(&id, &keys.keys) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

async fn hang_up(State(sim): State<Arc<Sim>>, Path(id): Path<String>) -> Response {
    let mut world = sim.world();
    if !world.calls.get(&id).is_some_and(|c| c.is_live()) {
        return ApiError::not_found(format!("no live call connection {id}")).into_response();
    }
    sim.caller_hangs_up(&mut world, &id);
    StatusCode::NO_CONTENT.into_response()
}

async fn list_subscriptions(State(sim): State<Arc<Sim>>) -> Json<Value> {
    Json(json!({"subscriptions": sim.world().subscriptions}))
}

/// Adds an Event Grid subscription after its validation handshake succeeds.
async fn subscribe(
    State(sim): State<Arc<Sim>>,
    body: Result<Json<Subscription>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Json(subscription) = match body {
        Ok(body) => body,
        Err(e) => return ApiError::invalid(format!("bad subscription: {e}")).into_response(),
    };
    if let Err(e) = delivery::validate(&sim, &subscription).await {
        return ApiError::invalid(format!("subscription validation failed: {e}")).into_response();
    }
    sim.world().subscriptions.push(subscription.clone());
    (StatusCode::CREATED, Json(json!(subscription))).into_response()
}
