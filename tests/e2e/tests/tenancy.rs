//! Tenants managed through the admin API answer calls: a tenant uploads the IVR
//! plugin, routes its number, and callers get the menu; activating another version
//! mid-call changes the calls that ring afterwards, not the call in progress; a number
//! nobody routes is rejected.

use serde_json::{Value, json};
use switchboard_e2e::{Stack, StackBuilder, guest, ivr_script};

const OPERATOR: &str = "operator-token-for-e2e";

async fn admin(
    stack: &Stack,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Vec<u8>>,
    json_body: Option<Value>,
) -> Value {
    let mut request = stack
        .http
        .request(method.clone(), format!("http://{}{path}", stack.host))
        .bearer_auth(token);
    if let Some(bytes) = body {
        request = request
            .header("content-type", "application/wasm")
            .body(bytes);
    }
    if let Some(value) = json_body {
        request = request.json(&value);
    }
    let response = request.send().await.expect("admin request");
    let status = response.status();
    let answer: Value = response.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{method} {path}: {status} {answer}");
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_from_the_api_answers_and_new_versions_reach_only_new_calls() {
    use reqwest::Method;
    let mut builder = StackBuilder::ivr().expect("ivr");
    builder.tenants.clear();
    builder.sim.time_scale = 10.0;
    let stack = builder
        .host_toml(&format!("[admin]\noperator_token = \"{OPERATOR}\""))
        .start()
        .await
        .expect("stack");

    admin(
        &stack,
        Method::POST,
        "/v1/tenants",
        OPERATOR,
        None,
        Some(json!({"id": "acme"})),
    )
    .await;
    let key = admin(
        &stack,
        Method::POST,
        "/v1/tenants/acme/keys",
        OPERATOR,
        None,
        None,
    )
    .await;
    let key = key["secret"].as_str().expect("secret").to_owned();
    admin(
        &stack,
        Method::PUT,
        "/v1/tenants/acme/config",
        &key,
        None,
        Some(json!({"agent_phone": "+15550001111"})),
    )
    .await;
    let ivr = std::fs::read(guest("switchboard_ivr").expect("ivr")).expect("bytes");
    let other = std::fs::read(guest("hostile_guest").expect("guest")).expect("bytes");
    let v1 = admin(
        &stack,
        Method::POST,
        "/v1/tenants/acme/plugins/ivr/versions",
        &key,
        Some(ivr),
        None,
    )
    .await;
    let v2 = admin(
        &stack,
        Method::POST,
        "/v1/tenants/acme/plugins/ivr/versions",
        &key,
        Some(other),
        None,
    )
    .await;
    admin(
        &stack,
        Method::POST,
        "/v1/tenants/acme/plugins/ivr/activate",
        &key,
        None,
        Some(json!({"sha256": v1["sha256"]})),
    )
    .await;
    admin(
        &stack,
        Method::POST,
        "/v1/tenants/acme/routes",
        &key,
        None,
        Some(json!({"address": "+18005550100", "plugin": "ivr"})),
    )
    .await;

    // A caller who stays silent through the menu: the call lasts seconds.
    let first = stack
        .place(&ivr_script("silent").expect("script"))
        .await
        .expect("place");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !stack
        .operations(&first)
        .await
        .expect("operations")
        .iter()
        .any(|o| o.starts_with("Recognize"))
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the first call never reached the menu"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    // Mid-call: version 2 (a plugin that only ever answers) becomes active.
    admin(
        &stack,
        Method::POST,
        "/v1/tenants/acme/plugins/ivr/activate",
        &key,
        None,
        Some(json!({"sha256": v2["sha256"]})),
    )
    .await;
    let second = stack
        .sim_post("calls", &json!({"from": "+14255550777", "to": "+18005550100", "caller": {"name": "hangs-up", "from": "+14255550777", "to": "+18005550100", "hang_up_after": 2.0}}))
        .await
        .expect("place")["serverCallId"]
        .as_str()
        .expect("id")
        .to_owned();
    // Nobody routes this number: rejected.
    let unrouted = stack
        .ring("+14255550666", "+18005550123")
        .await
        .expect("place");

    let report = stack.report_when_ended(2).await.expect("report");
    let silent = report["calls"]
        .as_array()
        .expect("calls")
        .iter()
        .find(|c| c["serverCallId"] == first.as_str())
        .expect("first call");
    assert_eq!(
        silent["pass"], true,
        "the call in progress kept version 1: {silent:#}"
    );
    stack.ended(&second).await.expect("second ends");
    let operations = stack.operations(&second).await.expect("operations");
    assert_eq!(operations[0], "AnswerCall 200", "{operations:?}");
    assert!(
        !operations.iter().any(|o| o.starts_with("Recognize")),
        "the call after activation ran version 2: {operations:?}"
    );
    // The host's call log has the first call's timeline.
    let path = format!("/v1/tenants/acme/calls/{first}");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let timeline = loop {
        let response = stack
            .http
            .get(format!("http://{}{path}", stack.host))
            .bearer_auth(&key)
            .send()
            .await
            .expect("calls");
        let events: Value = response.json().await.unwrap_or(Value::Null);
        if events
            .as_array()
            .is_some_and(|e| e.last().is_some_and(|e| e["event"] == "CallDisconnected"))
        {
            break events;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no call log: {events}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let events: Vec<&str> = timeline
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["event"].as_str())
        .filter(|e| *e != "ParticipantsUpdated" && *e != "PlayStarted")
        .collect();
    assert_eq!(
        events,
        [
            "IncomingCall",
            "CallConnected",
            "RecognizeFailed",
            "RecognizeFailed",
            "RecognizeFailed",
            "PlayCompleted",
            "CallDisconnected"
        ],
        "{timeline:#}"
    );
    assert_eq!(timeline[0]["actions"], json!(["answer"]));
    assert_eq!(timeline[0]["outcome"], "decision");
    assert!(timeline[0]["plugin_us"].as_u64().is_some_and(|us| us > 0));
    stack.ended(&unrouted).await.expect("unrouted ends");
    assert_eq!(
        stack.operations(&unrouted).await.expect("operations"),
        ["RejectCall 204"]
    );
}
