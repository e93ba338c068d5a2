//! The HTTP surface the service talks to: `POST /eventgrid` (both Event Grid schemas,
//! both validation handshakes, batches) and `POST /callbacks/{token}` (CloudEvents,
//! JWT-authenticated; the token binds the callback to its tenant and call), plus
//! `/healthz`, `/readyz` and `/metrics` (Prometheus text).

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use super::auth::CallbackAuth;
use crate::acs::events::{EventGridBody, parse_callbacks, parse_event_grid};
use crate::contract::Event;
use crate::dedupe::Window;
use crate::directory::Directory;
use crate::executor::{Delivery, Executor};
use crate::metrics;

/// Largest body accepted (larger: 413).
pub const MAX_BODY: usize = 1 << 20;

/// What the handlers share.
#[derive(Debug)]
pub struct Ingress {
    pub executor: Executor,
    pub directory: Arc<Directory>,
    pub auth: CallbackAuth,
    prometheus: Option<metrics_exporter_prometheus::PrometheusHandle>,
    /// Recent IncomingCall event ids (Event Grid delivers at least once).
    seen: Mutex<Window>,
}

impl Ingress {
    #[must_use]
    pub fn new(
        executor: Executor,
        directory: Arc<Directory>,
        auth: CallbackAuth,
        prometheus: Option<metrics_exporter_prometheus::PrometheusHandle>,
    ) -> Self {
        Self {
            executor,
            directory,
            auth,
            prometheus,
            seen: Mutex::new(Window::default()),
        }
    }

    /// Whether this Event Grid event id is new (and remember it).
    fn first_time(&self, id: &str) -> bool {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(id, 10_000)
    }
}

pub fn router(ingress: Arc<Ingress>) -> Router {
    Router::new()
        .route("/eventgrid", post(event_grid).options(event_grid_handshake))
        .route("/callbacks/{token}", post(callback))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(|| async { "ready" }))
        .route("/metrics", get(render_metrics))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(ingress)
}

async fn render_metrics(State(ingress): State<Arc<Ingress>>) -> Response {
    match &ingress.prometheus {
        Some(handle) => (
            [(
                axum::http::header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            handle.render(),
        )
            .into_response(),
        None => problem(
            StatusCode::NOT_FOUND,
            "this process records metrics with another recorder",
        ),
    }
}

fn problem(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": message.into()}))).into_response()
}

/// The service sends JSON (`application/json`; Event Grid's CloudEvents schema
/// `application/cloudevents+json` or `application/cloudevents-batch+json`): anything
/// else is refused with 415 (the answer returned), before its body is looked at.
fn refuse_non_json(headers: &HeaderMap) -> Option<Response> {
    let content_type = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let media = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let json = media == "application/json"
        || (media.starts_with("application/") && media.ends_with("+json"));
    if json {
        return None;
    }
    Some(problem(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        if content_type.is_empty() {
            "no Content-Type: events are application/json".to_owned()
        } else {
            format!("Content-Type `{content_type}`: events are application/json")
        },
    ))
}

async fn event_grid(
    State(ingress): State<Arc<Ingress>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let arrived = std::time::Instant::now();
    if let Some(refused) = refuse_non_json(&headers) {
        return refused;
    }
    let events = match parse_event_grid(&body) {
        Ok(EventGridBody::Validation { code }) => {
            return Json(json!({"validationResponse": code})).into_response();
        }
        Ok(EventGridBody::Events(events)) => events,
        Err(e) => return problem(StatusCode::BAD_REQUEST, e.to_string()),
    };
    for mut received in events {
        received.received_at = arrived;
        if !ingress.first_time(&received.id) {
            continue;
        }
        let Event::IncomingCall(call) = &received.event else {
            tracing::debug!(event = %received.event_type, "ingress.event_grid.ignored");
            continue;
        };
        match ingress.directory.route(&call.to).await {
            Ok(tenant) => ingress.executor.start_call(tenant, received).await,
            Err(why) => {
                tracing::warn!(to = ?call.to, reason = %why, "ingress.unrouted: call rejected");
                ingress.executor.reject(&received);
            }
        }
    }
    StatusCode::OK.into_response()
}

/// The CloudEvents webhook handshake: allow Event Grid to deliver.
async fn event_grid_handshake(headers: HeaderMap) -> Response {
    let Some(origin) = headers.get("webhook-request-origin").cloned() else {
        return problem(StatusCode::BAD_REQUEST, "missing WebHook-Request-Origin");
    };
    let mut response = StatusCode::OK.into_response();
    let h = response.headers_mut();
    h.insert("WebHook-Allowed-Origin", origin);
    h.insert("WebHook-Allowed-Rate", HeaderValue::from_static("*"));
    h.insert("Allow", HeaderValue::from_static("POST, OPTIONS"));
    response
}

async fn callback(
    State(ingress): State<Arc<Ingress>>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let arrived = std::time::Instant::now();
    let rejected = |reason: &'static str| {
        ::metrics::counter!(metrics::CALLBACKS_REJECTED, "reason" => reason).increment(1);
    };
    let authorization = headers.get("authorization").and_then(|v| v.to_str().ok());
    if let Err(e) = ingress.auth.verify(authorization).await {
        tracing::warn!(error = %e, "ingress.callback.unauthorized");
        rejected("unauthorized");
        return problem(
            StatusCode::UNAUTHORIZED,
            "the callback's bearer token is missing or not valid",
        );
    }
    if let Some(refused) = refuse_non_json(&headers) {
        rejected("content-type");
        return refused;
    }
    let events = match parse_callbacks(&body) {
        Ok(events) => events,
        Err(e) => {
            rejected("malformed");
            return problem(StatusCode::BAD_REQUEST, e.to_string());
        }
    };
    for mut received in events {
        received.received_at = arrived;
        match ingress.executor.deliver(&token, received).await {
            Delivery::Accepted | Delivery::Duplicate => {}
            // Late events of a call that ended need no redelivery.
            Delivery::Ended => tracing::debug!("ingress.callback.after_end"),
            Delivery::Unknown => {
                rejected("unknown-call");
                return problem(StatusCode::NOT_FOUND, "no such call");
            }
            Delivery::Foreign => {
                rejected("foreign-call");
                return problem(
                    StatusCode::BAD_REQUEST,
                    "the event's serverCallId is not this callback URI's call",
                );
            }
            Delivery::Unavailable => {
                rejected("store-unavailable");
                return problem(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the call's store is unavailable; deliver the event again",
                );
            }
        }
    }
    // Let the call's worker (just woken, on this thread) take the event before this
    // connection writes its answer: the event's actions go out a hop sooner, and the
    // service waits microseconds longer for its 200.
    tokio::task::yield_now().await;
    StatusCode::OK.into_response()
}
