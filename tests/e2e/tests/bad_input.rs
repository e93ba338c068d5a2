//! Bad input at the edges the service talks to (issue #8): Event Grid deliveries and
//! callbacks that are malformed, of the wrong type, too big, too deep, missing
//! fields, or carrying tokens that are missing, malformed, expired, foreign or for
//! no call. Each gets a 4xx with a message saying what was wrong, and changes
//! nothing: no event handled, no call started, no request to the service; and the
//! host still answers a real call afterwards.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::SeedableRng;
use serde_json::{Value, json};
use switchboard_e2e::{Stack, StackBuilder, ivr_script, metric_sum};
use switchboard_sim::jwt::{ISSUER, TokenSigner};

struct Case {
    what: &'static str,
    path: String,
    content_type: Option<&'static str>,
    authorization: Option<String>,
    body: Vec<u8>,
    status: u16,
    /// A word the error message must contain (the message names what was wrong).
    names: &'static str,
}

/// The host's limit on bodies.
const MAX_BODY: usize = 1 << 20;

/// Sends a request with a body too big, reading the answer while the body is still
/// being written: the host answers once it has read past its limit and closes the
/// connection, so a client that only reads after writing everything may see the
/// connection reset instead of the answer. The answer is what is tested.
async fn declared_only(host: &str, case: &Case) -> (u16, String) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let stream = tokio::net::TcpStream::connect(host).await.expect("connect");
    let mut head = format!(
        "POST {} HTTP/1.1\r\nhost: {host}\r\ncontent-length: {}\r\nconnection: close\r\n",
        case.path,
        case.body.len()
    );
    if let Some(content_type) = case.content_type {
        head.push_str(&format!("content-type: {content_type}\r\n"));
    }
    if let Some(authorization) = &case.authorization {
        head.push_str(&format!("authorization: {authorization}\r\n"));
    }
    head.push_str("\r\n");
    let (mut reader, mut writer) = stream.into_split();
    writer.write_all(head.as_bytes()).await.expect("write");
    let body = case.body.clone();
    // Errors once the host has answered and closed: expected.
    let writing = tokio::spawn(async move { writer.write_all(&body).await });
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), reader.read_to_end(&mut answer))
        .await
        .expect("an answer within 10 s");
    writing.abort();
    // A reset after the answer arrived is fine; no answer at all is not.
    if answer.is_empty() {
        read.expect("read");
    }
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("time")
        .as_secs()
}

/// An IncomingCall as Event Grid delivers it, to a routed number.
fn incoming_call() -> Value {
    json!([{
        "id": "bad-input-1",
        "topic": "/subscriptions/x/resourceGroups/y/providers/Microsoft.Communication/communicationServices/z",
        "subject": "/caller/4:+14255550100/recipient/4:+18005550100",
        "eventType": "Microsoft.Communication.IncomingCall",
        "eventTime": "2026-12-01T00:00:00Z",
        "dataVersion": "1.0",
        "data": {
            "to": {"kind": "phoneNumber", "rawId": "4:+18005550100", "phoneNumber": {"value": "+18005550100"}},
            "from": {"kind": "phoneNumber", "rawId": "4:+14255550100", "phoneNumber": {"value": "+14255550100"}},
            "serverCallId": "c2VydmVyLWNhbGw",
            "incomingCallContext": "ctx",
            "correlationId": "00000000-0000-0000-0000-000000000001"
        }
    }])
}

fn cases(stack: &Stack) -> Vec<Case> {
    let signer = &stack.sim.sim.signer;
    let audience = stack.sim.sim.config.resource_id.clone();
    let bearer = |t: String| Some(format!("Bearer {t}"));
    let good = bearer(signer.token(SystemTime::now()));
    let expired = bearer(
        signer
            .sign(&json!({"iss": ISSUER, "aud": audience, "iat": now() - 900, "exp": now() - 600})),
    );
    let foreign_signer = TokenSigner::generate(
        &mut rand_chacha::ChaCha8Rng::seed_from_u64(7),
        ISSUER,
        &audience,
    )
    .expect("signer");
    let foreign = bearer(foreign_signer.token(SystemTime::now()));
    let wrong_audience = bearer(
        signer
            .sign(&json!({"iss": ISSUER, "aud": "someone-else", "iat": now(), "exp": now() + 600})),
    );
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes();
    let huge = vec![b' '; 2 << 20];
    let mut missing = incoming_call();
    missing[0]["data"]
        .as_object_mut()
        .expect("data")
        .remove("incomingCallContext");
    let callback_event = json!([{
        "id": "ev-1", "source": "calling/callConnections/x", "type": "Microsoft.Communication.CallConnected",
        "specversion": "1.0", "time": "2026-12-01T00:00:00Z",
        "data": {"callConnectionId": "x", "serverCallId": "y", "correlationId": "z"}
    }])
    .to_string()
    .into_bytes();
    let eg = "/eventgrid".to_owned();
    let cb = "/callbacks/forged-or-unknown-token".to_owned();
    let json = Some("application/json");
    let mut list = vec![
        Case {
            what: "Event Grid: malformed JSON",
            path: eg.clone(),
            content_type: json,
            authorization: None,
            body: b"[{\"id\":".to_vec(),
            status: 400,
            names: "",
        },
        Case {
            what: "Event Grid: wrong content type",
            path: eg.clone(),
            content_type: Some("text/plain"),
            authorization: None,
            body: incoming_call().to_string().into_bytes(),
            status: 415,
            names: "Content-Type",
        },
        Case {
            what: "Event Grid: no content type",
            path: eg.clone(),
            content_type: None,
            authorization: None,
            body: incoming_call().to_string().into_bytes(),
            status: 415,
            names: "Content-Type",
        },
        Case {
            what: "Event Grid: nested 100,000 deep",
            path: eg.clone(),
            content_type: json,
            authorization: None,
            body: deep.clone(),
            status: 400,
            names: "",
        },
        Case {
            what: "Event Grid: 2 MiB body",
            path: eg.clone(),
            content_type: json,
            authorization: None,
            body: huge.clone(),
            status: 413,
            names: "",
        },
        Case {
            what: "Event Grid: IncomingCall without incomingCallContext",
            path: eg.clone(),
            content_type: json,
            authorization: None,
            body: missing.to_string().into_bytes(),
            status: 400,
            names: "incomingCallContext",
        },
        Case {
            what: "Event Grid: not an array or event",
            path: eg.clone(),
            content_type: json,
            authorization: None,
            body: b"42".to_vec(),
            status: 400,
            names: "",
        },
        Case {
            what: "callback: no token",
            path: cb.clone(),
            content_type: json,
            authorization: None,
            body: callback_event.clone(),
            status: 401,
            names: "token",
        },
        Case {
            what: "callback: not a JWT",
            path: cb.clone(),
            content_type: json,
            authorization: bearer("not.a.jwt".into()),
            body: callback_event.clone(),
            status: 401,
            names: "token",
        },
        Case {
            what: "callback: expired JWT",
            path: cb.clone(),
            content_type: json,
            authorization: expired,
            body: callback_event.clone(),
            status: 401,
            names: "token",
        },
        Case {
            what: "callback: JWT signed by a foreign key",
            path: cb.clone(),
            content_type: json,
            authorization: foreign,
            body: callback_event.clone(),
            status: 401,
            names: "token",
        },
        Case {
            what: "callback: JWT for another resource",
            path: cb.clone(),
            content_type: json,
            authorization: wrong_audience,
            body: callback_event.clone(),
            status: 401,
            names: "token",
        },
        Case {
            what: "callback: forged per-call token",
            path: cb.clone(),
            content_type: json,
            authorization: good.clone(),
            body: callback_event.clone(),
            status: 404,
            names: "call",
        },
        Case {
            what: "callback: malformed JSON",
            path: cb.clone(),
            content_type: json,
            authorization: good.clone(),
            body: b"{nope".to_vec(),
            status: 400,
            names: "",
        },
        Case {
            what: "callback: wrong content type",
            path: cb.clone(),
            content_type: Some("application/x-www-form-urlencoded"),
            authorization: good.clone(),
            body: callback_event.clone(),
            status: 415,
            names: "Content-Type",
        },
        Case {
            what: "callback: nested 100,000 deep",
            path: cb.clone(),
            content_type: json,
            authorization: good.clone(),
            body: deep,
            status: 400,
            names: "",
        },
        Case {
            what: "callback: 2 MiB body",
            path: cb.clone(),
            content_type: json,
            authorization: good.clone(),
            body: huge,
            status: 413,
            names: "",
        },
    ];
    // A callback missing its call ids, for a real-looking token: refused as malformed
    // before any call is looked up.
    let mut no_ids: Value = serde_json::from_slice(&callback_event).expect("event");
    no_ids[0]["data"] = json!({});
    list.push(Case {
        what: "callback: event without its call ids",
        path: cb,
        content_type: json,
        authorization: good,
        body: no_ids.to_string().into_bytes(),
        status: 400,
        names: "",
    });
    list
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_input_gets_a_4xx_with_a_message_and_changes_nothing() {
    let stack = StackBuilder::ivr()
        .expect("ivr")
        .start()
        .await
        .expect("stack");
    let http = reqwest::Client::new();
    let before = stack.metrics().await.expect("metrics");
    let mut wrong = Vec::new();
    for case in cases(&stack) {
        let body_len = case.body.len();
        let mut request = http
            .post(format!("http://{}{}", stack.host, case.path))
            .body(case.body.clone());
        if let Some(content_type) = case.content_type {
            request = request.header("content-type", content_type);
        }
        if let Some(authorization) = &case.authorization {
            request = request.header("authorization", authorization);
        }
        let (status, text) = if body_len > MAX_BODY {
            declared_only(&stack.host.to_string(), &case).await
        } else {
            let response = request.send().await.expect("the host answers");
            let status = response.status().as_u16();
            (status, response.text().await.unwrap_or_default())
        };
        let message = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_owned))
            .unwrap_or(text);
        if status != case.status || message.trim().is_empty() || !message.contains(case.names) {
            wrong.push(format!(
                "{}: {status} {message:?} (expected {} naming {:?})",
                case.what, case.status, case.names
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // Nothing changed: no event handled, no call, nothing sent to the service.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after = stack.metrics().await.expect("metrics");
    for metric in [
        "switchboard_events_total",
        "switchboard_invocations_total",
        "switchboard_actions_total",
        "switchboard_fallbacks_total",
    ] {
        assert_eq!(
            metric_sum(&before, metric),
            metric_sum(&after, metric),
            "{metric} moved"
        );
    }
    assert_eq!(stack.executor.active_calls(), 0, "no call started");
    let calls = stack.sim_get("calls").await.expect("sim calls");
    assert_eq!(
        calls["calls"].as_array().map_or(0, Vec::len),
        0,
        "the service saw nothing: {calls:#}"
    );
    // And the host is whole: a real call passes.
    stack
        .place(&ivr_script("press-2-then-3").expect("script"))
        .await
        .expect("place");
    let report = stack.report_when_ended(1).await.expect("report");
    assert_eq!(report["passed"], 1, "{report:#}");
}
