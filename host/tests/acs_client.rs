//! The ACS client against the simulator over HTTPS: signing, every request shape the
//! contract produces for a call, retries that honour Retry-After and keep the
//! repeatability id, and errors that are not retried.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchboard::acs::{
    AcsError, CallRef, Client, Credential, Repeatability, Request, RetryPolicy, requests,
};
use switchboard::contract::{
    Action, ActionRequest, CommunicationIdentifier, DtmfOptions, PlaySource, Recognize,
    RecognizeInput, TextSource, Transfer,
};
use switchboard_sim::{Listen, SimConfig};

struct Fixture {
    sim: switchboard_sim::Running,
    client: Client,
    http: reqwest::Client,
}

async fn fixture() -> Fixture {
    let sim = switchboard_sim::start(
        SimConfig {
            time_scale: 50.0,
            ..SimConfig::default()
        },
        Listen::default(),
    )
    .await
    .expect("sim");
    let credential =
        Credential::from_connection_string(&sim.connection_string()).expect("connection string");
    let ca = reqwest::Certificate::from_pem(sim.ca_pem.as_bytes()).expect("ca");
    let retry = RetryPolicy {
        base_delay: Duration::from_millis(20),
        ..RetryPolicy::default()
    };
    let client = Client::new(credential, retry, &[ca]).expect("client");
    Fixture {
        sim,
        client,
        http: reqwest::Client::new(),
    }
}

impl Fixture {
    async fn sim_post(&self, path: &str, body: Value) -> Value {
        let response = self
            .http
            .post(format!("{}{path}", self.sim.http_url()))
            .json(&body)
            .send()
            .await
            .expect("sim api");
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        response.json().await.unwrap_or(Value::Null)
    }

    async fn timeline(&self, id: &str) -> Vec<Value> {
        let t: Value = self
            .http
            .get(format!("{}/sim/calls/{id}", self.sim.http_url()))
            .send()
            .await
            .expect("t")
            .json()
            .await
            .expect("json");
        t["timeline"].as_array().cloned().unwrap_or_default()
    }

    /// A ringing call answered through the client; returns (call connection id, server call id).
    async fn answered(&self) -> (String, String) {
        let placed = self
            .sim_post(
                "/sim/calls",
                json!({"from": "+14255550123", "to": "+18005550100"}),
            )
            .await;
        let call = CallRef {
            call_connection_id: None,
            server_call_id: placed["serverCallId"].as_str().expect("id"),
            incoming_call_context: placed["incomingCallContext"].as_str(),
            callback_uri: "http://127.0.0.1:9/callback",
        };
        let answer = requests::build(&tagged(Action::Answer, Some("ivr")), call).expect("request");
        let response = self
            .client
            .send(&answer, &Repeatability::new())
            .await
            .expect("answer");
        assert_eq!(response.status, 200);
        let id = response.body["callConnectionId"]
            .as_str()
            .expect("id")
            .to_owned();
        for _ in 0..100 {
            let get = Request {
                method: requests::Method::Get,
                path: format!("/calling/callConnections/{id}"),
                body: None,
                repeatable: false,
            };
            if self
                .client
                .send(&get, &Repeatability::new())
                .await
                .expect("get")
                .body["callConnectionState"]
                == "connected"
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        (id, placed["serverCallId"].as_str().expect("id").to_owned())
    }
}

fn tagged(action: Action, context: Option<&str>) -> ActionRequest {
    ActionRequest {
        action,
        operation_context: context.map(str::to_owned),
        operation_callback_uri: None,
    }
}

fn connected<'a>(id: &'a str, server: &'a str) -> CallRef<'a> {
    CallRef {
        call_connection_id: Some(id),
        server_call_id: server,
        incoming_call_context: None,
        callback_uri: "http://127.0.0.1:9/callback",
    }
}

fn transfer() -> ActionRequest {
    tagged(
        Action::Transfer(Transfer {
            target: CommunicationIdentifier::PhoneNumber("+15550001111".into()),
            transferee: None,
            custom_context: switchboard::contract::CustomContext {
                sip_headers: vec![],
                voip_headers: vec![],
            },
            source_caller_id_number: None,
        }),
        Some("transfer"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulator_accepts_every_request_shape_of_the_ivr() {
    let f = fixture().await;
    let (id, server) = f.answered().await;
    let caller = CommunicationIdentifier::PhoneNumber("+14255550123".into());
    let menu = tagged(
        Action::Recognize(Recognize {
            input: RecognizeInput::Dtmf(DtmfOptions {
                max_tones: Some(1),
                stop_tones: vec![],
                inter_tone_timeout_seconds: None,
            }),
            target: caller,
            prompt: vec![PlaySource::Text(TextSource {
                text: "Press 1".into(),
                voice: Some("en-US-NancyNeural".into()),
                locale: None,
            })],
            interrupt_prompt: true,
            initial_silence_timeout_seconds: Some(5),
            speech_language: None,
            interrupt_call_media_operation: false,
        }),
        Some("menu"),
    );
    let play = tagged(
        Action::Play(switchboard::contract::Play {
            sources: vec![PlaySource::Text(TextSource {
                text: "Goodbye.".into(),
                voice: None,
                locale: None,
            })],
            play_to: vec![],
            loop_: false,
            interrupt: false,
        }),
        Some("goodbye"),
    );
    for action in [menu, play, transfer()] {
        let request = requests::build(&action, connected(&id, &server)).expect("request");
        let response = f
            .client
            .send(&request, &Repeatability::new())
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", action.action.kind()));
        assert_eq!(response.status, 202, "{}", action.action.kind());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_503_is_retried_and_the_transfer_happens_once() {
    let f = fixture().await;
    let (id, server) = f.answered().await;
    f.sim_post("/sim/faults", json!({"operation": "TransferToParticipant", "times": 1, "fault": {"kind": "status", "status": 503}})).await;
    let response = f
        .client
        .send(
            &requests::build(&transfer(), connected(&id, &server)).expect("request"),
            &Repeatability::new(),
        )
        .await
        .expect("transfer");
    assert_eq!((response.status, response.attempts), (202, 2));
    let statuses: Vec<u64> = f
        .timeline(&id)
        .await
        .iter()
        .filter(|e| e["kind"] == "request" && e["name"] == "TransferToParticipant")
        .map(|e| e["detail"]["status"].as_u64().expect("status"))
        .collect();
    assert_eq!(statuses, [503, 202]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_honoured() {
    let f = fixture().await;
    let (id, server) = f.answered().await;
    f.sim_post("/sim/faults", json!({"operation": "TransferToParticipant", "times": 1, "fault": {"kind": "status", "status": 429, "retry_after": 1}})).await;
    let started = Instant::now();
    let response = f
        .client
        .send(
            &requests::build(&transfer(), connected(&id, &server)).expect("request"),
            &Repeatability::new(),
        )
        .await
        .expect("transfer");
    assert_eq!(response.attempts, 2);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "retried after {:?}, before Retry-After",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_response_is_retried_with_the_same_repeatability_id() {
    let f = fixture().await;
    let (id, server) = f.answered().await;
    f.sim_post("/sim/faults", json!({"operation": "TransferToParticipant", "times": 1, "fault": {"kind": "status", "status": 500, "after_effect": true}})).await;
    let response = f
        .client
        .send(
            &requests::build(&transfer(), connected(&id, &server)).expect("request"),
            &Repeatability::new(),
        )
        .await
        .expect("transfer");
    assert_eq!(response.attempts, 2);
    let transfers: Vec<(u64, bool)> = f
        .timeline(&id)
        .await
        .iter()
        .filter(|e| e["kind"] == "request" && e["name"] == "TransferToParticipant")
        .map(|e| {
            (
                e["detail"]["status"].as_u64().expect("status"),
                e["detail"]["replayed"].as_bool().unwrap_or(false),
            )
        })
        .collect();
    // The first carried the transfer out (its answer was lost); the retry was replayed.
    assert_eq!(transfers, [(500, false), (202, true)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_errors_are_not_retried() {
    let f = fixture().await;
    let request = Request {
        method: requests::Method::Get,
        path: "/calling/callConnections/nope".into(),
        body: None,
        repeatable: false,
    };
    match f.client.send(&request, &Repeatability::new()).await {
        Err(AcsError::Status { status, code, .. }) => {
            assert_eq!((status, code.as_str()), (404, "8522"))
        }
        other => panic!("{other:?}"),
    }
    let wrong = Credential::from_connection_string(&format!(
        "endpoint=https://{};accesskey=d3Jvbmc=",
        f.sim.https.expect("https")
    ))
    .expect("cs");
    let ca = reqwest::Certificate::from_pem(f.sim.ca_pem.as_bytes()).expect("ca");
    let client = Client::new(wrong, RetryPolicy::default(), &[ca]).expect("client");
    match client.send(&request, &Repeatability::new()).await {
        Err(AcsError::Status { status, code, .. }) => {
            assert_eq!((status, code.as_str()), (401, "7509"))
        }
        other => panic!("{other:?}"),
    }
    // Nobody listening: unreachable, after the attempts.
    let gone =
        Credential::from_connection_string("endpoint=https://127.0.0.1:9;accesskey=d3Jvbmc=")
            .expect("cs");
    let client = Client::new(
        gone,
        RetryPolicy {
            attempts: 2,
            base_delay: Duration::from_millis(5),
            ..RetryPolicy::default()
        },
        &[],
    )
    .expect("client");
    assert!(matches!(
        client.send(&request, &Repeatability::new()).await,
        Err(AcsError::Unreachable(_))
    ));
}
