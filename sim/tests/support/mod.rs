//! A signed REST client for the simulator, and a tiny IVR application (Event Grid and
//! callback receiver) that follows `ivr.md` over plain HTTP.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{any, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use switchboard_sim::hmac_auth::{AccessKey, sign_request};
use switchboard_sim::{Listen, Running, SimConfig};

pub const API_VERSION: &str = "2025-05-15";

pub async fn start_sim(time_scale: f64) -> Running {
    let config = SimConfig {
        time_scale,
        ..SimConfig::default()
    };
    switchboard_sim::start(config, Listen::default())
        .await
        .expect("simulator starts")
}

/// Signs and sends requests like an SDK does.
#[derive(Clone)]
pub struct Client {
    pub base: String,
    pub host: String,
    pub key: AccessKey,
    pub http: reqwest::Client,
}

impl Client {
    pub fn new(sim: &Running) -> Self {
        Self {
            base: sim.http_url(),
            host: sim.http.to_string(),
            key: AccessKey::from_base64(&sim.sim.config.access_key).expect("key"),
            http: reqwest::Client::new(),
        }
    }

    pub fn with_key(mut self, key: &str) -> Self {
        self.key = AccessKey::from_base64(key).expect("key");
        self
    }

    pub fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> reqwest::RequestBuilder {
        let sep = if path.contains('?') { '&' } else { '?' };
        let path_and_query = format!("{path}{sep}api-version={API_VERSION}");
        let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path_and_query}", self.base));
        for (name, value) in sign_request(
            &self.key,
            method.as_str(),
            &path_and_query,
            &self.host,
            &bytes,
            SystemTime::now(),
        ) {
            request = request.header(name, value);
        }
        if body.is_some() {
            request = request
                .header("content-type", "application/json")
                .body(bytes);
        }
        request
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let response = self
            .request(method, path, body)
            .send()
            .await
            .expect("request sent");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }
}

/// A phone identifier as the Python SDK sends it.
pub fn phone(number: &str) -> Value {
    json!({"rawId": format!("4:{number}"), "phoneNumber": {"value": number}})
}

/// The IVR of `ivr.md`, as a web application talking to the simulator directly.
pub struct IvrApp {
    pub client: Client,
    pub base: String,
    retries: Mutex<HashMap<String, u32>>,
    pub events: Mutex<Vec<Value>>,
    pub tokens: Mutex<Vec<String>>,
}

pub async fn start_ivr_app(client: Client) -> Arc<IvrApp> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let app = Arc::new(IvrApp {
        client,
        base,
        retries: Mutex::new(HashMap::new()),
        events: Mutex::new(Vec::new()),
        tokens: Mutex::new(Vec::new()),
    });
    let router = Router::new()
        .route("/eventgrid", post(event_grid))
        .route("/callback", post(callback))
        .with_state(Arc::clone(&app));
    tokio::spawn(async move { axum::serve(listener, router).await.expect("serve") });
    app
}

async fn event_grid(
    State(app): State<Arc<IvrApp>>,
    headers: HeaderMap,
    Json(events): Json<Vec<Value>>,
) -> (StatusCode, Json<Value>) {
    if headers
        .get("aeg-event-type")
        .is_some_and(|v| v == "SubscriptionValidation")
    {
        let code = events[0]["data"]["validationCode"].clone();
        return (StatusCode::OK, Json(json!({"validationResponse": code})));
    }
    for event in events {
        if event["eventType"] == "Microsoft.Communication.IncomingCall" {
            let body = json!({
                "incomingCallContext": event["data"]["incomingCallContext"],
                "callbackUri": format!("{}/callback", app.base),
                "operationContext": "ivr",
            });
            let (status, reply) = app
                .client
                .post("/calling/callConnections:answer", &body)
                .await;
            assert_eq!(status, 200, "answer: {reply}");
        }
        app.events.lock().expect("lock").push(event);
    }
    (StatusCode::OK, Json(json!({})))
}

fn text(t: &str) -> Value {
    json!({"kind": "text", "text": {"text": t, "voiceName": "en-US-NancyNeural"}})
}

async fn callback(
    State(app): State<Arc<IvrApp>>,
    headers: HeaderMap,
    Json(events): Json<Vec<Value>>,
) -> StatusCode {
    if let Some(auth) = headers.get("authorization").and_then(|v| v.to_str().ok()) {
        app.tokens.lock().expect("lock").push(auth.to_owned());
    }
    for event in events {
        app.events.lock().expect("lock").push(event.clone());
        let id = event["data"]["callConnectionId"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let kind = event["type"]
            .as_str()
            .unwrap_or_default()
            .trim_start_matches("Microsoft.Communication.")
            .to_owned();
        let context = event["data"]["operationContext"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let cc = format!("/calling/callConnections/{id}");
        let menu = || async {
            let caller = app.client.send(reqwest::Method::GET, &cc, None).await.1["source"].clone();
            let body = json!({
                "recognizeInputType": "dtmf",
                "playPrompt": text("Press 1 for sales, 2 to hear this again, 3 to leave."),
                "recognizeOptions": {"targetParticipant": caller, "interruptPrompt": true, "initialSilenceTimeoutInSeconds": 5, "dtmfOptions": {"maxTonesToCollect": 1}},
                "operationContext": "menu",
            });
            let (status, reply) = app.client.post(&format!("{cc}:recognize"), &body).await;
            assert_eq!(status, 202, "recognize: {reply}");
        };
        let say = |words: &'static str, ctx: &'static str| {
            let client = app.client.clone();
            let cc = cc.clone();
            async move {
                let body = json!({"playSources": [text(words)], "operationContext": ctx});
                let (status, reply) = client.post(&format!("{cc}:play"), &body).await;
                assert_eq!(status, 202, "play: {reply}");
            }
        };
        let retry_or_goodbye = || async {
            let retries = {
                let mut map = app.retries.lock().expect("lock");
                let r = map.entry(id.clone()).or_default();
                *r += 1;
                *r
            };
            if retries <= 2 {
                menu().await
            } else {
                say("Goodbye.", "goodbye").await
            }
        };
        match kind.as_str() {
            "CallConnected" => menu().await,
            "RecognizeCompleted" => match event["data"]["dtmfResult"]["tones"][0].as_str() {
                Some("one") => {
                    let body = json!({"targetParticipant": phone("+15550001111"), "operationContext": "transfer"});
                    let (status, reply) = app
                        .client
                        .post(&format!("{cc}:transferToParticipant"), &body)
                        .await;
                    assert_eq!(status, 202, "transfer: {reply}");
                }
                Some("two") => menu().await,
                Some("three") => say("Goodbye.", "goodbye").await,
                _ => retry_or_goodbye().await,
            },
            "RecognizeFailed" => retry_or_goodbye().await,
            "CallTransferFailed" => say("Sorry, no agent is available.", "sorry").await,
            "PlayCompleted" if context == "goodbye" || context == "sorry" => {
                let (status, reply) = app
                    .client
                    .send(reqwest::Method::POST, &format!("{cc}:terminate"), None)
                    .await;
                assert_eq!(status, 204, "terminate: {reply}");
            }
            _ => {}
        }
    }
    StatusCode::OK
}

/// Polls `/sim/report` until every scripted call ended.
pub async fn wait_for_report(sim: &Running, calls: usize, within: Duration) -> Value {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let report: Value = reqwest::get(format!("{}/sim/report", sim.http_url()))
            .await
            .expect("report")
            .json()
            .await
            .expect("json");
        let ended = report["calls"]
            .as_array()
            .map_or(0, |c| c.iter().filter(|c| c["ended"] == true).count());
        if ended >= calls || tokio::time::Instant::now() > deadline {
            return report;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Rings the application: a call from the IVR caller to the IVR number.
pub async fn ring(sim: &Running) -> Value {
    let placed = reqwest::Client::new()
        .post(format!("{}/sim/calls", sim.http_url()))
        .json(&json!({"from": "+14255550123", "to": "+18005550100"}))
        .send()
        .await
        .expect("place");
    placed.json().await.expect("json")
}

/// Waits until `condition` holds (polling), or panics naming `what`.
pub async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    for _ in 0..250 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

pub type Seen = Arc<Mutex<Vec<(HeaderMap, Value)>>>;

/// A receiver that records every request (headers, body) and answers 200.
pub async fn recorder() -> (String, Seen) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let store = Arc::clone(&seen);
    let router = Router::new().route(
        "/{*path}",
        any(move |headers: HeaderMap, body: String| {
            let store = Arc::clone(&store);
            async move {
                let value = serde_json::from_str(&body).unwrap_or(Value::Null);
                store.lock().expect("lock").push((headers, value));
                (
                    StatusCode::OK,
                    [("WebHook-Allowed-Origin", "eventgrid.azure.net")],
                    "",
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, router).await.expect("serve") });
    (base, seen)
}

/// Subscribes `endpoint` to the simulator's Event Grid events; panics with the answer
/// if the subscription is refused.
pub async fn subscribe(sim: &Running, subscription: Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/sim/subscriptions", sim.http_url()))
        .json(&subscription)
        .send()
        .await
        .expect("subscribe");
    let status = response.status();
    assert_eq!(status, 201, "{}", response.text().await.unwrap_or_default());
}

/// POSTs JSON to the simulator's own API; returns the status and the JSON answer.
pub async fn sim_post(sim: &Running, path: &str, body: &Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}{path}", sim.http_url()))
        .json(body)
        .send()
        .await
        .expect("simulator API reachable");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}
