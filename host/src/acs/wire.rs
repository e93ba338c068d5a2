//! Contract values in the service's JSON shapes, both ways: identifiers and play
//! sources out; identifiers and result information in.

use serde_json::{Value, json};

use crate::contract::{
    CommunicationIdentifier, DtmfTone, PlaySource, ResultInformation, TeamsCloud, TeamsUser,
};

/// `CommunicationIdentifierModel`, as requests carry it: raw id plus the sub-object.
#[must_use]
pub fn identifier(id: &CommunicationIdentifier) -> Value {
    match id {
        CommunicationIdentifier::AcsUser(user) => {
            json!({"rawId": user, "communicationUser": {"id": user}})
        }
        CommunicationIdentifier::PhoneNumber(number) => {
            json!({"rawId": format!("4:{number}"), "phoneNumber": {"value": number}})
        }
        CommunicationIdentifier::TeamsUser(user) => {
            let (prefix, cloud) = match user.cloud {
                TeamsCloud::Public => ("8:orgid:", "public"),
                TeamsCloud::Dod => ("8:dod:", "dod"),
                TeamsCloud::Gcch => ("8:gcch:", "gcch"),
            };
            let prefix = if user.is_anonymous {
                "8:teamsvisitor:"
            } else {
                prefix
            };
            json!({
                "rawId": format!("{prefix}{}", user.user_id),
                "microsoftTeamsUser": {"userId": user.user_id, "isAnonymous": user.is_anonymous, "cloud": cloud},
            })
        }
        CommunicationIdentifier::Raw(raw) => json!({"rawId": raw}),
    }
}

/// An identifier from the service: by `kind` and sub-object when present, else by
/// the raw id's prefix.
#[must_use]
pub fn parse_identifier(value: &Value) -> Option<CommunicationIdentifier> {
    let raw = value.get("rawId").and_then(Value::as_str);
    if let Some(number) = value.pointer("/phoneNumber/value").and_then(Value::as_str) {
        return Some(CommunicationIdentifier::PhoneNumber(number.to_owned()));
    }
    if let Some(user) = value
        .pointer("/communicationUser/id")
        .and_then(Value::as_str)
    {
        return Some(CommunicationIdentifier::AcsUser(user.to_owned()));
    }
    if let Some(teams) = value.get("microsoftTeamsUser") {
        let cloud = match teams
            .get("cloud")
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("dod") => TeamsCloud::Dod,
            Some("gcch") => TeamsCloud::Gcch,
            _ => TeamsCloud::Public,
        };
        return Some(CommunicationIdentifier::TeamsUser(TeamsUser {
            user_id: teams.get("userId").and_then(Value::as_str)?.to_owned(),
            cloud,
            is_anonymous: teams
                .get("isAnonymous")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        }));
    }
    let raw = raw?;
    Some(if let Some(number) = raw.strip_prefix("4:") {
        CommunicationIdentifier::PhoneNumber(number.to_owned())
    } else if raw.starts_with("8:acs:") {
        CommunicationIdentifier::AcsUser(raw.to_owned())
    } else {
        CommunicationIdentifier::Raw(raw.to_owned())
    })
}

/// `PlaySource`.
#[must_use]
pub fn play_source(source: &PlaySource) -> Value {
    match source {
        PlaySource::File(url) => json!({"kind": "file", "file": {"uri": url}}),
        PlaySource::Text(text) => {
            let mut t = json!({"text": text.text});
            if let Some(voice) = &text.voice {
                t["voiceName"] = json!(voice);
            }
            if let Some(locale) = &text.locale {
                t["sourceLocale"] = json!(locale);
            }
            json!({"kind": "text", "text": t})
        }
        PlaySource::Ssml(ssml) => json!({"kind": "ssml", "ssml": {"ssmlText": ssml}}),
    }
}

/// The service's name for a tone.
#[must_use]
pub fn tone(tone: DtmfTone) -> &'static str {
    match tone {
        DtmfTone::Zero => "zero",
        DtmfTone::One => "one",
        DtmfTone::Two => "two",
        DtmfTone::Three => "three",
        DtmfTone::Four => "four",
        DtmfTone::Five => "five",
        DtmfTone::Six => "six",
        DtmfTone::Seven => "seven",
        DtmfTone::Eight => "eight",
        DtmfTone::Nine => "nine",
        DtmfTone::A => "a",
        DtmfTone::B => "b",
        DtmfTone::C => "c",
        DtmfTone::D => "d",
        DtmfTone::Pound => "pound",
        DtmfTone::Asterisk => "asterisk",
    }
}

/// A tone from its service name (case-insensitive).
#[must_use]
pub fn parse_tone(name: &str) -> Option<DtmfTone> {
    const ALL: [DtmfTone; 16] = [
        DtmfTone::Zero,
        DtmfTone::One,
        DtmfTone::Two,
        DtmfTone::Three,
        DtmfTone::Four,
        DtmfTone::Five,
        DtmfTone::Six,
        DtmfTone::Seven,
        DtmfTone::Eight,
        DtmfTone::Nine,
        DtmfTone::A,
        DtmfTone::B,
        DtmfTone::C,
        DtmfTone::D,
        DtmfTone::Pound,
        DtmfTone::Asterisk,
    ];
    ALL.into_iter()
        .find(|t| tone(*t).eq_ignore_ascii_case(name))
}

/// `resultInformation`.
#[must_use]
pub fn parse_result(value: &Value) -> Option<ResultInformation> {
    let info = value.get("resultInformation")?;
    Some(ResultInformation {
        code: u32::try_from(info.get("code").and_then(Value::as_u64).unwrap_or(0)).unwrap_or(0),
        sub_code: u32::try_from(info.get("subCode").and_then(Value::as_u64).unwrap_or(0))
            .unwrap_or(0),
        message: info
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_round_trip() {
        let ids = [
            CommunicationIdentifier::PhoneNumber("+14255550123".into()),
            CommunicationIdentifier::AcsUser("8:acs:res_user".into()),
            CommunicationIdentifier::TeamsUser(TeamsUser {
                user_id: "u1".into(),
                cloud: TeamsCloud::Gcch,
                is_anonymous: false,
            }),
            CommunicationIdentifier::Raw("28:orgid:app".into()),
        ];
        for id in ids {
            assert_eq!(
                parse_identifier(&identifier(&id)),
                Some(id.clone()),
                "{id:?}"
            );
        }
        assert_eq!(
            identifier(&CommunicationIdentifier::PhoneNumber("+1".into()))["rawId"],
            "4:+1"
        );
        // Responses carry kind + rawId + sub-object; raw ids alone parse by prefix.
        assert_eq!(
            parse_identifier(&json!({"rawId": "4:+1555"})),
            Some(CommunicationIdentifier::PhoneNumber("+1555".into()))
        );
        assert_eq!(parse_identifier(&json!({})), None);
    }

    #[test]
    fn tones_round_trip() {
        for name in ["zero", "nine", "pound", "asterisk", "a"] {
            assert_eq!(tone(parse_tone(name).expect("tone")), name);
        }
        assert_eq!(parse_tone("Five"), Some(DtmfTone::Five));
        assert_eq!(parse_tone("ten"), None);
    }
}
