//! The REST operations of Call Automation, carried out on the simulated world.
//!
//! Each operation validates its body (400 8523 naming the field), checks the call's
//! state (404 8522 for unknown or ended calls, 400 8585 for actions the state does not
//! allow), changes the world and schedules the events the service would send.

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::identifier::{RawId, WireIdentifier};
use crate::media;
use crate::script::{Answer, Input};
use crate::world::{
    Call, ConnState, Invitation, MediaKind, MediaOp, Part, RecognizeSpec, Recording, Ringing, Sim,
    Streaming, World, new_uuid,
};

/// What an operation answers.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Option<Value>,
    /// The call the operation touched, for its timeline.
    pub server_call_id: Option<String>,
}

impl Reply {
    fn new(status: StatusCode, body: Option<Value>, server_call_id: &str) -> Self {
        Self {
            status,
            body,
            server_call_id: Some(server_call_id.to_owned()),
        }
    }
}

type Result<T> = std::result::Result<T, ApiError>;

const OK_MESSAGE: &str = "Action completed successfully.";

// ------------------------------------------------------------------ body helpers

fn field<'a>(body: &'a Value, name: &str) -> Result<&'a Value> {
    body.get(name)
        .filter(|v| !v.is_null())
        .ok_or_else(|| ApiError::invalid(format!("`{name}` is required")))
}

fn string(body: &Value, name: &str) -> Result<String> {
    field(body, name)?
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| ApiError::invalid(format!("`{name}` must be a non-empty string")))
}

fn opt_string(body: &Value, name: &str) -> Option<String> {
    body.get(name).and_then(Value::as_str).map(str::to_owned)
}

fn url(body: &Value, name: &str) -> Result<String> {
    let value = string(body, name)?;
    if value.starts_with("https://") || value.starts_with("http://") {
        Ok(value)
    } else {
        Err(ApiError::invalid(format!(
            "`{name}` must be an absolute http(s) URL, got {value:?}"
        )))
    }
}

fn opt_url(body: &Value, name: &str) -> Result<Option<String>> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(_) => url(body, name).map(Some),
    }
}

fn identifier_value(value: &Value, name: &str) -> Result<RawId> {
    let wire: WireIdentifier = serde_json::from_value(value.clone()).map_err(|e| {
        ApiError::invalid(format!("`{name}` is not a communication identifier: {e}"))
    })?;
    wire.raw_id()
        .map_err(|e| ApiError::invalid(format!("`{name}`: {e}")))
}

fn identifier(body: &Value, name: &str) -> Result<RawId> {
    identifier_value(field(body, name)?, name)
}

fn identifiers(body: &Value, name: &str) -> Result<Vec<RawId>> {
    let list = field(body, name)?
        .as_array()
        .ok_or_else(|| ApiError::invalid(format!("`{name}` must be an array")))?;
    if list.is_empty() {
        return Err(ApiError::invalid(format!("`{name}` must not be empty")));
    }
    list.iter()
        .enumerate()
        .map(|(i, v)| identifier_value(v, &format!("{name}[{i}]")))
        .collect()
}

fn seconds(body: &Value, pointer: &str, default: u64) -> Duration {
    Duration::from_secs(
        body.pointer(pointer)
            .and_then(Value::as_u64)
            .unwrap_or(default),
    )
}

/// The live call with this id, or the service's 404.
fn live_call<'a>(world: &'a mut World, id: &str) -> Result<&'a mut Call> {
    match world.calls.get_mut(id) {
        Some(call) if call.is_live() => Ok(call),
        _ => Err(ApiError::not_found(format!(
            "Call {id} not found. It may have ended."
        ))),
    }
}

fn connected_call<'a>(world: &'a mut World, id: &str) -> Result<&'a mut Call> {
    let call = live_call(world, id)?;
    if call.state == ConnState::Connected {
        Ok(call)
    } else {
        Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "8501",
            format!(
                "Action is not valid: the call is {:?}, not connected.",
                call.state
            ),
        ))
    }
}

fn target_in_call(call: &Call, body: &Value, name: &str) -> Result<RawId> {
    let target = identifier(body, name)?;
    if call.has_participant(&target) {
        Ok(target)
    } else {
        Err(ApiError::invalid(format!(
            "`{name}` {target} is not a participant of the call"
        )))
    }
}

fn result(code: u32, sub_code: u32, message: &str) -> Value {
    json!({"code": code, "subCode": sub_code, "message": message})
}

fn with_context(context: Option<&String>, mut data: Value) -> Value {
    if let Some(context) = context {
        data["operationContext"] = json!(context);
    }
    data
}

// ------------------------------------------------------------ incoming calls

impl Sim {
    /// A caller dials `to`: a ringing call and an IncomingCall to Event Grid.
    pub fn ring(
        self: &Arc<Self>,
        from: RawId,
        to: RawId,
        caller: Option<crate::script::Caller>,
    ) -> Value {
        let mut world = self.world();
        let server_call_id = base64_url(&format!(
            "https://sim.switchboard.local/conv/{}",
            new_uuid(&mut world.rng)
        ));
        let correlation_id = new_uuid(&mut world.rng);
        let context = format!("sim-icc-{}", new_uuid(&mut world.rng));
        world.order.push(server_call_id.clone());
        let display_name = caller.as_ref().and_then(|c| c.display_name.clone());
        let data = json!({
            "to": to.to_wire(),
            "from": from.to_wire(),
            "serverCallId": server_call_id,
            "callerDisplayName": display_name.unwrap_or_default(),
            "incomingCallContext": context,
            "correlationId": correlation_id,
            "customContext": {"sipHeaders": {}, "voipHeaders": {}},
        });
        self.record(&mut world, &server_call_id, "state", "Ringing", json!({"from": from.as_str(), "to": to.as_str(), "script": caller.as_ref().map(|c| c.name.clone())}));
        if let Some(caller) = &caller {
            world.scripts.insert(server_call_id.clone(), caller.clone());
        }
        let subject = format!("/caller/{from}/recipient/{to}");
        world.ringing.insert(
            context.clone(),
            Ringing {
                server_call_id: server_call_id.clone(),
                correlation_id: correlation_id.clone(),
                from,
                to,
                caller,
            },
        );
        self.publish(&mut world, "IncomingCall", &subject, data, &server_call_id);
        json!({"serverCallId": server_call_id, "correlationId": correlation_id, "incomingCallContext": context})
    }

    fn take_ringing(world: &mut World, body: &Value) -> Result<Ringing> {
        let context = string(body, "incomingCallContext")?;
        world
            .ringing
            .remove(&context)
            .ok_or_else(|| ApiError::invalid("`incomingCallContext` is unknown, or the call was already answered, rejected or redirected"))
    }

    pub fn answer(self: &Arc<Self>, body: &Value, api_version: &str) -> Result<Reply> {
        let callback = url(body, "callbackUri")?;
        let mut world = self.world();
        let ringing = Self::take_ringing(&mut world, body)?;
        let id = self.open_call(
            &mut world,
            &ringing.server_call_id,
            &ringing.correlation_id,
            api_version,
            &callback,
            opt_string(body, "operationContext"),
            ringing.from.clone(),
            vec![ringing.to.clone()],
            ringing.caller.clone(),
        );
        let mut properties = world.calls[&id].properties();
        properties["callConnectionState"] = json!("unknown");
        let server_call_id = ringing.server_call_id.clone();
        self.after(Duration::from_millis(200), move |sim, world| {
            sim.connected(world, &id)
        });
        Ok(Reply::new(
            StatusCode::OK,
            Some(properties),
            &server_call_id,
        ))
    }

    /// The call is up: CallConnected, ParticipantsUpdated, CallStarted, and the
    /// caller's hang-up timer.
    fn connected(self: &Arc<Self>, world: &mut World, id: &str) {
        let Some(call) = world
            .calls
            .get(id)
            .filter(|c| c.state == ConnState::Connecting)
        else {
            return;
        };
        let context = call.operation_context.clone();
        let hang_up_after = call.caller.as_ref().and_then(|c| c.hang_up_after);
        let hold = call
            .caller
            .as_ref()
            .and_then(|c| c.hold_after.map(|after| (after, c.hold_for)));
        let (server_call_id, correlation_id, source) = (
            call.server_call_id.clone(),
            call.correlation_id.clone(),
            call.source.clone(),
        );
        self.set_state(world, id, ConnState::Connected);
        self.emit(
            world,
            id,
            "CallConnected",
            with_context(
                context.as_ref(),
                json!({"resultInformation": result(200, 0, "")}),
            ),
            None,
        );
        self.participants_updated(world, id);
        self.publish(
            world,
            "CallStarted",
            &format!("/caller/{source}"),
            json!({"serverCallId": server_call_id, "correlationId": correlation_id, "isTwoParty": true, "isRoomsCall": false,
                   "startedBy": {"communicationIdentifier": source.to_wire()}}),
            &server_call_id,
        );
        if let Some(seconds) = hang_up_after {
            let id = id.to_owned();
            self.after(Duration::from_secs_f64(seconds), move |sim, world| {
                sim.caller_hangs_up(world, &id)
            });
        }
        if let Some((after, hold_for)) = hold {
            let (start, end) = (id.to_owned(), id.to_owned());
            self.after(Duration::from_secs_f64(after), move |sim, world| {
                sim.caller_holds(world, &start, true)
            });
            self.after(
                Duration::from_secs_f64(after + hold_for),
                move |sim, world| sim.caller_holds(world, &end, false),
            );
        }
    }

    /// The caller puts the call on hold, or takes it off hold.
    fn caller_holds(&self, world: &mut World, id: &str, on_hold: bool) {
        let Some(call) = world.calls.get_mut(id).filter(|c| c.is_live()) else {
            return;
        };
        let caller = call.source.clone();
        if let Some(part) = call.participants.iter_mut().find(|p| p.id == caller) {
            part.on_hold = on_hold;
        }
        self.participants_updated(world, id);
    }

    /// The remote party hangs up.
    pub fn caller_hangs_up(self: &Arc<Self>, world: &mut World, id: &str) {
        let Some(call) = world.calls.get_mut(id).filter(|c| c.is_live()) else {
            return;
        };
        let phone = call.source.phone_number().is_some();
        if let Some(op) = call.media_current.take() {
            call.media_queue.clear();
            let event = match op.kind {
                MediaKind::Play { .. } => "PlayCanceled",
                MediaKind::Recognize(_) => "RecognizeCanceled",
            };
            let data = with_context(
                op.context.as_ref(),
                json!({"resultInformation": result(400, 8508, "Action failed, the operation was canceled.")}),
            );
            self.emit(world, id, event, data, op.callback.as_deref());
        }
        if phone {
            self.disconnect(
                world,
                id,
                540_000,
                "Call ended successfully by local PSTN caller.",
            );
        } else {
            self.disconnect(
                world,
                id,
                5001,
                "This conversation has ended.. DiagCode: 0#5001.@",
            );
        }
    }

    pub fn reject(self: &Arc<Self>, body: &Value) -> Result<Reply> {
        let reason = opt_string(body, "callRejectReason").unwrap_or_else(|| "none".into());
        if !["none", "busy", "forbidden"].contains(&reason.as_str()) {
            return Err(ApiError::invalid(format!(
                "`callRejectReason` must be none, busy or forbidden, got {reason:?}"
            )));
        }
        let mut world = self.world();
        let ringing = Self::take_ringing(&mut world, body)?;
        let server_call_id = ringing.server_call_id.clone();
        self.record(
            &mut world,
            &server_call_id,
            "state",
            "Rejected",
            json!({"reason": reason}),
        );
        Ok(Reply::new(StatusCode::NO_CONTENT, None, &server_call_id))
    }

    pub fn redirect(self: &Arc<Self>, body: &Value) -> Result<Reply> {
        let target = identifier(body, "target")?;
        let mut world = self.world();
        let ringing = Self::take_ringing(&mut world, body)?;
        let server_call_id = ringing.server_call_id.clone();
        self.record(
            &mut world,
            &server_call_id,
            "state",
            "Redirected",
            json!({"to": target.as_str()}),
        );
        Ok(Reply::new(StatusCode::NO_CONTENT, None, &server_call_id))
    }

    // -------------------------------------------------------------- new calls

    pub fn create_call(self: &Arc<Self>, body: &Value, api_version: &str) -> Result<Reply> {
        let targets = identifiers(body, "targets")?;
        let callback = url(body, "callbackUri")?;
        let source = match body.get("sourceCallerIdNumber").filter(|v| !v.is_null()) {
            Some(number) => {
                let value = number
                    .get("value")
                    .and_then(Value::as_str)
                    .ok_or_else(|| ApiError::invalid("`sourceCallerIdNumber.value` is required"))?;
                RawId::phone(value)
            }
            None => match body.get("source").filter(|v| !v.is_null()) {
                Some(source) => identifier_value(source, "source")?,
                None => RawId(format!("8:acs:{}_application", self.config.resource_id)),
            },
        };
        if targets.iter().any(|t| t.phone_number().is_some()) && source.phone_number().is_none() {
            return Err(ApiError::invalid(
                "calling a phone number needs `sourceCallerIdNumber`",
            ));
        }
        let mut world = self.world();
        let server_call_id = base64_url(&format!(
            "https://sim.switchboard.local/conv/{}",
            new_uuid(&mut world.rng)
        ));
        let correlation_id = new_uuid(&mut world.rng);
        world.order.push(server_call_id.clone());
        let id = self.open_call(
            &mut world,
            &server_call_id,
            &correlation_id,
            api_version,
            &callback,
            opt_string(body, "operationContext"),
            source,
            targets.clone(),
            None,
        );
        // The call has only the application until a target answers.
        world
            .calls
            .get_mut(&id)
            .expect("just opened")
            .participants
            .truncate(1);
        let mut properties = world.calls[&id].properties();
        if let Some(p) = properties.as_object_mut() {
            p.remove("serverCallId");
        }
        // The first target to answer connects the call.
        let agent = Self::agent(&world, Some(&id), &targets[0]);
        let ring = Duration::from_secs_f64(agent.ring);
        let id2 = id.clone();
        self.after(ring, move |sim, world| match agent.answer {
            Answer::Accept => {
                if let Some(call) = world.calls.get_mut(&id2) {
                    let targets = call.targets.clone();
                    call.participants.extend(targets.into_iter().map(Part::new));
                }
                sim.connected(world, &id2);
                if let Some(seconds) = agent.hang_up_after {
                    let id3 = id2.clone();
                    sim.after(Duration::from_secs_f64(seconds), move |sim, world| {
                        sim.caller_hangs_up(world, &id3)
                    });
                }
            }
            Answer::Decline | Answer::NoAnswer => {
                let (code, sub, message) = if agent.answer == Answer::Decline {
                    (200, 5002, "The conversation has ended. DiagCode: 0#5002.@")
                } else {
                    (408, 5003, "The call was not answered. DiagCode: 408#5003.@")
                };
                let context = world
                    .calls
                    .get(&id2)
                    .and_then(|c| c.operation_context.clone());
                sim.emit(
                    world,
                    &id2,
                    "CreateCallFailed",
                    with_context(
                        context.as_ref(),
                        json!({"resultInformation": result(code, sub, message)}),
                    ),
                    None,
                );
                sim.disconnect(world, &id2, sub, message);
            }
        });
        Ok(Reply::new(
            StatusCode::CREATED,
            Some(properties),
            &server_call_id,
        ))
    }

    pub fn connect(self: &Arc<Self>, body: &Value, api_version: &str) -> Result<Reply> {
        let locator = field(body, "callLocator")?;
        let callback = url(body, "callbackUri")?;
        let server_call_id = locator
            .get("serverCallId")
            .or_else(|| locator.get("groupCallId"))
            .or_else(|| locator.get("roomId"))
            .and_then(Value::as_str)
            .ok_or_else(|| {
                ApiError::invalid("`callLocator` needs serverCallId, groupCallId or roomId")
            })?
            .to_owned();
        let mut world = self.world();
        let existing = world
            .calls
            .values()
            .find(|c| c.server_call_id == server_call_id && c.is_live())
            .map(|c| {
                (
                    c.correlation_id.clone(),
                    c.source.clone(),
                    c.targets.clone(),
                )
            });
        let (correlation_id, source, targets) = match existing {
            Some(found) => found,
            None => {
                // Group calls and rooms come into being when someone connects.
                world.order.push(server_call_id.clone());
                (
                    new_uuid(&mut world.rng),
                    RawId(format!("8:acs:{}_application", self.config.resource_id)),
                    Vec::new(),
                )
            }
        };
        let id = self.open_call(
            &mut world,
            &server_call_id,
            &correlation_id,
            api_version,
            &callback,
            opt_string(body, "operationContext"),
            source,
            targets,
            None,
        );
        let properties = world.calls[&id].properties();
        self.after(Duration::from_millis(200), move |sim, world| {
            sim.connected(world, &id)
        });
        Ok(Reply::new(
            StatusCode::OK,
            Some(properties),
            &server_call_id,
        ))
    }

    // --------------------------------------------------------- call connection

    pub fn get_call(self: &Arc<Self>, id: &str) -> Result<Reply> {
        let mut world = self.world();
        let call = live_call(&mut world, id)?;
        Ok(Reply::new(
            StatusCode::OK,
            Some(call.properties()),
            &call.server_call_id.clone(),
        ))
    }

    pub fn hang_up(self: &Arc<Self>, id: &str, for_everyone: bool) -> Result<Reply> {
        let mut world = self.world();
        let server_call_id = live_call(&mut world, id)?.server_call_id.clone();
        let message = "Call was ended by Azure Communication Service Call Automation API or a server bot. DiagCode: 0#7000.@";
        self.record(
            &mut world,
            &server_call_id,
            "state",
            if for_everyone { "Terminated" } else { "HungUp" },
            Value::Null,
        );
        let id = id.to_owned();
        // The request returns before the event.
        self.after(Duration::from_millis(50), move |sim, world| {
            sim.disconnect(world, &id, 7000, message)
        });
        Ok(Reply::new(StatusCode::NO_CONTENT, None, &server_call_id))
    }

    pub fn transfer(self: &Arc<Self>, id: &str, body: &Value) -> Result<Reply> {
        let target = identifier(body, "targetParticipant")?;
        let context = opt_string(body, "operationContext");
        let callback = opt_url(body, "operationCallbackUri")?;
        let mut world = self.world();
        let call = connected_call(&mut world, id)?;
        let transferee = match body.get("transferee").filter(|v| !v.is_null()) {
            Some(v) => identifier_value(v, "transferee")?,
            None => call.source.clone(),
        };
        if !call.has_participant(&transferee) {
            return Err(ApiError::invalid(format!(
                "`transferee` {transferee} is not a participant of the call"
            )));
        }
        let server_call_id = call.server_call_id.clone();
        self.set_state(&mut world, id, ConnState::Transferring);
        let agent = Self::agent(&world, Some(id), &target);
        let ring = match agent.answer {
            Answer::NoAnswer => Duration::from_secs(30),
            _ => Duration::from_secs_f64(agent.ring),
        };
        let id = id.to_owned();
        let reply_context = context.clone();
        self.after(ring, move |sim, world| {
            if world.calls.get(&id).is_none_or(|c| c.state != ConnState::Transferring) {
                return;
            }
            match agent.answer {
                Answer::Accept => {
                    let data = with_context(context.as_ref(), json!({
                        "resultInformation": result(200, 7015, "The transfer operation completed successfully."),
                        "transferTarget": target.to_wire(),
                        "transferee": transferee.to_wire(),
                    }));
                    sim.emit(world, &id, "CallTransferAccepted", data, callback.as_deref());
                    sim.set_state(world, &id, ConnState::TransferAccepted);
                    // The application leaves; the caller and the agent talk until the
                    // agent hangs up.
                    if let Some(call) = world.calls.get_mut(&id) {
                        call.state = ConnState::Connected;
                    }
                    if let Some(server_call_id) = sim.leave(world, &id, 7015, "The call was transferred. DiagCode: 0#7015.@") {
                        let talk = Duration::from_secs_f64(agent.hang_up_after.unwrap_or(60.0));
                        sim.after(talk, move |sim, world| sim.call_ended(world, &server_call_id, 5001, "The agent hung up."));
                    }
                }
                Answer::Decline | Answer::NoAnswer => {
                    let (code, sub, message) = if agent.answer == Answer::Decline {
                        (486, 5002, "The transfer target declined the call. DiagCode: 486#5002.@")
                    } else {
                        (408, 5003, "The transfer target did not answer. DiagCode: 408#5003.@")
                    };
                    let data = with_context(context.as_ref(), json!({"resultInformation": result(code, sub, message)}));
                    sim.emit(world, &id, "CallTransferFailed", data, callback.as_deref());
                    sim.set_state(world, &id, ConnState::Connected);
                }
            }
        });
        Ok(Reply::new(
            StatusCode::ACCEPTED,
            Some(json!({"operationContext": reply_context})),
            &server_call_id,
        ))
    }

    // ------------------------------------------------------------- participants

    pub fn participants(self: &Arc<Self>, id: &str) -> Result<Reply> {
        let mut world = self.world();
        let call = live_call(&mut world, id)?;
        let value: Vec<Value> = call.participants.iter().map(Part::to_wire).collect();
        Ok(Reply::new(
            StatusCode::OK,
            Some(json!({"value": value})),
            &call.server_call_id.clone(),
        ))
    }

    pub fn participant(self: &Arc<Self>, id: &str, raw: &str) -> Result<Reply> {
        let mut world = self.world();
        let call = live_call(&mut world, id)?;
        let part = call
            .participants
            .iter()
            .find(|p| p.id.as_str() == raw)
            .ok_or_else(|| ApiError::not_found(format!("Participant {raw} not found.")))?;
        Ok(Reply::new(
            StatusCode::OK,
            Some(part.to_wire()),
            &call.server_call_id.clone(),
        ))
    }

    pub fn add_participant(self: &Arc<Self>, id: &str, body: &Value) -> Result<Reply> {
        let participant = identifier(body, "participantToAdd")?;
        let timeout = body
            .get("invitationTimeoutInSeconds")
            .and_then(Value::as_u64)
            .unwrap_or(60);
        if timeout > 180 {
            return Err(ApiError::invalid(
                "`invitationTimeoutInSeconds` must be 0..=180",
            ));
        }
        let context = opt_string(body, "operationContext");
        let callback = opt_url(body, "operationCallbackUri")?;
        let mut world = self.world();
        let invitation_id = new_uuid(&mut world.rng);
        let call = connected_call(&mut world, id)?;
        if call.has_participant(&participant) {
            return Err(ApiError::invalid(format!(
                "{participant} is already in the call"
            )));
        }
        call.invitations.insert(
            invitation_id.clone(),
            Invitation {
                participant: participant.clone(),
                context: context.clone(),
                callback: callback.clone(),
            },
        );
        let server_call_id = call.server_call_id.clone();
        let agent = Self::agent(&world, Some(id), &participant);
        let wait = match agent.answer {
            Answer::NoAnswer => Duration::from_secs(timeout),
            _ => Duration::from_secs_f64(agent.ring),
        };
        let (id, invitation) = (id.to_owned(), invitation_id.clone());
        self.after(wait, move |sim, world| {
            let Some(call) = world.calls.get_mut(&id).filter(|c| c.is_live()) else {
                return;
            };
            let Some(inv) = call.invitations.remove(&invitation) else {
                return;
            };
            let data = |res: Value| {
                with_context(
                    inv.context.as_ref(),
                    json!({"participant": inv.participant.to_wire(), "resultInformation": res}),
                )
            };
            if agent.answer == Answer::Accept {
                call.participants.push(Part::new(inv.participant.clone()));
                sim.emit(
                    world,
                    &id,
                    "AddParticipantSucceeded",
                    data(result(200, 0, "")),
                    inv.callback.as_deref(),
                );
                sim.participants_updated(world, &id);
            } else {
                let res = if agent.answer == Answer::Decline {
                    result(486, 5002, "The participant declined the invitation.")
                } else {
                    result(408, 5003, "The participant did not answer in time.")
                };
                sim.emit(
                    world,
                    &id,
                    "AddParticipantFailed",
                    data(res),
                    inv.callback.as_deref(),
                );
            }
        });
        let reply = json!({"participant": participant.to_wire(), "operationContext": opt_string(body, "operationContext"), "invitationId": invitation_id});
        Ok(Reply::new(
            StatusCode::ACCEPTED,
            Some(reply),
            &server_call_id,
        ))
    }

    pub fn cancel_add_participant(self: &Arc<Self>, id: &str, body: &Value) -> Result<Reply> {
        let invitation_id = string(body, "invitationId")?;
        let context = opt_string(body, "operationContext");
        let callback = opt_url(body, "operationCallbackUri")?;
        let mut world = self.world();
        let call = connected_call(&mut world, id)?;
        let server_call_id = call.server_call_id.clone();
        let pending = call.invitations.remove(&invitation_id);
        let (event, res) = match &pending {
            Some(inv) => (
                "CancelAddParticipantSucceeded",
                result(
                    487,
                    5234,
                    &format!(
                        "addParticipants failed for participant {}. Underlying reason: The Call Has Been Cancelled. DiagCode: 487#5234.@",
                        inv.participant
                    ),
                ),
            ),
            None => (
                "CancelAddParticipantFailed",
                result(400, 8523, "The invitation is not pending."),
            ),
        };
        let data = with_context(
            context.as_ref(),
            json!({"invitationId": invitation_id, "resultInformation": res}),
        );
        self.emit(&mut world, id, event, data, callback.as_deref());
        Ok(Reply::new(
            StatusCode::ACCEPTED,
            Some(json!({"invitationId": invitation_id, "operationContext": context})),
            &server_call_id,
        ))
    }

    pub fn remove_participant(self: &Arc<Self>, id: &str, body: &Value) -> Result<Reply> {
        let context = opt_string(body, "operationContext");
        let callback = opt_url(body, "operationCallbackUri")?;
        let mut world = self.world();
        let call = connected_call(&mut world, id)?;
        let who = target_in_call(call, body, "participantToRemove")?;
        call.participants.retain(|p| p.id != who);
        let server_call_id = call.server_call_id.clone();
        let data = with_context(
            context.as_ref(),
            json!({"participant": who.to_wire(), "resultInformation": result(200, 0, "")}),
        );
        self.emit(
            &mut world,
            id,
            "RemoveParticipantSucceeded",
            data,
            callback.as_deref(),
        );
        self.participants_updated(&mut world, id);
        Ok(Reply::new(
            StatusCode::ACCEPTED,
            Some(json!({"operationContext": context})),
            &server_call_id,
        ))
    }

    pub fn mute(self: &Arc<Self>, id: &str, body: &Value) -> Result<Reply> {
        let targets = identifiers(body, "targetParticipants")?;
        if targets.len() != 1 {
            return Err(ApiError::invalid(
                "`targetParticipants` must hold exactly one participant",
            ));
        }
        if targets[0].kind() != "communicationUser" {
            return Err(ApiError::invalid(
                "Only ACS Users are supported as `targetParticipants` of mute",
            ));
        }
        let mut world = self.world();
        let call = connected_call(&mut world, id)?;
        let part = call
            .participants
            .iter_mut()
            .find(|p| p.id == targets[0])
            .ok_or_else(|| ApiError::not_found(format!("Participant {} not found.", targets[0])))?;
        part.muted = true;
        let server_call_id = call.server_call_id.clone();
        self.participants_updated(&mut world, id);
        Ok(Reply::new(
            StatusCode::OK,
            Some(json!({"operationContext": opt_string(body, "operationContext")})),
            &server_call_id,
        ))
    }

    // --------------------------------------------------------------------- media

    pub fn play(self: &Arc<Self>, id: &str, body: &Value) -> Result<Reply> {
        let sources = play_sources(field(body, "playSources")?, "playSources")?;
        let looped = body
            .pointer("/playOptions/loop")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let op = MediaOp {
            id: 0,
            kind: MediaKind::Play { looped },
            sources,
            context: opt_string(body, "operationContext"),
            callback: opt_url(body, "operationCallbackUri")?,
        };
        let mut world = self.world();
        let call = connected_call(&mut world, id)?;
        if let Some(play_to) = body.get("playTo").and_then(Value::as_array) {
            for (i, target) in play_to.iter().enumerate() {
                let target = identifier_value(target, &format!("playTo[{i}]"))?;
                if !call.has_participant(&target) {
                    return Err(ApiError::invalid(format!(
                        "`playTo[{i}]` {target} is not a participant of the call"
                    )));
                }
            }
        }
        let interrupt = body
            .get("interruptCallMediaOperation")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let server_call_id = call.server_call_id.clone();
        self.queue_media(&mut world, id, op, interrupt);
        Ok(Reply::new(StatusCode::ACCEPTED, None, &server_call_id))
    }

    pub fn recognize(self: &Arc<Self>, id: &str, body: &Value) -> Result<Reply> {
        let input_type = string(body, "recognizeInputType")?;
        if !["dtmf", "speech", "speechOrDtmf", "choices"].contains(&input_type.as_str()) {
            return Err(ApiError::invalid(format!(
                "`recognizeInputType` must be dtmf, speech, speechOrDtmf or choices, got {input_type:?}"
            )));
        }
        let options = field(body, "recognizeOptions")?;
        let mut sources = Vec::new();
        if let Some(prompt) = body.get("playPrompt").filter(|v| !v.is_null()) {
            sources.extend(play_sources(&json!([prompt]), "playPrompt")?);
        }
        if let Some(prompts) = body.get("playPrompts").filter(|v| !v.is_null()) {
            sources.extend(play_sources(prompts, "playPrompts")?);
        }
        let choices = options
            .get("choices")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if input_type == "choices" && choices.is_empty() {
            return Err(ApiError::invalid(
                "`recognizeOptions.choices` is required for choices recognition",
            ));
        }
        let spec = RecognizeSpec {
            input_type,
            interrupt_prompt: options
                .get("interruptPrompt")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            initial_silence: seconds(options, "/initialSilenceTimeoutInSeconds", 5),
            max_tones: options
                .pointer("/dtmfOptions/maxTonesToCollect")
                .and_then(Value::as_u64)
                .unwrap_or(1) as usize,
            stop_tones: options
                .pointer("/dtmfOptions/stopTones")
                .and_then(Value::as_array)
                .map(|t| {
                    t.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
            choices,
        };
        let op = MediaOp {
            id: 0,
            kind: MediaKind::Recognize(Box::new(spec)),
            sources,
            context: opt_string(body, "operationContext"),
            callback: opt_url(body, "operationCallbackUri")?,
        };
        let mut world = self.world();
        let call = connected_call(&mut world, id)?;
        target_in_call(call, options, "targetParticipant")?;
        let interrupt = body
            .get("interruptCallMediaOperation")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let server_call_id = call.server_call_id.clone();
        self.queue_media(&mut world, id, op, interrupt);
        Ok(Reply::new(StatusCode::ACCEPTED, None, &server_call_id))
    }

    pub fn cancel_all_media(self: &Arc<Self>, id: &str) -> Result<Reply> {
        let mut world = self.world();
        let call = connected_call(&mut world, id)?;
        let server_call_id = call.server_call_id.clone();
        let ops: Vec<MediaOp> = call
            .media_current
            .take()
            .into_iter()
            .chain(call.media_queue.drain(..))
            .collect();
        for op in ops {
            self.media_canceled(&mut world, id, &op);
        }
        Ok(Reply::new(
            StatusCode::ACCEPTED,
            Some(json!({})),
            &server_call_id,
        ))
    }

    fn media_canceled(&self, world: &mut World, id: &str, op: &MediaOp) {
        let event = match op.kind {
            MediaKind::Play { .. } => "PlayCanceled",
            MediaKind::Recognize(_) => "RecognizeCanceled",
        };
        let data = with_context(
            op.context.as_ref(),
            json!({"resultInformation": result(400, 8508, "Action failed, the operation was canceled.")}),
        );
        self.emit(world, id, event, data, op.callback.as_deref());
    }

    /// Queues a play or recognize; `interrupt` cancels what is playing first.
    fn queue_media(
        self: &Arc<Self>,
        world: &mut World,
        id: &str,
        mut op: MediaOp,
        interrupt: bool,
    ) {
        if !world.calls.contains_key(id) {
            return;
        }
        world.media_ids += 1;
        op.id = world.media_ids;
        if interrupt
            && let Some(current) = world.calls.get_mut(id).and_then(|c| c.media_current.take())
        {
            self.media_canceled(world, id, &current);
        }
        let call = world.calls.get_mut(id).expect("checked");
        call.media_queue.push_back(op);
        if call.media_current.is_none() {
            self.start_next_media(world, id);
        }
    }

    fn start_next_media(self: &Arc<Self>, world: &mut World, id: &str) {
        let Some(call) = world.calls.get_mut(id).filter(|c| c.is_live()) else {
            return;
        };
        let Some(op) = call.media_queue.pop_front() else {
            return;
        };
        call.media_current = Some(op.clone());
        let prompt = media::play_duration(&op.sources);
        if let Some(index) = media::unreachable_file(&op.sources) {
            let event = if matches!(op.kind, MediaKind::Play { .. }) {
                "PlayFailed"
            } else {
                "RecognizeFailed"
            };
            let data = with_context(
                op.context.as_ref(),
                json!({
                    "resultInformation": result(400, 8536, "Action failed, file could not be downloaded."),
                    "failedPlaySourceIndex": index,
                }),
            );
            let id = id.to_owned();
            let op_id = op.id;
            self.after(Duration::from_millis(300), move |sim, world| {
                if sim.finish_media(world, &id, op_id) {
                    sim.emit(world, &id, event, data, op.callback.as_deref());
                    sim.start_next_media(world, &id);
                }
            });
            return;
        }
        match &op.kind {
            MediaKind::Play { looped } => {
                let data = with_context(
                    op.context.as_ref(),
                    json!({"resultInformation": result(200, 0, OK_MESSAGE)}),
                );
                self.emit(
                    world,
                    id,
                    "PlayStarted",
                    data.clone(),
                    op.callback.as_deref(),
                );
                if *looped {
                    return; // plays until canceled
                }
                let id = id.to_owned();
                self.after(prompt, move |sim, world| {
                    if sim.finish_media(world, &id, op.id) {
                        sim.emit(world, &id, "PlayCompleted", data, op.callback.as_deref());
                        sim.start_next_media(world, &id);
                    }
                });
            }
            MediaKind::Recognize(spec) => {
                let input = call
                    .inputs
                    .pop_front()
                    .unwrap_or(Input::Silence { silence: true });
                self.schedule_recognition(id, &op, spec, prompt, input);
            }
        }
    }

    /// Whether `op_id` is still the running media operation; if so, it ends.
    fn finish_media(&self, world: &mut World, id: &str, op_id: u64) -> bool {
        match world.calls.get_mut(id) {
            Some(call)
                if call.is_live()
                    && call.media_current.as_ref().is_some_and(|op| op.id == op_id) =>
            {
                call.media_current = None;
                true
            }
            _ => false,
        }
    }

    /// What the caller does during a recognize, and the event it leads to.
    fn schedule_recognition(
        self: &Arc<Self>,
        id: &str,
        op: &MediaOp,
        spec: &RecognizeSpec,
        prompt: Duration,
        input: Input,
    ) {
        let silence = || {
            (
                prompt + spec.initial_silence,
                "RecognizeFailed",
                json!({"resultInformation": result(400, 8510, "Action failed, initial silence timeout reached.")}),
            )
        };
        let (when, event, mut data) = match input {
            Input::Dtmf {
                dtmf,
                after,
                barge_in,
            } if spec.input_type == "dtmf"
                || spec.input_type == "speechOrDtmf"
                || spec.input_type == "choices" =>
            {
                let start = if barge_in && spec.interrupt_prompt {
                    Duration::ZERO
                } else {
                    prompt
                };
                let when = start + Duration::from_secs_f64(after);
                let mut tones = Vec::new();
                let mut sub_code = 8531;
                for key in dtmf.chars() {
                    let name = media::tone_name(key).unwrap_or("zero").to_owned();
                    if spec.stop_tones.contains(&name) {
                        sub_code = 8514;
                        break;
                    }
                    tones.push(name);
                    if tones.len() >= spec.max_tones {
                        break;
                    }
                }
                if spec.input_type == "choices" {
                    match spec.choices.iter().find(|c| {
                        c.get("tone").and_then(Value::as_str) == tones.first().map(String::as_str)
                    }) {
                        Some(choice) => (
                            when,
                            "RecognizeCompleted",
                            json!({
                                "recognitionType": "choices",
                                "choiceResult": {"label": choice.get("label").cloned().unwrap_or_default()},
                                "resultInformation": result(200, 8533, "Action completed, DTMF option matched."),
                            }),
                        ),
                        None => (
                            when,
                            "RecognizeFailed",
                            json!({"resultInformation": result(400, 8547, "Action failed, DTMF option not matched.")}),
                        ),
                    }
                } else {
                    let message = if sub_code == 8514 {
                        "Action completed, stop tone detected."
                    } else {
                        "Action completed, max digits received."
                    };
                    (
                        when,
                        "RecognizeCompleted",
                        json!({
                            "recognitionType": "dtmf",
                            "dtmfResult": {"tones": tones},
                            "resultInformation": result(200, sub_code, message),
                        }),
                    )
                }
            }
            Input::Say {
                say,
                confidence,
                after,
            } if spec.input_type != "dtmf" => {
                let when = prompt + Duration::from_secs_f64(after);
                if spec.input_type == "choices" {
                    let matched = spec.choices.iter().find(|c| {
                        c.get("phrases")
                            .and_then(Value::as_array)
                            .is_some_and(|phrases| {
                                phrases.iter().any(|p| {
                                    p.as_str().is_some_and(|p| p.eq_ignore_ascii_case(&say))
                                })
                            })
                    });
                    match matched {
                        Some(choice) => (
                            when,
                            "RecognizeCompleted",
                            json!({
                                "recognitionType": "choices",
                                "choiceResult": {"label": choice.get("label").cloned().unwrap_or_default(), "recognizedPhrase": say, "confidence": confidence},
                                "resultInformation": result(200, 8545, "Action completed, speech option matched."),
                            }),
                        ),
                        None => (
                            when,
                            "RecognizeFailed",
                            json!({"resultInformation": result(400, 8547, "Action failed, speech option not matched.")}),
                        ),
                    }
                } else {
                    (
                        when,
                        "RecognizeCompleted",
                        json!({
                            "recognitionType": "speech",
                            "speechResult": {"speech": say, "confidence": confidence},
                            "resultInformation": result(200, 8569, "Action completed, speech recognized."),
                        }),
                    )
                }
            }
            Input::HangUp { hang_up } => {
                let id = id.to_owned();
                self.after(Duration::from_secs_f64(hang_up), move |sim, world| {
                    sim.caller_hangs_up(world, &id)
                });
                return;
            }
            _ => silence(),
        };
        if let Some(context) = &op.context {
            data["operationContext"] = json!(context);
        }
        let (id, op_id, callback) = (id.to_owned(), op.id, op.callback.clone());
        self.after(when, move |sim, world| {
            if sim.finish_media(world, &id, op_id) {
                sim.emit(world, &id, event, data, callback.as_deref());
                sim.start_next_media(world, &id);
            }
        });
    }

    pub fn continuous_dtmf(self: &Arc<Self>, id: &str, body: &Value, start: bool) -> Result<Reply> {
        let context = opt_string(body, "operationContext");
        let callback = opt_url(body, "operationCallbackUri")?;
        let mut world = self.world();
        let call = connected_call(&mut world, id)?;
        target_in_call(call, body, "targetParticipant")?;
        call.continuous_dtmf = start;
        let server_call_id = call.server_call_id.clone();
        if !start {
            let data = with_context(
                context.as_ref(),
                json!({"resultInformation": result(200, 0, OK_MESSAGE)}),
            );
            self.emit(
                &mut world,
                id,
                "ContinuousDtmfRecognitionStopped",
                data,
                callback.as_deref(),
            );
        }
        Ok(Reply::new(StatusCode::OK, None, &server_call_id))
    }

    /// A participant presses keys outside of a recognize (inspection API).
    pub fn press(self: &Arc<Self>, id: &str, keys: &str) -> Result<()> {
        let mut world = self.world();
        let call = connected_call(&mut world, id)?;
        if !call.continuous_dtmf {
            return Err(ApiError::wrong_state(
                "continuous DTMF recognition is not started on this call",
            ));
        }
        for (i, key) in keys.chars().enumerate() {
            let tone = media::tone_name(key)
                .ok_or_else(|| ApiError::invalid(format!("{key:?} is not a DTMF key")))?;
            let data = json!({"tone": tone, "sequenceId": i + 1, "resultInformation": result(200, 0, OK_MESSAGE)});
            self.emit(
                &mut world,
                id,
                "ContinuousDtmfRecognitionToneReceived",
                data,
                None,
            );
        }
        Ok(())
    }

    pub fn send_dtmf(self: &Arc<Self>, id: &str, body: &Value) -> Result<Reply> {
        let tones = field(body, "tones")?
            .as_array()
            .ok_or_else(|| ApiError::invalid("`tones` must be an array"))?
            .clone();
        if tones.is_empty()
            || tones
                .iter()
                .any(|t| t.as_str().and_then(media::tone_key).is_none())
        {
            return Err(ApiError::invalid(
                "`tones` must be a non-empty list of tone names (zero..nine, a..d, pound, asterisk)",
            ));
        }
        let context = opt_string(body, "operationContext");
        let callback = opt_url(body, "operationCallbackUri")?;
        let mut world = self.world();
        let call = connected_call(&mut world, id)?;
        target_in_call(call, body, "targetParticipant")?;
        let server_call_id = call.server_call_id.clone();
        let id = id.to_owned();
        let data = with_context(
            context.as_ref(),
            json!({"resultInformation": result(200, 0, OK_MESSAGE)}),
        );
        self.after(
            Duration::from_millis(100 * tones.len() as u64),
            move |sim, world| {
                sim.emit(
                    world,
                    &id,
                    "SendDtmfTonesCompleted",
                    data,
                    callback.as_deref(),
                );
            },
        );
        Ok(Reply::new(
            StatusCode::ACCEPTED,
            Some(json!({"operationContext": context})),
            &server_call_id,
        ))
    }

    pub fn hold(self: &Arc<Self>, id: &str, body: &Value, hold: bool) -> Result<Reply> {
        if let Some(music) = body.get("playSourceInfo").filter(|v| !v.is_null()) {
            play_sources(&json!([music]), "playSourceInfo")?;
        }
        let mut world = self.world();
        let call = connected_call(&mut world, id)?;
        let target = target_in_call(call, body, "targetParticipant")?;
        if let Some(part) = call.participants.iter_mut().find(|p| p.id == target) {
            part.on_hold = hold;
        }
        let server_call_id = call.server_call_id.clone();
        self.participants_updated(&mut world, id);
        Ok(Reply::new(StatusCode::OK, None, &server_call_id))
    }

    /// Start/stop/update of transcription (`media = false`) or media streaming.
    pub fn streaming(
        self: &Arc<Self>,
        id: &str,
        body: &Value,
        media: bool,
        action: &str,
    ) -> Result<Reply> {
        let context = opt_string(body, "operationContext");
        let callback = opt_url(body, "operationCallbackUri")?;
        let mut world = self.world();
        let call = connected_call(&mut world, id)?;
        let state = if media {
            &mut call.media_streaming
        } else {
            &mut call.transcription
        };
        let (name, status, details) = match (action, *state) {
            ("start", Streaming::Inactive) => {
                *state = Streaming::Active;
                ("Started", "Started", "subscriptionStarted")
            }
            ("stop", Streaming::Active) => {
                *state = Streaming::Inactive;
                ("Stopped", "Stopped", "subscriptionStopped")
            }
            ("update", Streaming::Active) if !media => {
                ("Updated", "Updated", "transcriptionLocaleUpdated")
            }
            (_, current) => {
                let what = if media {
                    "media streaming"
                } else {
                    "transcription"
                };
                return Err(ApiError::wrong_state(format!(
                    "cannot {action} {what}: it is {current:?}"
                )));
            }
        };
        let server_call_id = call.server_call_id.clone();
        let (prefix, update_key, status_key, details_key) = if media {
            (
                "MediaStreaming",
                "mediaStreamingUpdate",
                "mediaStreamingStatus",
                "mediaStreamingStatusDetails",
            )
        } else {
            (
                "Transcription",
                "transcriptionUpdate",
                "transcriptionStatus",
                "transcriptionStatusDetails",
            )
        };
        let status_word = format!(
            "{}{status}",
            if media {
                "mediaStreaming"
            } else {
                "transcription"
            }
        );
        let mut update = json!({status_key: status_word, details_key: details});
        if media {
            update["contentType"] = json!("Audio");
        }
        let data = with_context(
            context.as_ref(),
            json!({update_key: update, "resultInformation": result(200, 0, OK_MESSAGE)}),
        );
        let event = format!("{prefix}{name}");
        let id = id.to_owned();
        self.after(Duration::from_millis(100), move |sim, world| {
            sim.emit(world, &id, &event, data, callback.as_deref())
        });
        Ok(Reply::new(StatusCode::ACCEPTED, None, &server_call_id))
    }

    // ---------------------------------------------------------------- recording

    pub fn start_recording(self: &Arc<Self>, body: &Value) -> Result<Reply> {
        let mut world = self.world();
        let (server_call_id, call_id, callback) = if let Some(id) =
            opt_string(body, "callConnectionId")
        {
            let call = connected_call(&mut world, &id)?;
            (
                call.server_call_id.clone(),
                Some(id),
                call.callback_uri.clone(),
            )
        } else {
            let locator = field(body, "callLocator")?;
            let server_call_id = locator
                .get("serverCallId")
                .and_then(Value::as_str)
                .ok_or_else(|| ApiError::invalid("`callLocator.serverCallId` is required"))?;
            let call = world
                .calls
                .values()
                .find(|c| c.server_call_id == server_call_id && c.is_live())
                .ok_or_else(|| ApiError::not_found(format!("Call {server_call_id} not found.")))?;
            (
                server_call_id.to_owned(),
                Some(call.id.clone()),
                call.callback_uri.clone(),
            )
        };
        let callback = opt_url(body, "recordingStateCallbackUri")?.unwrap_or(callback);
        if world
            .recordings
            .values()
            .any(|r| r.server_call_id == server_call_id)
        {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "8559",
                "A recording is already in progress for this call.",
            ));
        }
        let platform = call_id.clone().unwrap_or_default();
        let recording_id = base64_url(&json!({"PlatformEndpointId": platform, "ResourceSpecificId": new_uuid(&mut world.rng)}).to_string());
        world.recordings.insert(
            recording_id.clone(),
            Recording {
                id: recording_id.clone(),
                server_call_id: server_call_id.clone(),
                active: false,
                callback,
                call_id,
            },
        );
        let pause_on_start = body
            .get("pauseOnStart")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        self.recording_state_changed(&mut world, &recording_id, false);
        if !pause_on_start {
            let rid = recording_id.clone();
            self.after(Duration::from_millis(500), move |sim, world| {
                sim.set_recording(world, &rid, true)
            });
        }
        let reply = json!({"recordingId": recording_id, "recordingState": "inactive", "recordingKind": "azureCommunicationServices"});
        Ok(Reply::new(StatusCode::OK, Some(reply), &server_call_id))
    }

    fn set_recording(&self, world: &mut World, recording_id: &str, active: bool) {
        if let Some(r) = world.recordings.get_mut(recording_id)
            && r.active != active
        {
            r.active = active;
            self.recording_state_changed(world, recording_id, active);
        }
    }

    fn recording_state_changed(&self, world: &mut World, recording_id: &str, active: bool) {
        let Some(r) = world.recordings.get(recording_id).cloned() else {
            return;
        };
        let Some(call_id) = r.call_id.clone() else {
            return;
        };
        let start = if active {
            crate::world::now_rfc3339()
        } else {
            "0001-01-01T00:00:00+00:00".into()
        };
        let data = json!({
            "recordingId": recording_id, "state": if active { "active" } else { "inactive" },
            "startDateTime": start, "recordingKind": "azureCommunicationServices",
            "resultInformation": result(200, 0, ""),
        });
        self.emit(
            world,
            &call_id,
            "RecordingStateChanged",
            data,
            Some(&r.callback),
        );
    }

    pub fn get_recording(self: &Arc<Self>, recording_id: &str) -> Result<Reply> {
        let world = self.world();
        let r = world
            .recordings
            .get(recording_id)
            .ok_or_else(|| ApiError::not_found("Recording not found."))?;
        let reply = json!({"recordingId": r.id, "recordingState": if r.active { "active" } else { "inactive" }, "recordingKind": "azureCommunicationServices"});
        Ok(Reply::new(StatusCode::OK, Some(reply), &r.server_call_id))
    }

    pub fn pause_recording(self: &Arc<Self>, recording_id: &str, active: bool) -> Result<Reply> {
        let mut world = self.world();
        let server_call_id = world
            .recordings
            .get(recording_id)
            .ok_or_else(|| ApiError::not_found("Recording not found."))?
            .server_call_id
            .clone();
        self.set_recording(&mut world, recording_id, active);
        Ok(Reply::new(StatusCode::ACCEPTED, None, &server_call_id))
    }

    pub fn stop_recording(self: &Arc<Self>, recording_id: &str) -> Result<Reply> {
        let mut world = self.world();
        let r = world
            .recordings
            .get(recording_id)
            .cloned()
            .ok_or_else(|| ApiError::not_found("Recording not found."))?;
        self.set_recording(&mut world, recording_id, false);
        world.recordings.remove(recording_id);
        let data = json!({
            "recordingStorageInfo": {"recordingChunks": [{
                "documentId": recording_id, "index": 0, "endReason": "SessionEnded",
                "contentLocation": format!("{}/sim/recordings/{recording_id}/content", self.base_url()),
                "metadataLocation": format!("{}/sim/recordings/{recording_id}/metadata", self.base_url()),
            }]},
            "recordingStartTime": crate::world::now_rfc3339(), "recordingDurationMs": 1000,
            "sessionEndReason": "CallEnded",
        });
        self.publish(
            &mut world,
            "RecordingFileStatusUpdated",
            &format!(
                "/recording/call/{}/serverCallId/{}",
                r.server_call_id, r.server_call_id
            ),
            data,
            &r.server_call_id,
        );
        Ok(Reply::new(StatusCode::NO_CONTENT, None, &r.server_call_id))
    }
}

/// Validates a list of `PlaySource`s.
fn play_sources(value: &Value, name: &str) -> Result<Vec<Value>> {
    let list = value
        .as_array()
        .ok_or_else(|| ApiError::invalid(format!("`{name}` must be an array")))?;
    if list.is_empty() {
        return Err(ApiError::invalid(format!("`{name}` must not be empty")));
    }
    for (i, source) in list.iter().enumerate() {
        let kind = source.get("kind").and_then(Value::as_str).unwrap_or("");
        let ok = match kind {
            "file" => source
                .pointer("/file/uri")
                .and_then(Value::as_str)
                .is_some_and(|u| u.starts_with("http")),
            "text" => source
                .pointer("/text/text")
                .and_then(Value::as_str)
                .is_some_and(|t| !t.is_empty()),
            "ssml" => source
                .pointer("/ssml/ssmlText")
                .and_then(Value::as_str)
                .is_some_and(|t| !t.is_empty()),
            _ => false,
        };
        if !ok {
            return Err(ApiError::invalid(format!(
                "`{name}[{i}]` must be a file (file.uri), text (text.text) or ssml (ssml.ssmlText) source"
            )));
        }
    }
    Ok(list.clone())
}

fn base64_url(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}
