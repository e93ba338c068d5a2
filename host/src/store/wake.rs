//! Wake-ups between replicas on PostgreSQL: a replica that put an event in the inbox
//! of a call another replica owns tells the owner with `NOTIFY` on the owner's
//! channel, handing it the event too when it fits (the owner then need not read it
//! back). Wake-ups are best effort: one lost with the database, or sent to an owner
//! that just stopped, is found by the owner's straggler sweep.
//!
//! Wake-ups are sent in batches, by one task per store: while one `NOTIFY` is on its
//! way, the next ones gather, and go in one statement, several events per
//! notification. Each notification costs PostgreSQL more than an insert: it takes a
//! database-wide lock through its commit and wakes *every* listening backend (each
//! reads the shared queue and drops what is not on its channel). At low load a
//! wake-up goes alone and at once; under load the batches grow, and the cost per
//! event falls.

use tokio::sync::mpsc;

use super::Result;

/// PostgreSQL refuses notification payloads of 8000 bytes or more.
pub const MAX_NOTIFY_PAYLOAD: usize = 7_900;

/// Notifications per statement at most (two parameters each).
const MAX_PER_STATEMENT: usize = 32;

/// A wake-up as the owner receives it: the call, the event if it came along, and the
/// ids of the call's events that were waiting in the inbox before it (apart by commas,
/// [`super::live::waiting_ids`]): the owner takes the event alone only if it has
/// taken those, and reads the inbox otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WakeUp<'a> {
    pub token: &'a str,
    pub event: Option<&'a str>,
    pub after: &'a str,
}

impl<'a> WakeUp<'a> {
    /// This wake-up's entry in a notification: `TOKEN LEN[ AFTER]\nEVENT` (`LEN` bytes
    /// of event, 0 when it does not come along; ` AFTER` only when some were waiting).
    fn encode(&self, into: &mut String) {
        let event = self.event.unwrap_or_default();
        into.push_str(self.token);
        into.push(' ');
        into.push_str(&event.len().to_string());
        if !self.after.is_empty() {
            into.push(' ');
            into.push_str(self.after);
        }
        into.push('\n');
        into.push_str(event);
    }

    fn encoded_len(&self) -> usize {
        let event = self.event.map_or(0, str::len);
        let after = if self.after.is_empty() {
            0
        } else {
            1 + self.after.len()
        };
        self.token.len() + 2 + event.to_string().len() + event + after
    }

    /// The wake-ups in a notification's payload, in order; an entry that does not
    /// parse ends the list (a sender of another version: its owner's sweep finds
    /// the events).
    pub fn parse_all(payload: &'a str) -> Vec<Self> {
        let mut wakes = Vec::new();
        let mut rest = payload;
        while !rest.is_empty() {
            let Some((head, tail)) = rest.split_once('\n') else {
                break;
            };
            let mut fields = head.splitn(3, ' ');
            let (Some(token), Some(len)) = (fields.next(), fields.next()) else {
                break;
            };
            let Ok(len) = len.parse::<usize>() else {
                break;
            };
            let (Some(event), Some(next)) = (tail.get(..len), tail.get(len..)) else {
                break;
            };
            wakes.push(Self {
                token,
                event: (len > 0).then_some(event),
                after: fields.next().unwrap_or_default(),
            });
            rest = next;
        }
        wakes
    }
}

/// The `LISTEN` channel that wakes replica `owner` (a valid replica name, see
/// [`super::live::check_replica`]).
#[must_use]
pub fn wake_channel(owner: &str) -> String {
    format!("switchboard_wake_{}", owner.replace('-', "_"))
}

/// One wake-up to send: to replica `owner`, for the call `token`.
#[derive(Debug)]
struct Pending {
    owner: String,
    token: String,
    event: Option<String>,
    after: String,
}

/// Sends wake-ups in batches (one task, stopped when the last store clone goes).
#[derive(Debug, Clone)]
pub struct Waker {
    tx: mpsc::UnboundedSender<Pending>,
}

impl Waker {
    /// Starts the sending task on `pool` (a PostgreSQL pool).
    #[must_use]
    pub fn start(pool: sqlx::AnyPool) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(send_batches(pool, rx));
        Self { tx }
    }

    /// Queues a wake-up for replica `owner`, with the event when it fits (and `after`
    /// frames: event ids are the service's GUIDs; one with a space or a line break
    /// sends the wake-up without the event, and the owner reads the inbox).
    pub fn wake(&self, owner: &str, token: &str, event: Option<&str>, after: &str) {
        let WakeUp { event, after, .. } = fitted(WakeUp {
            token,
            event,
            after,
        });
        // The task ends only with the last sender: it is alive.
        let _ = self.tx.send(Pending {
            owner: owner.to_owned(),
            token: token.to_owned(),
            event: event.map(str::to_owned),
            after: after.to_owned(),
        });
    }
}

/// The wake-up as it can go: with its event and the waiting ids if they fit in a
/// notification and frame (no space or line break in the ids), else without either
/// (the owner reads the inbox).
fn fitted(wake: WakeUp<'_>) -> WakeUp<'_> {
    if wake.after.contains([' ', '\n']) || wake.encoded_len() >= MAX_NOTIFY_PAYLOAD {
        WakeUp {
            event: None,
            after: "",
            ..wake
        }
    } else {
        wake
    }
}

async fn send_batches(pool: sqlx::AnyPool, mut rx: mpsc::UnboundedReceiver<Pending>) {
    let mut batch = Vec::new();
    while rx.recv_many(&mut batch, 1024).await > 0 {
        let notifications = pack(&batch);
        batch.clear();
        for chunk in notifications.chunks(MAX_PER_STATEMENT) {
            if let Err(e) = send(&pool, chunk).await {
                tracing::warn!(error = %e, notifications = chunk.len(), "store.wake: owners not woken (their sweeps will find the events)");
            }
        }
    }
}

/// `(channel, payload)` per notification: the wake-ups for one owner, in order,
/// packed into as few payloads as fit.
fn pack(batch: &[Pending]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut owners: Vec<&str> = batch.iter().map(|p| p.owner.as_str()).collect();
    owners.sort_unstable();
    owners.dedup();
    for owner in owners {
        let channel = wake_channel(owner);
        let mut payload = String::new();
        for pending in batch.iter().filter(|p| p.owner == owner) {
            let wake = WakeUp {
                token: &pending.token,
                event: pending.event.as_deref(),
                after: &pending.after,
            };
            if !payload.is_empty() && payload.len() + wake.encoded_len() >= MAX_NOTIFY_PAYLOAD {
                out.push((channel.clone(), std::mem::take(&mut payload)));
            }
            wake.encode(&mut payload);
        }
        out.push((channel, payload));
    }
    out
}

async fn send(pool: &sqlx::AnyPool, notifications: &[(String, String)]) -> Result<()> {
    // A wake-up need not outlive the database: not worth a WAL flush (made under
    // NOTIFY's database-wide lock).
    let mut sql = String::from("SELECT set_config('synchronous_commit', 'off', true)");
    for i in 0..notifications.len() {
        sql.push_str(&format!(", pg_notify(${}, ${})", 2 * i + 1, 2 * i + 2));
    }
    let mut query = sqlx::query(&sql);
    for (channel, payload) in notifications {
        query = query.bind(channel.as_str()).bind(payload.as_str());
    }
    query.execute(pool).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(owner: &str, token: &str, event: Option<&str>) -> Pending {
        Pending {
            owner: owner.into(),
            token: token.into(),
            event: event.map(Into::into),
            after: String::new(),
        }
    }

    #[test]
    fn wake_ups_for_one_owner_share_a_notification_and_come_back_in_order() {
        let batch = [
            pending("r1", "a", Some(r#"{"x":"1 2\n3"}"#)),
            pending("r2", "b", None),
            pending("r1", "c", None),
            Pending {
                after: "e1,e2".into(),
                ..pending("r1", "a", Some("{}"))
            },
        ];
        let packed = pack(&batch);
        assert_eq!(packed.len(), 2);
        assert_eq!(packed[0].0, "switchboard_wake_r1");
        assert_eq!(
            WakeUp::parse_all(&packed[0].1),
            [
                WakeUp {
                    token: "a",
                    event: Some(r#"{"x":"1 2\n3"}"#),
                    after: ""
                },
                WakeUp {
                    token: "c",
                    event: None,
                    after: ""
                },
                WakeUp {
                    token: "a",
                    event: Some("{}"),
                    after: "e1,e2"
                },
            ]
        );
        assert_eq!(
            WakeUp::parse_all(&packed[1].1),
            [WakeUp {
                token: "b",
                event: None,
                after: ""
            }]
        );
    }

    #[test]
    fn a_batch_too_big_for_one_payload_is_split_and_nothing_is_lost() {
        let event = "e".repeat(3000);
        let batch: Vec<_> = (0..7)
            .map(|i| pending("r-1", &format!("t{i}"), Some(&event)))
            .collect();
        let packed = pack(&batch);
        assert!(packed.len() >= 3, "{} notifications", packed.len());
        let mut tokens = Vec::new();
        for (channel, payload) in &packed {
            assert_eq!(channel, "switchboard_wake_r_1");
            assert!(payload.len() < MAX_NOTIFY_PAYLOAD, "{}", payload.len());
            for wake in WakeUp::parse_all(payload) {
                assert_eq!(wake.event, Some(event.as_str()));
                tokens.push(wake.token.to_owned());
            }
        }
        assert_eq!(tokens, (0..7).map(|i| format!("t{i}")).collect::<Vec<_>>());
    }

    #[test]
    fn a_wake_up_goes_without_its_event_when_it_would_not_frame_or_fit() {
        let wake = |event, after| WakeUp {
            token: "t",
            event: Some(event),
            after,
        };
        let alone = |w: WakeUp<'_>| (w.event.is_none(), w.after.is_empty());
        assert_eq!(alone(fitted(wake("{}", "e1,e2"))), (false, false));
        assert_eq!(alone(fitted(wake("{}", "e 1"))), (true, true));
        assert_eq!(alone(fitted(wake("{}", "e\n1"))), (true, true));
        let big = "x".repeat(MAX_NOTIFY_PAYLOAD);
        assert_eq!(alone(fitted(wake(&big, ""))), (true, true));
    }

    #[test]
    fn a_payload_that_does_not_parse_yields_what_came_before_it() {
        assert_eq!(
            WakeUp::parse_all("a 2\n{}b x\n"),
            [WakeUp {
                token: "a",
                event: Some("{}"),
                after: ""
            }]
        );
        assert!(WakeUp::parse_all("a 99\n{}").is_empty());
        assert!(WakeUp::parse_all("token-only-old-format").is_empty());
    }
}
