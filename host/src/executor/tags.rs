//! Operation-context tagging. Every action the host sends carries an operation context
//! of its own, `sb1:<seq>[:<the plugin's context>]`, so the completion events the
//! service echoes it in map back to the action that caused them: the host orders them
//! by `seq` and gives the plugin its own context back, as if no tag were there.

use crate::contract::{Event, operation_info_mut};

const PREFIX: &str = "sb1:";

/// The operation context sent to the service for the host's action `seq`.
#[must_use]
pub fn tag(seq: u64, plugin_context: Option<&str>) -> String {
    match plugin_context {
        Some(context) => format!("{PREFIX}{seq}:{context}"),
        None => format!("{PREFIX}{seq}"),
    }
}

/// A tag's `seq` and the plugin's context in it; `None` if `context` is not a tag.
#[must_use]
pub fn parse(context: &str) -> Option<(u64, Option<&str>)> {
    let rest = context.strip_prefix(PREFIX)?;
    let (seq, plugin_context) = match rest.split_once(':') {
        Some((seq, plugin_context)) => (seq, Some(plugin_context)),
        None => (rest, None),
    };
    Some((seq.parse().ok()?, plugin_context))
}

/// Restores the plugin's operation context in `event` and returns the tag's `seq`;
/// `None` (and the event unchanged) when it carries no tag of ours.
pub fn untag(event: &mut Event) -> Option<u64> {
    let info = operation_info_mut(event)?;
    let (seq, plugin_context) = parse(info.operation_context.as_deref()?)?;
    info.operation_context = plugin_context.map(str::to_owned);
    Some(seq)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::OperationInfo;

    fn completed(context: Option<&str>) -> Event {
        Event::PlayCompleted(OperationInfo {
            operation_context: context.map(str::to_owned),
            result: None,
        })
    }

    fn context(event: &Event) -> Option<&str> {
        crate::contract::operation_info(event)?
            .operation_context
            .as_deref()
    }

    #[test]
    fn a_tag_round_trips_with_and_without_the_plugins_context() {
        for plugin in [Some("menu"), Some(""), Some("a:b:c"), None] {
            let mut event = completed(Some(&tag(42, plugin)));
            assert_eq!(untag(&mut event), Some(42), "{plugin:?}");
            assert_eq!(context(&event), plugin);
        }
    }

    #[test]
    fn contexts_that_are_not_ours_pass_through() {
        for foreign in [Some("menu"), Some("sb1:x:menu"), Some("sb2:1"), None] {
            let mut event = completed(foreign);
            assert_eq!(untag(&mut event), None);
            assert_eq!(context(&event), foreign);
        }
        let mut no_info = Event::Unknown(crate::contract::UnknownEvent {
            event_type: "X".into(),
            json: "{}".into(),
        });
        assert_eq!(untag(&mut no_info), None);
    }
}
