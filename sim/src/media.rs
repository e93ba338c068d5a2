//! Media vocabulary and simulated durations: how long a prompt plays, tone names.

use std::time::Duration;

use serde_json::Value;

/// The service's name for a DTMF key (`1` → `one`, `#` → `pound`).
#[must_use]
pub fn tone_name(key: char) -> Option<&'static str> {
    Some(match key {
        '0' => "zero",
        '1' => "one",
        '2' => "two",
        '3' => "three",
        '4' => "four",
        '5' => "five",
        '6' => "six",
        '7' => "seven",
        '8' => "eight",
        '9' => "nine",
        'A' | 'a' => "a",
        'B' | 'b' => "b",
        'C' | 'c' => "c",
        'D' | 'd' => "d",
        '#' => "pound",
        '*' => "asterisk",
        _ => return None,
    })
}

/// The key of a tone name (`pound` → `#`).
#[must_use]
pub fn tone_key(name: &str) -> Option<char> {
    "0123456789ABCD#*"
        .chars()
        .find(|k| tone_name(*k) == Some(name))
}

/// How long a play source takes to play, in simulated time: text at ~15 characters a
/// second, files and SSML a fixed length.
#[must_use]
pub fn play_duration(sources: &[Value]) -> Duration {
    sources
        .iter()
        .map(|source| match source.get("kind").and_then(Value::as_str) {
            Some("text") => {
                let chars = source
                    .pointer("/text/text")
                    .and_then(Value::as_str)
                    .map_or(0, str::len);
                Duration::from_millis(300 + 65 * chars as u64)
            }
            Some("ssml") => Duration::from_secs(3),
            _ => Duration::from_secs(4),
        })
        .sum()
}

/// A file source the simulator cannot "download": host ending in `.invalid` or a path
/// containing `missing` (so tests can provoke PlayFailed 8536).
#[must_use]
pub fn unreachable_file(sources: &[Value]) -> Option<usize> {
    sources.iter().position(|source| {
        source
            .pointer("/file/uri")
            .and_then(Value::as_str)
            .is_some_and(|uri| uri.contains(".invalid") || uri.contains("missing"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tones_round_trip() {
        for key in "0123456789ABCD#*".chars() {
            assert_eq!(tone_key(tone_name(key).expect("name")), Some(key));
        }
        assert_eq!(tone_name('x'), None);
    }

    #[test]
    fn durations_follow_the_text() {
        let short = play_duration(&[serde_json::json!({"kind":"text","text":{"text":"Hi"}})]);
        let long = play_duration(&[
            serde_json::json!({"kind":"text","text":{"text":"Press 1 for sales, 2 to hear this again, 3 to leave."}}),
        ]);
        assert!(short < long);
        assert_eq!(long, Duration::from_millis(300 + 65 * 52));
    }
}
