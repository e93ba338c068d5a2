//! Fault injection: failed and slow requests, and dropped, duplicated and reordered
//! events, with the effects an application must cope with.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::{Client, Seen, phone};

async fn add_fault(sim: &switchboard_sim::Running, rule: Value) {
    let (status, body) = support::sim_post(sim, "/sim/faults", &rule).await;
    assert_eq!(status, 201, "{body}");
}

fn types(seen: &Seen) -> Vec<String> {
    seen.lock()
        .expect("lock")
        .iter()
        .filter_map(|(_, body)| {
            body[0]["type"]
                .as_str()
                .map(|t| t.trim_start_matches("Microsoft.Communication.").to_owned())
        })
        .collect()
}

/// A connected call whose callbacks go to a recorder.
async fn connected_call(sim: &switchboard_sim::Running) -> (Client, String, Seen) {
    let (base, seen) = support::recorder().await;
    let client = Client::new(sim);
    let placed = support::ring(sim).await;
    let (status, props) = client
        .post("/calling/callConnections:answer", &json!({"incomingCallContext": placed["incomingCallContext"], "callbackUri": format!("{base}/cb")}))
        .await;
    assert_eq!(status, 200, "{props}");
    let id = props["callConnectionId"].as_str().expect("id").to_owned();
    support::eventually("CallConnected", || {
        types(&seen).contains(&"CallConnected".to_owned())
    })
    .await;
    (client, id, seen)
}

#[tokio::test]
async fn a_failed_request_has_no_effect_and_says_when_to_retry() {
    let sim = support::start_sim(50.0).await;
    let (client, id, seen) = connected_call(&sim).await;
    add_fault(&sim, json!({"operation": "TransferToParticipant", "times": 1, "fault": {"kind": "status", "status": 503, "retry_after": 2}})).await;
    let path = format!("/calling/callConnections/{id}:transferToParticipant");
    let body = json!({"targetParticipant": phone("+15550001111"), "operationContext": "t"});
    let response = client
        .request(reqwest::Method::POST, &path, Some(&body))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "2");
    let (status, _) = client.post(&path, &body).await;
    assert_eq!(status, 202);
    support::eventually("CallTransferAccepted", || {
        types(&seen).contains(&"CallTransferAccepted".to_owned())
    })
    .await;
    let timeline: Value = reqwest::get(format!("{}/sim/calls/{id}", sim.http_url()))
        .await
        .expect("t")
        .json()
        .await
        .expect("json");
    let transfers = timeline["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .filter(|e| e["kind"] == "request" && e["name"] == "TransferToParticipant")
        .map(|e| e["detail"]["status"].as_u64().expect("status"))
        .collect::<Vec<_>>();
    assert_eq!(transfers, [503, 202]);
}

#[tokio::test]
async fn a_lost_response_is_recovered_by_a_repeatable_retry_without_a_second_effect() {
    let sim = support::start_sim(50.0).await;
    let (client, id, seen) = connected_call(&sim).await;
    add_fault(&sim, json!({"operation": "AddParticipant", "times": 1, "fault": {"kind": "status", "status": 500, "after_effect": true}})).await;
    let path = format!("/calling/callConnections/{id}/participants:add");
    let body = json!({"participantToAdd": {"rawId": "8:acs:x_agent"}, "operationContext": "add"});
    let request_id = uuid::Uuid::new_v4().to_string();
    let first_sent = httpdate::fmt_http_date(std::time::SystemTime::now());
    let send = || {
        client
            .request(reqwest::Method::POST, &path, Some(&body))
            .header("Repeatability-Request-ID", &request_id)
            .header("Repeatability-First-Sent", &first_sent)
            .send()
    };
    assert_eq!(send().await.expect("first").status(), 500);
    let retry = send().await.expect("retry");
    assert_eq!(retry.status(), 202);
    let reply: Value = retry.json().await.expect("json");
    assert!(reply["invitationId"].is_string(), "{reply}");
    support::eventually("AddParticipantSucceeded", || {
        types(&seen).contains(&"AddParticipantSucceeded".to_owned())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let added = types(&seen)
        .iter()
        .filter(|t| *t == "AddParticipantSucceeded")
        .count();
    assert_eq!(added, 1, "one effect for two requests: {:?}", types(&seen));
}

#[tokio::test]
async fn events_are_dropped_duplicated_and_reordered_as_asked() {
    let sim = support::start_sim(50.0).await;
    let (client, id, seen) = connected_call(&sim).await;
    add_fault(
        &sim,
        json!({"event": "PlayCompleted", "times": 1, "fault": {"kind": "duplicate"}}),
    )
    .await;
    add_fault(
        &sim,
        json!({"event": "PlayStarted", "times": 1, "fault": {"kind": "reorder"}}),
    )
    .await;
    let play = |ctx: &'static str| {
        let client = client.clone();
        let path = format!("/calling/callConnections/{id}:play");
        async move {
            let body = json!({"playSources": [{"kind": "text", "text": {"text": "Hi"}}], "operationContext": ctx});
            assert_eq!(client.post(&path, &body).await.0, 202);
        }
    };
    play("one").await;
    support::eventually("two PlayCompleted and the held PlayStarted", || {
        let t = types(&seen);
        t.iter().filter(|t| *t == "PlayCompleted").count() == 2
            && t.iter().any(|t| t == "PlayStarted")
    })
    .await;
    let order = types(&seen);
    let started = order
        .iter()
        .position(|t| t == "PlayStarted")
        .expect("PlayStarted delivered");
    let completed = order
        .iter()
        .position(|t| t == "PlayCompleted")
        .expect("PlayCompleted");
    assert!(
        started > completed,
        "PlayStarted held back behind PlayCompleted: {order:?}"
    );

    add_fault(
        &sim,
        json!({"event": "PlayCompleted", "fault": {"kind": "drop"}}),
    )
    .await;
    play("two").await;
    support::eventually("PlayStarted of the second play", || {
        types(&seen).iter().filter(|t| *t == "PlayStarted").count() == 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        types(&seen)
            .iter()
            .filter(|t| *t == "PlayCompleted")
            .count(),
        2,
        "the second PlayCompleted was dropped"
    );
}

#[tokio::test]
async fn bad_fault_rules_are_refused() {
    let sim = support::start_sim(50.0).await;
    let (status, body) = support::sim_post(
        &sim,
        "/sim/faults",
        &json!({"event": "PlayCompleted", "fault": {"kind": "status", "status": 503}}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("msg")
            .contains("operations, not events"),
        "{body}"
    );
}
