//! An event about another call under a live call's token (issue #8): refused with
//! 400, seen by neither call. Its own process (test binary): the metrics recorder is
//! per process, and `bad_input.rs` counts events.

use std::time::{Duration, SystemTime};

use serde_json::json;
use switchboard_e2e::{Stack, StackBuilder, ivr_script};

/// The callback URI the host gave a call when it answered, once it has.
async fn callback_uri(stack: &Stack, call: &str) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let timeline = stack.timeline(call).await.expect("timeline");
        let uri = timeline.iter().find_map(|e| {
            (e["kind"] == "request" && e["name"] == "AnswerCall")
                .then(|| {
                    e["detail"]["body"]["callbackUri"]
                        .as_str()
                        .map(str::to_owned)
                })
                .flatten()
        });
        if let Some(uri) = uri {
            return uri;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{call} not answered"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A genuine token and a live call's callback URI, but an event about another live
/// call: refused, and neither call sees it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_about_another_call_under_a_calls_token_is_refused() {
    let mut builder = StackBuilder::ivr().expect("ivr");
    // Real time: the silent callers stay on the line for seconds.
    builder.sim.time_scale = 1.0;
    let stack = builder.start().await.expect("stack");
    let mut journal = stack.executor.journal();
    let silent = ivr_script("silent").expect("script");
    let a = stack.place(&silent).await.expect("place a");
    let b = stack.place(&silent).await.expect("place b");
    let uri_a = callback_uri(&stack, &a).await;
    callback_uri(&stack, &b).await;
    let path = uri_a
        .split_once("/callbacks/")
        .map(|(_, token)| format!("/callbacks/{token}"))
        .expect("callback path");
    let event = |server_call_id: &str| {
        json!([{
            "id": format!("foreign-{server_call_id}"), "source": "calling/callConnections/x",
            "type": "Microsoft.Communication.ContinuousDtmfRecognitionToneReceived",
            "specversion": "1.0", "time": "2026-12-01T00:00:00Z",
            "data": {"callConnectionId": "x", "serverCallId": server_call_id, "correlationId": "z",
                     "tone": "one", "sequenceId": 1}
        }])
    };
    let token = stack.sim.sim.signer.token(SystemTime::now());
    let http = reqwest::Client::new();
    let post = |body: serde_json::Value| {
        http.post(format!("http://{}{path}", stack.host))
            .header("authorization", format!("Bearer {token}"))
            .json(&body)
            .send()
    };
    let response = post(event(&b)).await.expect("post");
    assert_eq!(response.status(), 400);
    let message = response.text().await.unwrap_or_default();
    assert!(message.contains("serverCallId"), "{message}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    while let Ok(handled) = journal.try_recv() {
        assert_ne!(
            handled.event, "ContinuousDtmfRecognitionToneReceived",
            "the foreign event reached {}",
            handled.server_call_id
        );
    }
    // The same event naming its own call is taken: the check is what refused it.
    let own = post(event(&a)).await.expect("post");
    assert_eq!(
        own.status(),
        200,
        "{}",
        own.text().await.unwrap_or_default()
    );
}
