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

use std::collections::{BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use crate::acs::events::Received;
use crate::contract::{Action, Event};

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
    #[serde(skip)]
    held: VecDeque<Tagged>,
    /// When the oldest held event is released regardless.
    #[serde(skip)]
    deadline: Option<Instant>,
    #[serde(skip)]
    hold: Duration,
}

impl Sequencer {
    #[must_use]
    pub fn new(hold: Duration) -> Self {
        Self {
            next_seq: 1,
            media: BTreeSet::new(),
            awaiting_connect: false,
            held: VecDeque::new(),
            deadline: None,
            hold,
        }
    }

    /// How long early events are held (a sequencer read back from the store has no
    /// setting of its own).
    pub fn set_hold(&mut self, hold: Duration) {
        self.hold = hold;
    }

    /// The sequence number for the next action sent.
    pub fn next_seq(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }

    /// The service accepted action `seq`.
    pub fn accepted(&mut self, seq: u64, action: &Action) {
        match action {
            Action::Answer => self.awaiting_connect = true,
            Action::Play(_) | Action::Recognize(_) => {
                self.media.insert(seq);
            }
            _ => {}
        }
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
        match event {
            Event::CallConnected(_) | Event::AnswerFailed(_) => self.awaiting_connect = false,
            Event::CallDisconnected(_) => {
                self.awaiting_connect = false;
                self.media.clear();
            }
            _ => {}
        }
        if let Some(seq) = seq
            && ends_media(event)
        {
            self.media.remove(&seq);
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

    fn play() -> Action {
        Action::Play(Play {
            sources: vec![],
            play_to: vec![],
            loop_: false,
            interrupt: false,
        })
    }

    #[test]
    fn nothing_before_connected_once_answered() {
        let mut s = Sequencer::new(Duration::from_secs(1));
        let seq = s.next_seq();
        assert_eq!(s.wait(&Event::PlayCompleted(info()), None), None);
        s.accepted(seq, &Action::Answer);
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
        s.accepted(first, &play());
        s.accepted(second, &play());
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
    fn expiry_releases_everything_and_forgets_what_was_lost() {
        let mut s = Sequencer::new(Duration::ZERO);
        let (lost, later) = (s.next_seq(), s.next_seq());
        s.accepted(lost, &play());
        s.accepted(later, &play());
        s.hold(tagged(Event::PlayCompleted(info()), Some(later)));
        let released = s.expire();
        assert_eq!(released.len(), 1);
        for t in &released {
            s.handling(&t.received.event, t.seq);
        }
        let next = s.next_seq();
        s.accepted(next, &play());
        assert_eq!(
            s.wait(&Event::PlayCompleted(info()), Some(next)),
            None,
            "the lost operation no longer holds anything back"
        );
    }
}
