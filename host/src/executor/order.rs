//! Putting a call's events back in order. The service may deliver callbacks out of
//! order (retries, several senders). Two orders are knowable, and kept:
//! - after the host answered, nothing is handled before `CallConnected` (or the
//!   answer's failure, or the end of the call);
//! - media operations (play, recognize) run one after another at the service, so the
//!   completion of one is not handled before the completion of an earlier one, known
//!   by the sequence number in their operation-context tags ([`super::tags`]).
//!
//! An event that arrives early is held until what it follows arrives, or at most
//! [`Sequencer::hold`]: the awaited event may have been lost, and a late event is
//! better than none.
//!
//! A completion that never comes at all (lost by the service, or by its delivery)
//! would leave a policy waiting for the caller to hang up. When a media operation the
//! service accepted has had no completion, and the call no event, for the completion
//! timeout, [`Sequencer::overdue`] gives it up: the policy hears `action-failed` with
//! code `outcome-unknown`, as after a restart that caught the operation in flight.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use crate::acs::events::Received;
use crate::contract::{Action, ActionFailed, ActionRequest, Event};

/// Why an event waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// The call has not connected yet.
    Connected,
    /// An earlier media operation has not completed yet.
    EarlierMedia,
}

impl Wait {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Wait::Connected => "before-connected",
            Wait::EarlierMedia => "media-order",
        }
    }
}

/// An event and the sequence number of the action it completes (if tagged).
#[derive(Debug)]
pub struct Tagged {
    pub received: Received,
    pub seq: Option<u64>,
}

/// One call's ordering state. What is serialized is what a call continued
/// elsewhere needs (the held events are still in the call's inbox, not handled, and
/// come back from there).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Sequencer {
    next_seq: u64,
    /// Media operations accepted by the service and not completed.
    media: BTreeSet<u64>,
    /// The service accepted our answer; `CallConnected` has not come.
    awaiting_connect: bool,
    /// What the policy is told of each media operation in `media` if its completion
    /// never comes. (Absent from records saved before it existed.)
    #[serde(default)]
    awaited: BTreeMap<u64, Awaited>,
    /// Media operations whose outcome the policy was told is unknown (their
    /// completion overdue). The policy has moved
    /// on; were their completions to reach it late, it would act on them a second
    /// time (a menu offered again, and again), so they are dropped.
    #[serde(default)]
    given_up: BTreeSet<u64>,
    #[serde(skip)]
    held: VecDeque<Tagged>,
    /// When the oldest held event is released regardless.
    #[serde(skip)]
    deadline: Option<Instant>,
    #[serde(skip)]
    hold: Duration,
    /// How long a call may wait for a media operation's completion with no event.
    #[serde(skip, default = "default_completion_timeout")]
    completion_timeout: Duration,
    /// When the call last had an event, or an operation accepted.
    #[serde(skip, default = "Instant::now")]
    last_activity: Instant,
}

/// A media operation the service accepted, as the policy asked for it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Awaited {
    /// Its position in the decision.
    index: u32,
    /// Its kind (`play`, `recognize`).
    action: String,
    /// The policy's own operation context.
    operation_context: Option<String>,
}

/// Until the executor sets its own (see `ExecutorConfig::completion_timeout`).
fn default_completion_timeout() -> Duration {
    Duration::from_secs(300)
}

impl Sequencer {
    #[must_use]
    pub fn new(hold: Duration) -> Self {
        Self {
            next_seq: 1,
            media: BTreeSet::new(),
            awaiting_connect: false,
            awaited: BTreeMap::new(),
            given_up: BTreeSet::new(),
            held: VecDeque::new(),
            deadline: None,
            hold,
            completion_timeout: default_completion_timeout(),
            last_activity: Instant::now(),
        }
    }

    /// How long early events are held (a sequencer read back from the store has no
    /// setting of its own).
    pub fn set_hold(&mut self, hold: Duration) {
        self.hold = hold;
    }

    /// How long a media operation's completion is waited for; the wait starts now.
    pub fn set_completion_timeout(&mut self, timeout: Duration) {
        self.completion_timeout = timeout;
        self.last_activity = Instant::now();
    }

    /// The sequence number for the next action sent.
    pub fn next_seq(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }

    /// The service accepted action `seq`, which was `request`, at `index` of its
    /// decision (what the policy hears if a media operation's completion never comes).
    pub fn accepted(&mut self, seq: u64, request: &ActionRequest, index: u32) {
        self.last_activity = Instant::now();
        match &request.action {
            Action::Answer => self.awaiting_connect = true,
            action if action.is_media() => {
                self.media.insert(seq);
                self.awaited.insert(
                    seq,
                    Awaited {
                        index,
                        action: request.action.kind().to_owned(),
                        operation_context: request.operation_context.clone(),
                    },
                );
            }
            _ => {}
        }
    }

    /// When the oldest media operation is given up unless an event comes first
    /// (`None`: none is awaited).
    #[must_use]
    pub fn completion_deadline(&self) -> Option<Instant> {
        (!self.media.is_empty()).then(|| self.last_activity + self.completion_timeout)
    }

    /// Gives up the oldest media operation if its completion is overdue at `now`: the
    /// `action-failed` the policy is to hear (`None`: nothing overdue).
    pub fn overdue(&mut self, now: Instant) -> Option<ActionFailed> {
        if self
            .completion_deadline()
            .is_none_or(|deadline| deadline > now)
        {
            return None;
        }
        let seq = self.media.pop_first()?;
        self.given_up.insert(seq);
        self.last_activity = now;
        let awaited = self.awaited.remove(&seq).unwrap_or(Awaited {
            index: 0,
            action: "media".into(),
            operation_context: None,
        });
        Some(ActionFailed {
            index: awaited.index,
            action: awaited.action,
            operation_context: awaited.operation_context,
            status: None,
            code: "outcome-unknown".into(),
            message: format!(
                "the service accepted this action but no completion event came within {} s",
                self.completion_timeout.as_secs_f64()
            ),
        })
    }

    /// Whether `event` completes an operation given up: it is dropped, unhandled.
    pub fn completes_given_up(&mut self, event: &Event, seq: Option<u64>) -> bool {
        seq.is_some_and(|seq| ends_media(event) && self.given_up.remove(&seq))
    }

    /// What `event` waits for, if anything.
    #[must_use]
    pub fn wait(&self, event: &Event, seq: Option<u64>) -> Option<Wait> {
        if self.awaiting_connect
            && !matches!(
                event,
                Event::CallConnected(_) | Event::AnswerFailed(_) | Event::CallDisconnected(_)
            )
        {
            return Some(Wait::Connected);
        }
        if let Some(seq) = seq
            && ends_media(event)
            && self.media.range(..seq).next().is_some()
        {
            return Some(Wait::EarlierMedia);
        }
        None
    }

    /// Records that `event` is being handled now.
    pub fn handling(&mut self, event: &Event, seq: Option<u64>) {
        self.last_activity = Instant::now();
        match event {
            Event::CallConnected(_) | Event::AnswerFailed(_) => self.awaiting_connect = false,
            Event::CallDisconnected(_) => {
                self.awaiting_connect = false;
                self.media.clear();
                self.awaited.clear();
                self.given_up.clear();
            }
            _ => {}
        }
        if let Some(seq) = seq
            && ends_media(event)
        {
            self.media.remove(&seq);
            self.awaited.remove(&seq);
        }
    }

    /// Holds an early event.
    pub fn hold(&mut self, tagged: Tagged) {
        if self.held.is_empty() {
            self.deadline = Some(Instant::now() + self.hold);
        }
        self.held.push_back(tagged);
    }

    /// When held events are released regardless (`None`: nothing held).
    #[must_use]
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// The first held event that no longer waits.
    pub fn next_ready(&mut self) -> Option<Tagged> {
        let index = self
            .held
            .iter()
            .position(|t| self.wait(&t.received.event, t.seq).is_none())?;
        let ready = self.held.remove(index);
        self.restart_deadline();
        ready
    }

    /// The hold expired: what was awaited is presumed lost. Everything held is
    /// released, in arrival order.
    pub fn expire(&mut self) -> Vec<Tagged> {
        self.awaiting_connect = false;
        if let Some(newest) = self.held.iter().filter_map(|t| t.seq).max() {
            self.media = self.media.split_off(&newest);
            self.awaited = self.awaited.split_off(&newest);
        }
        self.deadline = None;
        self.held.drain(..).collect()
    }

    /// Everything still held (the call is closing).
    pub fn drain(&mut self) -> Vec<Tagged> {
        self.deadline = None;
        self.held.drain(..).collect()
    }

    fn restart_deadline(&mut self) {
        if self.held.is_empty() {
            self.deadline = None;
        }
    }
}

/// Whether the event ends a media operation.
fn ends_media(event: &Event) -> bool {
    matches!(
        event,
        Event::PlayCompleted(_)
            | Event::PlayFailed(_)
            | Event::PlayCanceled(_)
            | Event::RecognizeCompleted(_)
            | Event::RecognizeFailed(_)
            | Event::RecognizeCanceled(_)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::{OperationInfo, Play, RecognizeCompleted};

    fn info() -> OperationInfo {
        OperationInfo {
            operation_context: None,
            result: None,
        }
    }

    fn tagged(event: Event, seq: Option<u64>) -> Tagged {
        Tagged {
            received: Received {
                id: format!("{}-{seq:?}", event.name()),
                event_type: event.name().to_owned(),
                call_connection_id: None,
                server_call_id: None,
                correlation_id: None,
                time: None,
                event,
                received_at: Instant::now(),
            },
            seq,
        }
    }

    fn play() -> ActionRequest {
        request(Action::Play(Play {
            sources: vec![],
            play_to: vec![],
            loop_: false,
            interrupt: false,
        }))
    }

    fn request(action: Action) -> ActionRequest {
        ActionRequest {
            action,
            operation_context: None,
            operation_callback_uri: None,
        }
    }

    #[test]
    fn nothing_before_connected_once_answered() {
        let mut s = Sequencer::new(Duration::from_secs(1));
        let seq = s.next_seq();
        assert_eq!(s.wait(&Event::PlayCompleted(info()), None), None);
        s.accepted(seq, &request(Action::Answer), 0);
        let early = Event::ParticipantsUpdated(crate::contract::ParticipantsUpdated {
            sequence_number: 1,
            participants: vec![],
        });
        assert_eq!(s.wait(&early, None), Some(Wait::Connected));
        assert_eq!(s.wait(&Event::CallConnected(info()), Some(seq)), None);
        s.hold(tagged(early, None));
        assert!(s.next_ready().is_none(), "still waits for CallConnected");
        s.handling(&Event::CallConnected(info()), Some(seq));
        assert!(s.next_ready().is_some());
        assert_eq!(s.deadline(), None);
    }

    #[test]
    fn media_completions_in_the_order_the_operations_were_sent() {
        let mut s = Sequencer::new(Duration::from_secs(1));
        let (first, second) = (s.next_seq(), s.next_seq());
        s.accepted(first, &play(), 0);
        s.accepted(second, &play(), 1);
        let done = |seq| (Event::PlayCompleted(info()), Some(seq));
        let (event, seq) = done(second);
        assert_eq!(s.wait(&event, seq), Some(Wait::EarlierMedia));
        s.hold(tagged(event, seq));
        assert!(s.deadline().is_some());
        let (event, seq) = done(first);
        assert_eq!(s.wait(&event, seq), None);
        s.handling(&event, seq);
        let released = s.next_ready().expect("the second completion is ready");
        assert_eq!(released.seq, Some(second));
        // Events that end no media operation never wait for one.
        let recognized = Event::RecognizeCompleted(RecognizeCompleted {
            info: info(),
            recognized: crate::contract::Recognized::Dtmf(vec![]),
        });
        assert_eq!(s.wait(&recognized, None), None);
    }

    #[test]
    fn a_completion_that_never_comes_is_given_up_after_the_timeout() {
        let mut s = Sequencer::new(Duration::from_secs(1));
        s.set_completion_timeout(Duration::from_millis(50));
        assert_eq!(s.completion_deadline(), None, "nothing awaited");
        let (first, second) = (s.next_seq(), s.next_seq());
        for (seq, index) in [(first, 0), (second, 1)] {
            let play = ActionRequest {
                operation_context: Some(format!("p{index}")),
                ..play()
            };
            s.accepted(seq, &play, index);
        }
        let deadline = s.completion_deadline().expect("awaited");
        assert_eq!(s.overdue(deadline - Duration::from_millis(1)), None);
        let failed = s.overdue(deadline).expect("overdue");
        assert_eq!(
            (
                failed.index,
                failed.code.as_str(),
                failed.operation_context.as_deref()
            ),
            (0, "outcome-unknown", Some("p0"))
        );
        // The next one gets its own full wait, and an event resets it.
        let next = s.completion_deadline().expect("the second is awaited");
        assert!(next > deadline);
        s.handling(&Event::PlayCompleted(info()), Some(second));
        assert_eq!(s.completion_deadline(), None, "nothing left to wait for");
        assert_eq!(s.overdue(next + Duration::from_secs(1)), None);
    }

    #[test]
    fn the_completion_of_an_operation_given_up_comes_too_late() {
        let mut s = Sequencer::new(Duration::from_secs(1));
        s.set_completion_timeout(Duration::ZERO);
        let (overdue, answered) = (s.next_seq(), s.next_seq());
        s.accepted(overdue, &play(), 0);
        assert!(s.overdue(Instant::now()).is_some());
        s.accepted(answered, &play(), 0);
        let done = Event::PlayCompleted(info());
        assert!(!s.completes_given_up(&Event::PlayStarted(info()), Some(overdue)));
        assert!(s.completes_given_up(&done, Some(overdue)));
        assert!(
            !s.completes_given_up(&done, Some(overdue)),
            "dropped once: a second delivery is the dedupe's"
        );
        assert!(!s.completes_given_up(&done, Some(answered)));
        assert!(!s.completes_given_up(&done, None));
    }

    #[test]
    fn expiry_releases_everything_and_forgets_what_was_lost() {
        let mut s = Sequencer::new(Duration::ZERO);
        let (lost, later) = (s.next_seq(), s.next_seq());
        s.accepted(lost, &play(), 0);
        s.accepted(later, &play(), 1);
        s.hold(tagged(Event::PlayCompleted(info()), Some(later)));
        let released = s.expire();
        assert_eq!(released.len(), 1);
        for t in &released {
            s.handling(&t.received.event, t.seq);
        }
        let next = s.next_seq();
        s.accepted(next, &play(), 0);
        assert_eq!(
            s.wait(&Event::PlayCompleted(info()), Some(next)),
            None,
            "the lost operation no longer holds anything back"
        );
    }
}
