//! Decision tests of the reference IVR plugin: every branch of `ivr.md`, and the same
//! decisions as the native baseline for every caller script.

mod support;

use switchboard::contract::{
    Action, ActionFailed, ChoiceResult, CommunicationIdentifier, Context, Decision, DtmfTone,
    Event, PlaySource, RecognizeCompleted, RecognizeInput, Recognized, UnknownEvent,
};
use switchboard::native;
use switchboard::runtime::{Limits, Outcome, Plugin};
use switchboard::scenario::{self, AGENT_PHONE, CALLER};

fn plugin() -> (switchboard::runtime::Runtime, Plugin) {
    let runtime = support::runtime();
    let plugin = support::load(&runtime, "switchboard_ivr");
    (runtime, plugin)
}

fn decide(plugin: &Plugin, event: &Event, ctx: &Context) -> Decision {
    match plugin.invoke(event, ctx, &Limits::default()).outcome {
        Outcome::Decision(d) => d,
        other => panic!("{} → {other}", event.name()),
    }
}

/// Feeds events one after another, carrying state as the host does.
fn decide_all(plugin: &Plugin, events: &[Event]) -> Vec<Decision> {
    let mut ctx = scenario::context();
    events
        .iter()
        .map(|event| {
            let d = decide(plugin, event, &ctx);
            if let Some(state) = &d.state {
                ctx.state.clone_from(state);
            }
            d
        })
        .collect()
}

fn kinds(d: &Decision) -> Vec<&'static str> {
    d.actions.iter().map(|a| a.action.kind()).collect()
}

#[test]
fn every_caller_script_gets_the_expected_actions_and_matches_the_native_baseline() {
    let (_rt, plugin) = plugin();
    for script in scenario::ivr_scripts() {
        let wasm = scenario::run(&script, |event, ctx| {
            let outcome = plugin.invoke(event, ctx, &Limits::default()).outcome;
            let decision = match &outcome {
                Outcome::Decision(d) => Some(d.clone()),
                _ => None,
            };
            (outcome, decision)
        });
        let baseline = scenario::run(&script, |event, ctx| {
            let d = native::ivr(event, ctx).expect("native decides");
            (d.clone(), Some(d))
        });
        for (w, n) in wasm.iter().zip(&baseline) {
            assert!(
                w.passed(),
                "{}: {} → {:?}, expected {:?}",
                script.name,
                w.event.name(),
                w.outcome,
                w.expect
            );
            assert_eq!(
                w.outcome,
                Outcome::Decision(n.outcome.clone()),
                "{}: {}",
                script.name,
                w.event.name()
            );
        }
    }
}

#[test]
fn incoming_call_is_answered_with_context_ivr() {
    let (_rt, plugin) = plugin();
    let d = decide(&plugin, &scenario::incoming_call(), &scenario::context());
    assert_eq!(d.actions.len(), 1);
    assert_eq!(d.actions[0].action, Action::Answer);
    assert_eq!(d.actions[0].operation_context.as_deref(), Some("ivr"));
    assert_eq!(d.actions[0].operation_callback_uri, None);
}

#[test]
fn call_connected_starts_the_dtmf_menu_on_the_caller() {
    let (_rt, plugin) = plugin();
    let d = decide(
        &plugin,
        &Event::CallConnected(scenario::info(Some("ivr"), 200, 0, "")),
        &scenario::context(),
    );
    let [request] = d.actions.as_slice() else {
        panic!("{d:?}")
    };
    assert_eq!(request.operation_context.as_deref(), Some("menu"));
    let Action::Recognize(r) = &request.action else {
        panic!("{request:?}")
    };
    let RecognizeInput::Dtmf(dtmf) = &r.input else {
        panic!("{r:?}")
    };
    assert_eq!(dtmf.max_tones, Some(1));
    assert_eq!(
        r.target,
        CommunicationIdentifier::PhoneNumber(CALLER.into())
    );
    assert_eq!(r.initial_silence_timeout_seconds, Some(5));
    assert!(r.interrupt_prompt);
    let [PlaySource::Text(prompt)] = r.prompt.as_slice() else {
        panic!("{r:?}")
    };
    assert_eq!(
        prompt.text,
        "Press 1 for sales, 2 to hear this again, 3 to leave."
    );
    assert_eq!(prompt.voice.as_deref(), Some("en-US-NancyNeural"));
}

#[test]
fn tone_1_transfers_to_the_configured_agent() {
    let (_rt, plugin) = plugin();
    let d = decide(
        &plugin,
        &scenario::pressed(&[DtmfTone::One]),
        &scenario::context(),
    );
    let [request] = d.actions.as_slice() else {
        panic!("{d:?}")
    };
    assert_eq!(request.operation_context.as_deref(), Some("transfer"));
    let Action::Transfer(t) = &request.action else {
        panic!("{request:?}")
    };
    assert_eq!(
        t.target,
        CommunicationIdentifier::PhoneNumber(AGENT_PHONE.into())
    );
    assert_eq!(t.transferee, None);

    // Another tenant's agent number is used as configured.
    let mut ctx = scenario::context();
    ctx.config[0].value = "+15559998888".into();
    let d = decide(&plugin, &scenario::pressed(&[DtmfTone::One]), &ctx);
    let Action::Transfer(t) = &d.actions[0].action else {
        panic!()
    };
    assert_eq!(
        t.target,
        CommunicationIdentifier::PhoneNumber("+15559998888".into())
    );
}

#[test]
fn tone_1_without_an_agent_phone_is_a_plugin_error() {
    let (_rt, plugin) = plugin();
    let mut ctx = scenario::context();
    ctx.config.clear();
    match plugin
        .invoke(
            &scenario::pressed(&[DtmfTone::One]),
            &ctx,
            &Limits::default(),
        )
        .outcome
    {
        Outcome::PluginError(e) => {
            assert_eq!(e.code, "config");
            assert!(e.message.contains("agent_phone"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn tone_2_repeats_the_menu_without_counting_a_retry() {
    let (_rt, plugin) = plugin();
    let events = vec![scenario::pressed(&[DtmfTone::Two]); 5];
    for d in decide_all(&plugin, &events) {
        assert_eq!(kinds(&d), ["recognize"]);
        assert_eq!(d.actions[0].operation_context.as_deref(), Some("menu"));
    }
}

#[test]
fn tone_3_says_goodbye_then_hangs_up_for_everyone() {
    let (_rt, plugin) = plugin();
    let d = decide(
        &plugin,
        &scenario::pressed(&[DtmfTone::Three]),
        &scenario::context(),
    );
    assert_eq!(d.actions[0].operation_context.as_deref(), Some("goodbye"));
    let Action::Play(p) = &d.actions[0].action else {
        panic!("{d:?}")
    };
    let [PlaySource::Text(t)] = p.sources.as_slice() else {
        panic!("{p:?}")
    };
    assert_eq!(t.text, "Goodbye.");
    assert!(p.play_to.is_empty(), "played to everyone");
    let d = decide(
        &plugin,
        &Event::PlayCompleted(scenario::info(Some("goodbye"), 200, 0, "")),
        &scenario::context(),
    );
    assert_eq!(d.actions[0].action, Action::Terminate);
}

#[test]
fn failures_retry_twice_then_say_goodbye() {
    let (_rt, plugin) = plugin();
    let decisions = decide_all(&plugin, &vec![scenario::silence(); 4]);
    let kinds: Vec<_> = decisions.iter().map(kinds).collect();
    assert_eq!(
        kinds,
        [
            vec!["recognize"],
            vec!["recognize"],
            vec!["play"],
            vec!["play"]
        ]
    );
}

#[test]
fn other_input_counts_as_a_failure() {
    let (_rt, plugin) = plugin();
    let choice = Event::RecognizeCompleted(RecognizeCompleted {
        info: scenario::info(Some("menu"), 200, 8545, ""),
        recognized: Recognized::Choice(ChoiceResult {
            label: "sales".into(),
            recognized_phrase: Some("sales".into()),
            confidence: Some(0.9),
        }),
    });
    let events = [
        scenario::pressed(&[DtmfTone::Nine]),
        choice,
        scenario::pressed(&[DtmfTone::One, DtmfTone::Two]),
    ];
    let kinds: Vec<_> = decide_all(&plugin, &events).iter().map(kinds).collect();
    assert_eq!(kinds, [vec!["recognize"], vec!["recognize"], vec!["play"]]);
}

#[test]
fn the_retry_count_lives_in_the_state_not_in_plugin_memory() {
    let (_rt, plugin) = plugin();
    // Two failures with the state carried: the third is goodbye…
    let decisions = decide_all(&plugin, &vec![scenario::silence(); 3]);
    assert_eq!(kinds(&decisions[2]), ["play"]);
    // …but without the state, every failure is the first.
    for _ in 0..3 {
        let d = decide(&plugin, &scenario::silence(), &scenario::context());
        assert_eq!(kinds(&d), ["recognize"]);
    }
}

#[test]
fn transfer_failure_apologises_then_hangs_up() {
    let (_rt, plugin) = plugin();
    let d = decide(
        &plugin,
        &Event::CallTransferFailed(scenario::info(Some("transfer"), 486, 5300, "")),
        &scenario::context(),
    );
    let Action::Play(p) = &d.actions[0].action else {
        panic!("{d:?}")
    };
    let [PlaySource::Text(t)] = p.sources.as_slice() else {
        panic!()
    };
    assert_eq!(t.text, "Sorry, no agent is available.");
    let ctx = d.actions[0].operation_context.clone();
    let d = decide(
        &plugin,
        &Event::PlayCompleted(scenario::info(ctx.as_deref(), 200, 0, "")),
        &scenario::context(),
    );
    assert_eq!(d.actions[0].action, Action::Terminate);
}

#[test]
fn other_events_cause_no_action() {
    let (_rt, plugin) = plugin();
    let quiet = [
        Event::CallTransferAccepted(switchboard::contract::TransferAccepted {
            info: scenario::info(Some("transfer"), 200, 7015, ""),
            transfer_target: None,
            transferee: None,
        }),
        Event::CallDisconnected(scenario::info(None, 200, 7000, "")),
        Event::PlayCompleted(scenario::info(Some("something-else"), 200, 0, "")),
        Event::PlayCompleted(scenario::info(None, 200, 0, "")),
        Event::RecognizeCanceled(scenario::info(Some("menu"), 400, 8508, "")),
        Event::PlayStarted(scenario::info(Some("goodbye"), 200, 0, "")),
        Event::ActionFailed(ActionFailed {
            index: 0,
            action: "play".into(),
            operation_context: Some("goodbye".into()),
            status: Some(404),
            code: "8522".into(),
            message: "Call not found.".into(),
        }),
        Event::Unknown(UnknownEvent {
            event_type: "Microsoft.Communication.SomethingNew".into(),
            json: "{}".into(),
        }),
    ];
    for event in &quiet {
        let d = decide(&plugin, event, &scenario::context());
        assert!(d.actions.is_empty(), "{} → {d:?}", event.name());
        assert_eq!(native::ivr(event, &scenario::context()).expect("native"), d);
    }
}

#[test]
fn an_outcome_unknown_after_a_restart_offers_the_menu_again_or_ends_the_call() {
    let (_rt, plugin) = plugin();
    let unknown = |action: &str, context: &str, code: &str| {
        Event::ActionFailed(ActionFailed {
            index: 0,
            action: action.into(),
            operation_context: Some(context.into()),
            status: None,
            code: code.into(),
            message: String::new(),
        })
    };
    let ctx = scenario::context();
    for (event, expected) in [
        (
            unknown("recognize", "menu", "outcome-unknown"),
            vec!["recognize"],
        ),
        (
            unknown("play", "goodbye", "outcome-unknown"),
            vec!["terminate"],
        ),
        (
            unknown("play", "sorry", "outcome-unknown"),
            vec!["terminate"],
        ),
        (unknown("play", "goodbye", "8522"), vec![]),
    ] {
        let d = decide(&plugin, &event, &ctx);
        let kinds: Vec<&str> = d.actions.iter().map(|a| a.action.kind()).collect();
        assert_eq!(kinds, expected, "{event:?}");
        assert_eq!(native::ivr(&event, &ctx).expect("native"), d);
    }
}
