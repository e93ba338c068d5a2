//! Plugin author tooling: `switchboard plugin run` (a plugin run locally on events as
//! the service sends them, under the production limits, with what each invocation
//! decided and used) and `switchboard plugin replay` (a recorded call's events run
//! through another version, decisions compared: how a tenant checks a version before
//! activating it).
//!
//! Events come as the service's JSON (a CloudEvents callback body, an Event Grid
//! event, or an array of them, in either envelope): copy them from the simulator's
//! timeline, from ACS documentation or from a log. Several events run in order, each
//! seeing the state the plugin returned for the previous one, and a call snapshot
//! that follows them (ids, connected, disconnected), as the host would keep it.

use crate::acs::events::{ParseError, Received, parse_events};
use crate::contract::{
    ActionRequest, CallSnapshot, CallState, CommunicationIdentifier, ConfigEntry, Context,
    Decision, Event, Participant,
};
use crate::runtime::{Invocation, Limits, Outcome, Plugin};
use crate::store::calls::Recorded;

/// Why events could not be read.
#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    #[error("{0}")]
    Parse(#[from] ParseError),
    #[error("there is no event in the file")]
    Empty,
}

/// The events of a file, in order.
pub fn read_events(json: &[u8]) -> Result<Vec<Received>, EventsError> {
    let events = parse_events(json)?;
    if events.is_empty() {
        return Err(EventsError::Empty);
    }
    Ok(events)
}

/// One event run: what went in (the context as the plugin saw it) and what came out.
#[derive(Debug)]
pub struct Step {
    pub event: Event,
    pub context: Context,
    pub invocation: Invocation,
}

/// Runs `events` in order through `plugin`, as one call of tenant `local` with
/// `config`, starting from `state`.
pub fn run_events(
    plugin: &Plugin,
    events: &[Received],
    config: Vec<ConfigEntry>,
    state: Vec<u8>,
    limits: &Limits,
) -> Vec<Step> {
    let mut context = Context {
        tenant_id: "local".into(),
        call: CallSnapshot {
            call_connection_id: None,
            server_call_id: String::new(),
            correlation_id: String::new(),
            state: CallState::Unknown,
            from: CommunicationIdentifier::Raw(String::new()),
            to: CommunicationIdentifier::Raw(String::new()),
            participants: Vec::new(),
        },
        config,
        state,
    };
    let mut steps = Vec::with_capacity(events.len());
    for received in events {
        follow(&mut context.call, received);
        let invocation = plugin.invoke(&received.event, &context, limits);
        if let Outcome::Decision(decision) = &invocation.outcome
            && let Some(state) = &decision.state
        {
            context.state.clone_from(state);
        }
        steps.push(Step {
            event: received.event.clone(),
            context: context.clone(),
            invocation,
        });
    }
    steps
}

/// What the host's snapshot of a call learns from an event.
fn follow(call: &mut CallSnapshot, received: &Received) {
    if let Some(id) = &received.call_connection_id {
        call.call_connection_id = Some(id.clone());
    }
    if let Some(id) = &received.server_call_id {
        call.server_call_id.clone_from(id);
    }
    if let Some(id) = &received.correlation_id {
        call.correlation_id.clone_from(id);
    }
    match &received.event {
        Event::IncomingCall(incoming) => {
            call.from = incoming.from.clone();
            call.to = incoming.to.clone();
            call.server_call_id.clone_from(&incoming.server_call_id);
            call.correlation_id.clone_from(&incoming.correlation_id);
            call.state = CallState::Connecting;
            call.participants = vec![Participant {
                identifier: incoming.from.clone(),
                is_muted: false,
                is_on_hold: false,
            }];
        }
        Event::CallConnected(_) => call.state = CallState::Connected,
        Event::CallTransferAccepted(_) => call.state = CallState::TransferAccepted,
        Event::CallDisconnected(_) => call.state = CallState::Disconnected,
        Event::ParticipantsUpdated(update) => call.participants.clone_from(&update.participants),
        _ => {}
    }
}

/// `key=value` as a config entry.
pub fn config_entry(text: &str) -> Result<ConfigEntry, String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok(ConfigEntry {
            key: key.to_owned(),
            value: value.to_owned(),
        }),
        _ => Err(format!("`{text}` is not KEY=VALUE")),
    }
}

/// One recorded event run again: what the recorded version decided, and what the
/// plugin under test does.
#[derive(Debug)]
pub struct Replayed {
    pub event: Event,
    /// The recorded decision (`None`: the recorded version failed).
    pub before: Option<Vec<ActionRequest>>,
    pub after: Invocation,
}

impl Replayed {
    /// Whether the plugin under test decided the same actions (or failed as well).
    #[must_use]
    pub fn same(&self) -> bool {
        match (&self.before, &self.after.outcome) {
            (Some(before), Outcome::Decision(after)) => *before == after.actions,
            (None, outcome) => !matches!(outcome, Outcome::Decision(_)),
            (Some(_), _) => false,
        }
    }
}

/// Runs a recorded call's events through `plugin`: each with the context recorded,
/// but the per-call state the plugin under test returned for the previous event
/// (starting from the state recorded at the first), as if it had handled the call.
pub fn replay(plugin: &Plugin, recorded: &[Recorded], limits: &Limits) -> Vec<Replayed> {
    let mut state = recorded.first().map(|r| r.context.state.clone());
    recorded
        .iter()
        .map(|r| {
            let mut context = r.context.clone();
            if let Some(state) = &state {
                context.state.clone_from(state);
            }
            let after = plugin.invoke(&r.event, &context, limits);
            if let Outcome::Decision(Decision {
                state: Some(next), ..
            }) = &after.outcome
            {
                state = Some(next.clone());
            }
            Replayed {
                event: r.event.clone(),
                before: r.decision.clone(),
                after,
            }
        })
        .collect()
}

/// The languages `switchboard plugin new` scaffolds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    Rust,
    Python,
    Js,
}

impl Lang {
    pub const ALL: [Lang; 3] = [Lang::Rust, Lang::Python, Lang::Js];
}

/// A template's files: (path in the project, text with `{{name}}`, `{{crate}}` and
/// `{{plugins}}` to fill in).
fn template(lang: Lang) -> &'static [(&'static str, &'static str)] {
    macro_rules! files {
        ($dir:literal: $($path:literal),+) => {
            &[$(($path, include_str!(concat!("../../plugins/templates/", $dir, "/", $path)))),+]
        };
    }
    match lang {
        Lang::Rust => files!("rust": "Cargo.toml", "Makefile", "src/lib.rs", ".cargo/config.toml"),
        Lang::Python => files!("python": "Makefile", "app.py", "test_app.py"),
        Lang::Js => files!("js": "Makefile", "policy.js", "test/policy.test.js"),
    }
}

/// Why a project could not be created.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    #[error(
        "`{0}` is not a plugin name: use lowercase letters, digits, `-` and `_`, starting with a letter"
    )]
    Name(String),
    #[error("{0} exists already: choose another name or directory")]
    Exists(std::path::PathBuf),
    #[error("the SDKs are not at {0} (a Switchboard checkout's `plugins/`): pass --sdk PATH")]
    NoSdk(std::path::PathBuf),
    #[error("writing {path}: {source}")]
    Write {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

/// Creates the project `dir/name` from the `lang` template, its SDK taken from
/// `plugins` (a checkout's `plugins/` directory); the files written.
pub fn scaffold(
    lang: Lang,
    name: &str,
    dir: &std::path::Path,
    plugins: &std::path::Path,
) -> Result<Vec<std::path::PathBuf>, ScaffoldError> {
    let valid = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !valid {
        return Err(ScaffoldError::Name(name.to_owned()));
    }
    let sdk = match lang {
        Lang::Rust => "rust/sdk",
        Lang::Python => "python/switchboard_policy",
        Lang::Js => "js/sdk",
    };
    let plugins = plugins
        .canonicalize()
        .ok()
        .filter(|p| p.join(sdk).is_dir())
        .ok_or_else(|| ScaffoldError::NoSdk(plugins.to_owned()))?;
    let root = dir.join(name);
    if root.exists() {
        return Err(ScaffoldError::Exists(root));
    }
    let mut written = Vec::new();
    for (path, text) in template(lang) {
        let text = text
            .replace("{{name}}", name)
            .replace("{{crate}}", &name.replace('-', "_"))
            .replace("{{plugins}}", &plugins.display().to_string());
        let path = root.join(path);
        let write = |path: &std::path::Path| -> std::io::Result<()> {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(path, text)
        };
        write(&path).map_err(|source| ScaffoldError::Write {
            path: path.clone(),
            source,
        })?;
        written.push(path);
    }
    Ok(written)
}
