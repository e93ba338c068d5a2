//! The REST surface under `/calling`: routing by hand (the service's paths put verbs
//! after a colon, `/calling/callConnections/{id}:play`), HMAC authentication,
//! api-version, `Repeatability-Request-ID`, then the operation.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use axum::body::{Body, Bytes};
use axum::extract::{Extension, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use percent_encoding::percent_decode_str;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::error::{ApiError, JSON};
use crate::faults::{Fault, Target};
use crate::hmac_auth::{self, SignedRequest};
use crate::ops::Reply;
use crate::world::{Sim, Stored};

/// The api-versions of Call Automation the simulator accepts: every GA version the
/// official SDKs send (Python 1.6.0 defaults to 2026-03-12) and the previews seen in
/// callbacks. All are served with the 2025-05-15 behaviour.
pub const API_VERSIONS: &[&str] = &[
    "2023-03-06",
    "2023-10-15",
    "2024-04-15",
    "2024-09-15",
    "2025-05-15",
    "2025-06-15",
    "2026-03-12",
    "2023-10-03-preview",
    "2024-09-01-preview",
    "2025-08-15-preview",
];

/// How long a `Repeatability-Request-ID` is remembered.
const REPEATABILITY_WINDOW: Duration = Duration::from_secs(300);

/// Largest request body accepted.
const MAX_BODY: usize = 1 << 20;

/// Every operation of the REST API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    CreateCall,
    Answer,
    Redirect,
    Reject,
    Connect,
    GetCall(String),
    HangUp(String),
    Terminate(String),
    Transfer(String),
    Play(String),
    Recognize(String),
    CancelAllMedia(String),
    StartContinuousDtmf(String),
    StopContinuousDtmf(String),
    SendDtmf(String),
    Hold(String),
    Unhold(String),
    StartTranscription(String),
    StopTranscription(String),
    UpdateTranscription(String),
    StartMediaStreaming(String),
    StopMediaStreaming(String),
    Participants(String),
    Participant(String, String),
    AddParticipant(String),
    RemoveParticipant(String),
    Mute(String),
    CancelAddParticipant(String),
    StartRecording,
    GetRecording(String),
    StopRecording(String),
    PauseRecording(String),
    ResumeRecording(String),
}

impl Op {
    /// The service's operationId.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Op::CreateCall => "CreateCall",
            Op::Answer => "AnswerCall",
            Op::Redirect => "RedirectCall",
            Op::Reject => "RejectCall",
            Op::Connect => "Connect",
            Op::GetCall(_) => "GetCall",
            Op::HangUp(_) => "HangupCall",
            Op::Terminate(_) => "TerminateCall",
            Op::Transfer(_) => "TransferToParticipant",
            Op::Play(_) => "Play",
            Op::Recognize(_) => "Recognize",
            Op::CancelAllMedia(_) => "CancelAllMediaOperations",
            Op::StartContinuousDtmf(_) => "StartContinuousDtmfRecognition",
            Op::StopContinuousDtmf(_) => "StopContinuousDtmfRecognition",
            Op::SendDtmf(_) => "SendDtmfTones",
            Op::Hold(_) => "Hold",
            Op::Unhold(_) => "Unhold",
            Op::StartTranscription(_) => "StartTranscription",
            Op::StopTranscription(_) => "StopTranscription",
            Op::UpdateTranscription(_) => "UpdateTranscription",
            Op::StartMediaStreaming(_) => "StartMediaStreaming",
            Op::StopMediaStreaming(_) => "StopMediaStreaming",
            Op::Participants(_) => "GetParticipants",
            Op::Participant(..) => "GetParticipant",
            Op::AddParticipant(_) => "AddParticipant",
            Op::RemoveParticipant(_) => "RemoveParticipant",
            Op::Mute(_) => "Mute",
            Op::CancelAddParticipant(_) => "CancelAddParticipant",
            Op::StartRecording => "StartRecording",
            Op::GetRecording(_) => "GetRecordingProperties",
            Op::StopRecording(_) => "StopRecording",
            Op::PauseRecording(_) => "PauseRecording",
            Op::ResumeRecording(_) => "ResumeRecording",
        }
    }

    /// Operations that declare the repeatability headers (NOTES.md §2).
    #[must_use]
    pub fn repeatable(&self) -> bool {
        matches!(
            self,
            Op::CreateCall
                | Op::Answer
                | Op::Redirect
                | Op::Reject
                | Op::Connect
                | Op::Terminate(_)
                | Op::Transfer(_)
                | Op::AddParticipant(_)
                | Op::RemoveParticipant(_)
                | Op::Mute(_)
                | Op::CancelAddParticipant(_)
                | Op::SendDtmf(_)
                | Op::StartRecording
        )
    }

    /// The call connection the operation addresses, if any.
    #[must_use]
    pub fn call_id(&self) -> Option<&str> {
        match self {
            Op::GetCall(id)
            | Op::HangUp(id)
            | Op::Terminate(id)
            | Op::Transfer(id)
            | Op::Play(id)
            | Op::Recognize(id)
            | Op::CancelAllMedia(id)
            | Op::StartContinuousDtmf(id)
            | Op::StopContinuousDtmf(id)
            | Op::SendDtmf(id)
            | Op::Hold(id)
            | Op::Unhold(id)
            | Op::StartTranscription(id)
            | Op::StopTranscription(id)
            | Op::UpdateTranscription(id)
            | Op::StartMediaStreaming(id)
            | Op::StopMediaStreaming(id)
            | Op::Participants(id)
            | Op::Participant(id, _)
            | Op::AddParticipant(id)
            | Op::RemoveParticipant(id)
            | Op::Mute(id)
            | Op::CancelAddParticipant(id) => Some(id),
            _ => None,
        }
    }
}

fn decode(segment: &str) -> String {
    percent_decode_str(segment).decode_utf8_lossy().into_owned()
}

/// Maps a method and path to its operation.
pub fn route(method: &Method, path: &str) -> Result<Op, ApiError> {
    let unknown = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("No operation at {method} {path}"),
        )
    };
    let rest = path.strip_prefix("/calling/").ok_or_else(unknown)?;
    let segments: Vec<&str> = rest.split('/').collect();
    let op = match (method, segments.as_slice()) {
        (&Method::POST, ["callConnections"]) => Op::CreateCall,
        (&Method::POST, ["callConnections:answer"]) => Op::Answer,
        (&Method::POST, ["callConnections:redirect"]) => Op::Redirect,
        (&Method::POST, ["callConnections:reject"]) => Op::Reject,
        (&Method::POST, ["callConnections:connect"]) => Op::Connect,
        (&Method::POST, ["recordings"]) => Op::StartRecording,
        (&Method::GET, ["recordings", id]) => Op::GetRecording(decode(id)),
        (&Method::DELETE, ["recordings", id]) => Op::StopRecording(decode(id)),
        (&Method::POST, ["recordings", verb]) => {
            let (id, verb) = verb.rsplit_once(':').ok_or_else(unknown)?;
            match verb {
                "pause" => Op::PauseRecording(decode(id)),
                "resume" => Op::ResumeRecording(decode(id)),
                _ => return Err(unknown()),
            }
        }
        (&Method::GET, ["callConnections", id]) => Op::GetCall(decode(id)),
        (&Method::DELETE, ["callConnections", id]) => Op::HangUp(decode(id)),
        (&Method::POST, ["callConnections", verb]) => {
            let (id, verb) = verb.rsplit_once(':').ok_or_else(unknown)?;
            let id = decode(id);
            match verb {
                "terminate" => Op::Terminate(id),
                "transferToParticipant" => Op::Transfer(id),
                "play" => Op::Play(id),
                "recognize" => Op::Recognize(id),
                "cancelAllMediaOperations" => Op::CancelAllMedia(id),
                "startContinuousDtmfRecognition" => Op::StartContinuousDtmf(id),
                "stopContinuousDtmfRecognition" => Op::StopContinuousDtmf(id),
                "sendDtmfTones" => Op::SendDtmf(id),
                "hold" => Op::Hold(id),
                "unhold" => Op::Unhold(id),
                "startTranscription" => Op::StartTranscription(id),
                "stopTranscription" => Op::StopTranscription(id),
                "updateTranscription" => Op::UpdateTranscription(id),
                "startMediaStreaming" => Op::StartMediaStreaming(id),
                "stopMediaStreaming" => Op::StopMediaStreaming(id),
                _ => return Err(unknown()),
            }
        }
        (&Method::GET, ["callConnections", id, "participants"]) => Op::Participants(decode(id)),
        (&Method::GET, ["callConnections", id, "participants", raw]) => {
            Op::Participant(decode(id), decode(raw))
        }
        (&Method::POST, ["callConnections", id, verb]) => {
            let id = decode(id);
            match *verb {
                "participants:add" => Op::AddParticipant(id),
                "participants:remove" => Op::RemoveParticipant(id),
                "participants:mute" => Op::Mute(id),
                "participants:cancelAddParticipant" => Op::CancelAddParticipant(id),
                _ => return Err(unknown()),
            }
        }
        _ => return Err(unknown()),
    };
    Ok(op)
}

fn api_version(query: Option<&str>) -> Result<String, ApiError> {
    let version = query
        .unwrap_or("")
        .split('&')
        .find_map(|pair| pair.strip_prefix("api-version="))
        .map(decode)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            )
        })?;
    if API_VERSIONS.contains(&version.as_str()) {
        Ok(version)
    } else {
        Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "UnsupportedApiVersion",
            format!(
                "The HTTP resource that matches the request URI does not support the API version '{version}'. Supported: {}.",
                API_VERSIONS.join(", ")
            ),
        ))
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn authenticate(
    sim: &Sim,
    method: &Method,
    path_and_query: &str,
    headers: &HeaderMap,
    body: &[u8],
    port: u16,
    authority: Option<&str>,
) -> Result<(), ApiError> {
    // HTTP/2 carries the host as the `:authority` pseudo-header, not `Host`.
    let lookup = |name: &str| {
        header_str(headers, name).or_else(|| if name == "host" { authority } else { None })
    };
    let request = SignedRequest {
        method: method.as_str(),
        path_and_query,
        header: &lookup,
        body,
        listener_port: port,
    };
    hmac_auth::verify(&sim.key, &request, SystemTime::now())
        .map_err(|e| ApiError::unauthorized(e.to_string()))
}

/// Checks the repeatability headers; returns the key to store the response under, or
/// the stored response of a retry.
fn repeatability(
    sim: &Sim,
    op: &Op,
    headers: &HeaderMap,
    fingerprint: &str,
) -> Result<Option<Result<String, Stored>>, ApiError> {
    let Some(request_id) = header_str(headers, "repeatability-request-id") else {
        return Ok(None);
    };
    if !op.repeatable() {
        return Ok(None);
    }
    if uuid::Uuid::parse_str(request_id).is_err() {
        return Err(ApiError::invalid(format!(
            "Repeatability-Request-ID must be a UUID, got {request_id:?}"
        )));
    }
    let first_sent = header_str(headers, "repeatability-first-sent").ok_or_else(|| {
        ApiError::invalid("Repeatability-First-Sent is required with Repeatability-Request-ID")
    })?;
    let sent = httpdate::parse_http_date(first_sent).map_err(|_| {
        ApiError::invalid(format!(
            "Repeatability-First-Sent is not an RFC 1123 date: {first_sent:?}"
        ))
    })?;
    let age = SystemTime::now().duration_since(sent).unwrap_or_default();
    if age > REPEATABILITY_WINDOW + hmac_auth::MAX_CLOCK_SKEW {
        return Err(ApiError::new(
            StatusCode::PRECONDITION_FAILED,
            "8583",
            "Repeatability-First-Sent is outside the window of repeatable requests.",
        ));
    }
    let mut world = sim.world();
    world
        .repeat
        .retain(|_, stored| stored.at.elapsed() < REPEATABILITY_WINDOW * 2);
    match world.repeat.get(request_id) {
        Some(stored) if stored.fingerprint != fingerprint => Err(ApiError::invalid(
            "Repeatability-Request-ID was already used for a different request",
        )),
        // A retry of a request that failed on the server side runs again.
        Some(stored) if stored.status < 500 => Ok(Some(Err(stored.clone()))),
        _ => Ok(Some(Ok(request_id.to_owned()))),
    }
}

/// The port a request came in on (for the host forms of HMAC).
#[derive(Debug, Clone, Copy)]
pub struct ListenerPort(pub u16);

/// Handles every request under `/calling/`.
pub async fn calling(
    State(sim): State<Arc<Sim>>,
    Extension(port): Extension<ListenerPort>,
    request: Request<Body>,
) -> Response {
    let (parts, body) = request.into_parts();
    let started = Instant::now();
    let arrived_ms = sim.elapsed_ms();
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "8523",
                "The request body is larger than 1 MiB.",
            )
            .into_response();
        }
    };
    let (outcome, delay) = handle(&sim, &parts, &body, port.0);
    let (op, response) = match outcome {
        Ok((op, reply, replayed)) => {
            let mut response = match &reply.body {
                Some(body) => (
                    reply.status,
                    [(header::CONTENT_TYPE, JSON)],
                    body.to_string(),
                )
                    .into_response(),
                None => reply.status.into_response(),
            };
            if op.repeatable() && header_str(&parts.headers, "repeatability-request-id").is_some() {
                response
                    .headers_mut()
                    .insert("Repeatability-Result", HeaderValue::from_static("accepted"));
            }
            if let Some(server_call_id) = &reply.server_call_id {
                let mut world = sim.world();
                let detail = json!({"status": reply.status.as_u16(), "replayed": replayed, "body": serde_json::from_slice::<Value>(&body).ok(), "micros": started.elapsed().as_micros(), "arrived_ms": arrived_ms});
                sim.record(&mut world, server_call_id, "request", op.name(), detail);
            }
            (Some(op), response)
        }
        Err((op, error)) => {
            let call = op.as_ref().and_then(|op| server_call_of(&sim, op));
            if let Some(server_call_id) = call.or_else(|| error.call.clone()) {
                let mut world = sim.world();
                let detail = json!({"status": error.status.as_u16(), "error": error.body(), "effect": error.after_effect});
                sim.record(
                    &mut world,
                    &server_call_id,
                    "request",
                    op.as_ref().map_or("?", Op::name),
                    detail,
                );
            }
            (op, error.into_response())
        }
    };
    tracing::debug!(
        op = op.as_ref().map_or("?", Op::name),
        status = response.status().as_u16(),
        "sim.request"
    );
    // An injected latency holds the answer, not the operation: the timeline has the
    // effect when it happened, and a client that gives up first retries into a
    // repeatability replay.
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let mut response = response;
    if let Some(id) = parts.headers.get("x-ms-client-request-id") {
        response
            .headers_mut()
            .insert("x-ms-client-request-id", id.clone());
    }
    response
}

fn server_call_of(sim: &Sim, op: &Op) -> Option<String> {
    let id = op.call_id()?;
    sim.world().calls.get(id).map(|c| c.server_call_id.clone())
}

/// What a request led to, and how long to hold the response (an injected latency).
type Handled = (Result<(Op, Reply, bool), (Option<Op>, ApiError)>, Duration);

fn handle(sim: &Arc<Sim>, parts: &Parts, body: &Bytes, port: u16) -> Handled {
    let mut delay = Duration::ZERO;
    let result = handle_inner(sim, parts, body, port, &mut delay);
    (result, delay)
}

#[expect(
    clippy::result_large_err,
    reason = "one error per request, built once; boxing buys nothing here"
)]
fn handle_inner(
    sim: &Arc<Sim>,
    parts: &Parts,
    body: &Bytes,
    port: u16,
    delay: &mut Duration,
) -> Result<(Op, Reply, bool), (Option<Op>, ApiError)> {
    let (method, path, headers) = (&parts.method, parts.uri.path(), &parts.headers);
    let path_and_query = parts.uri.path_and_query().map_or(path, |pq| pq.as_str());
    let authority = parts.uri.authority().map(|a| a.as_str());
    let op = route(method, path).map_err(|e| (None, e))?;
    let fail = |e: ApiError| (Some(op.clone()), e);
    authenticate(sim, method, path_and_query, headers, body, port, authority).map_err(fail)?;
    let version = api_version(parts.uri.query()).map_err(fail)?;
    // Injected faults: latency, or a failure status before or after the effect.
    let mut failure_after_effect = None;
    for fault in sim.fire(Target::Operation(op.name()), op.call_id()) {
        match fault {
            Fault::Latency { ms } => *delay += Duration::from_millis(ms),
            Fault::Status {
                status,
                retry_after,
                after_effect,
            } => {
                let code = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
                let mut error = ApiError::new(
                    code,
                    fault_code(status),
                    format!("Injected fault: {status}."),
                );
                error.retry_after = retry_after;
                error.after_effect = after_effect;
                if after_effect {
                    failure_after_effect = Some(error);
                } else {
                    return Err(fail(error));
                }
            }
            Fault::Drop | Fault::Duplicate | Fault::Reorder => {}
        }
    }
    let fingerprint = format!("{method} {path} {}", hex(&Sha256::digest(body)));
    let store_key = match repeatability(sim, &op, headers, &fingerprint).map_err(fail)? {
        Some(Err(stored)) => {
            let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
            let reply = Reply {
                status,
                body: stored.body,
                server_call_id: op.call_id().and_then(|_| server_call_of(sim, &op)),
            };
            return Ok((op, reply, true));
        }
        Some(Ok(key)) => Some(key),
        None => None,
    };
    let json_body = if body.is_empty() {
        Value::Object(serde_json::Map::new())
    } else {
        serde_json::from_slice(body).map_err(|e| {
            fail(ApiError::invalid(format!(
                "The request body is not valid JSON: {e}"
            )))
        })?
    };
    if !json_body.is_object() {
        return Err(fail(ApiError::invalid(
            "The request body must be a JSON object",
        )));
    }
    let result = execute(sim, &op, &json_body, &version);
    if let Some(key) = store_key {
        let (status, body) = match &result {
            Ok(reply) => (reply.status.as_u16(), reply.body.clone()),
            Err(error) => (error.status.as_u16(), Some(error.body())),
        };
        sim.world().repeat.insert(
            key,
            Stored {
                fingerprint,
                status,
                body,
                at: Instant::now(),
            },
        );
    }
    if let Some(mut error) = failure_after_effect {
        error.call = result.as_ref().ok().and_then(|r| r.server_call_id.clone());
        return Err(fail(error));
    }
    result.map(|reply| (op.clone(), reply, false)).map_err(fail)
}

/// The service's subcode for an injected status.
fn fault_code(status: u16) -> &'static str {
    match status {
        429 => "TooManyRequests",
        500 | 503 => "9999",
        _ => "8523",
    }
}

fn execute(sim: &Arc<Sim>, op: &Op, body: &Value, version: &str) -> Result<Reply, ApiError> {
    match op {
        Op::CreateCall => sim.create_call(body, version),
        Op::Answer => sim.answer(body, version),
        Op::Redirect => sim.redirect(body),
        Op::Reject => sim.reject(body),
        Op::Connect => sim.connect(body, version),
        Op::GetCall(id) => sim.get_call(id),
        Op::HangUp(id) => sim.hang_up(id, false),
        Op::Terminate(id) => sim.hang_up(id, true),
        Op::Transfer(id) => sim.transfer(id, body),
        Op::Play(id) => sim.play(id, body),
        Op::Recognize(id) => sim.recognize(id, body),
        Op::CancelAllMedia(id) => sim.cancel_all_media(id),
        Op::StartContinuousDtmf(id) => sim.continuous_dtmf(id, body, true),
        Op::StopContinuousDtmf(id) => sim.continuous_dtmf(id, body, false),
        Op::SendDtmf(id) => sim.send_dtmf(id, body),
        Op::Hold(id) => sim.hold(id, body, true),
        Op::Unhold(id) => sim.hold(id, body, false),
        Op::StartTranscription(id) => sim.streaming(id, body, false, "start"),
        Op::StopTranscription(id) => sim.streaming(id, body, false, "stop"),
        Op::UpdateTranscription(id) => sim.streaming(id, body, false, "update"),
        Op::StartMediaStreaming(id) => sim.streaming(id, body, true, "start"),
        Op::StopMediaStreaming(id) => sim.streaming(id, body, true, "stop"),
        Op::Participants(id) => sim.participants(id),
        Op::Participant(id, raw) => sim.participant(id, raw),
        Op::AddParticipant(id) => sim.add_participant(id, body),
        Op::RemoveParticipant(id) => sim.remove_participant(id, body),
        Op::Mute(id) => sim.mute(id, body),
        Op::CancelAddParticipant(id) => sim.cancel_add_participant(id, body),
        Op::StartRecording => sim.start_recording(body),
        Op::GetRecording(id) => sim.get_recording(id),
        Op::StopRecording(id) => sim.stop_recording(id),
        Op::PauseRecording(id) => sim.pause_recording(id, false),
        Op::ResumeRecording(id) => sim.pause_recording(id, true),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_every_path_shape() {
        let post = Method::POST;
        assert_eq!(route(&post, "/calling/callConnections"), Ok(Op::CreateCall));
        assert_eq!(
            route(&post, "/calling/callConnections:answer"),
            Ok(Op::Answer)
        );
        assert_eq!(
            route(&post, "/calling/callConnections/abc:play"),
            Ok(Op::Play("abc".into()))
        );
        assert_eq!(
            route(&post, "/calling/callConnections/cc%201%2Fx:terminate"),
            Ok(Op::Terminate("cc 1/x".into()))
        );
        assert_eq!(
            route(&post, "/calling/callConnections/abc/participants:add"),
            Ok(Op::AddParticipant("abc".into()))
        );
        assert_eq!(
            route(
                &Method::GET,
                "/calling/callConnections/abc/participants/8%3Aacs%3Ax"
            ),
            Ok(Op::Participant("abc".into(), "8:acs:x".into()))
        );
        assert_eq!(
            route(&Method::DELETE, "/calling/callConnections/abc"),
            Ok(Op::HangUp("abc".into()))
        );
        assert_eq!(
            route(&post, "/calling/recordings/r1:pause"),
            Ok(Op::PauseRecording("r1".into()))
        );
        assert!(route(&post, "/calling/callConnections/abc:dance").is_err());
        assert!(route(&Method::PUT, "/calling/callConnections").is_err());
    }

    #[test]
    fn api_versions() {
        assert_eq!(
            api_version(Some("api-version=2025-05-15")),
            Ok("2025-05-15".into())
        );
        assert_eq!(
            api_version(Some("x=1&api-version=2026-03-12")),
            Ok("2026-03-12".into())
        );
        assert_eq!(
            api_version(None).expect_err("missing").code,
            "MissingApiVersionParameter"
        );
        assert_eq!(
            api_version(Some("api-version=1999-01-01"))
                .expect_err("unsupported")
                .code,
            "UnsupportedApiVersion"
        );
    }
}
