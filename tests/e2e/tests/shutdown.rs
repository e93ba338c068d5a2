//! Graceful shutdown: the host stops accepting, finishes the events it accepted, and
//! exits.

use std::time::{Duration, Instant};

use serde_json::json;
use switchboard_e2e::{StackBuilder, ivr_script};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_the_event_in_flight_then_refuses_more() {
    let mut stack = StackBuilder::ivr()
        .expect("ivr")
        .start()
        .await
        .expect("stack");
    let mut journal = stack.executor.journal();
    // The answer takes 400 ms at the service: the host is mid-event when told to stop.
    stack
        .fault(json!({"operation": "AnswerCall", "fault": {"kind": "latency", "ms": 400}}))
        .await
        .expect("fault");
    let id = stack
        .place(&ivr_script("press-1").expect("script"))
        .await
        .expect("place");
    while stack.executor.active_calls() == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let stopping = Instant::now();
    stack.stop_host().await.expect("stopped cleanly");
    assert!(
        stopping.elapsed() < Duration::from_secs(5),
        "stopped within the grace period"
    );
    let record = journal.try_recv().expect("the incoming call was handled");
    assert_eq!(record.event, "IncomingCall");
    assert_eq!(record.actions, ["answer"]);
    assert_eq!(record.failed, None, "the answer in flight completed");
    assert_eq!(stack.executor.active_calls(), 0, "no call is left running");
    let refused = reqwest::Client::new()
        .post(format!("http://{}/eventgrid", stack.host))
        .body("[]")
        .send()
        .await;
    assert!(refused.is_err(), "nothing listens any more");
    let operations = stack.operations(&id).await.expect("operations");
    assert_eq!(
        operations,
        ["AnswerCall 200"],
        "the service saw the answer, and nothing after the host stopped"
    );
}
