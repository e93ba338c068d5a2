//! Communication identifiers on the wire (`CommunicationIdentifierModel`, NOTES.md §5).
//!
//! Requests may carry only a `rawId`, only a sub-object (Python sends no `kind`), or
//! both; responses and events always carry `kind`, `rawId` and the sub-object.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// An identifier as a request carried it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireIdentifier {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub communication_user: Option<IdValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<PhoneValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub microsoft_teams_user: Option<TeamsUserValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub microsoft_teams_app: Option<TeamsAppValue>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdValue {
    pub id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PhoneValue {
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TeamsUserValue {
    pub user_id: String,
    #[serde(default)]
    pub cloud: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TeamsAppValue {
    pub app_id: String,
}

/// A resolved identifier: its raw id is the identity (`4:+1…`, `8:acs:…`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RawId(pub String);

impl RawId {
    /// The raw id of a phone number.
    #[must_use]
    pub fn phone(number: &str) -> Self {
        Self(format!("4:{number}"))
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The phone number, for `4:` ids.
    #[must_use]
    pub fn phone_number(&self) -> Option<&str> {
        self.0.strip_prefix("4:")
    }

    /// The kind the service reports for this id.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        let raw = self.0.as_str();
        if raw.starts_with("4:") {
            "phoneNumber"
        } else if ["8:acs:", "8:spool:", "8:dod-acs:", "8:gcch-acs:"]
            .iter()
            .any(|p| raw.starts_with(p))
        {
            "communicationUser"
        } else if ["8:orgid:", "8:teamsvisitor:", "8:dod:", "8:gcch:"]
            .iter()
            .any(|p| raw.starts_with(p))
        {
            "microsoftTeamsUser"
        } else if raw.starts_with("28:") {
            "microsoftTeamsApp"
        } else {
            "unknown"
        }
    }

    /// The identifier as responses and events carry it.
    #[must_use]
    pub fn to_wire(&self) -> Value {
        let raw = self.0.as_str();
        let kind = self.kind();
        let mut v = json!({"kind": kind, "rawId": raw});
        match kind {
            "phoneNumber" => v["phoneNumber"] = json!({"value": &raw[2..]}),
            "communicationUser" => v["communicationUser"] = json!({"id": raw}),
            "microsoftTeamsUser" => {
                let (prefix, user) = raw[2..].split_once(':').unwrap_or(("orgid", raw));
                let cloud = match prefix {
                    "dod" => "dod",
                    "gcch" => "gcch",
                    _ => "public",
                };
                v["microsoftTeamsUser"] = json!({"userId": user, "isAnonymous": prefix == "teamsvisitor", "cloud": cloud});
            }
            "microsoftTeamsApp" => {
                let app = raw[3..].split_once(':').map_or(&raw[3..], |(_, a)| a);
                v["microsoftTeamsApp"] = json!({"appId": app, "cloud": "public"});
            }
            _ => {}
        }
        v
    }
}

impl std::fmt::Display for RawId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl WireIdentifier {
    /// The raw id, from `rawId` or derived from the sub-object.
    pub fn raw_id(&self) -> Result<RawId, String> {
        if let Some(raw) = self.raw_id.as_deref().filter(|r| !r.is_empty()) {
            return Ok(RawId(raw.to_owned()));
        }
        if let Some(user) = &self.communication_user {
            return Ok(RawId(user.id.clone()));
        }
        if let Some(phone) = &self.phone_number {
            return Ok(RawId::phone(&phone.value));
        }
        if let Some(teams) = &self.microsoft_teams_user {
            let prefix = match teams
                .cloud
                .as_deref()
                .map(str::to_ascii_lowercase)
                .as_deref()
            {
                Some("dod") => "8:dod:",
                Some("gcch") => "8:gcch:",
                _ => "8:orgid:",
            };
            return Ok(RawId(format!("{prefix}{}", teams.user_id)));
        }
        if let Some(app) = &self.microsoft_teams_app {
            return Ok(RawId(format!("28:orgid:{}", app.app_id)));
        }
        Err("an identifier needs a rawId or one of communicationUser, phoneNumber, microsoftTeamsUser, microsoftTeamsApp".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_shapes_resolve_to_raw_ids() {
        let phone: WireIdentifier = serde_json::from_str(
            r#"{"rawId":"4:+14255550123","phoneNumber":{"value":"+14255550123"}}"#,
        )
        .expect("json");
        assert_eq!(phone.raw_id().expect("id").as_str(), "4:+14255550123");
        let bare: WireIdentifier =
            serde_json::from_str(r#"{"phoneNumber":{"value":"+1555"}}"#).expect("json");
        assert_eq!(bare.raw_id().expect("id").as_str(), "4:+1555");
        let teams: WireIdentifier =
            serde_json::from_str(r#"{"microsoftTeamsUser":{"userId":"abc","cloud":"PUBLIC"}}"#)
                .expect("json");
        assert_eq!(teams.raw_id().expect("id").as_str(), "8:orgid:abc");
        assert!(WireIdentifier::default().raw_id().is_err());
    }

    #[test]
    fn responses_carry_kind_raw_id_and_sub_object() {
        let v = RawId::phone("+1555").to_wire();
        assert_eq!(
            v,
            json!({"kind":"phoneNumber","rawId":"4:+1555","phoneNumber":{"value":"+1555"}})
        );
        let v = RawId("8:acs:res_user".into()).to_wire();
        assert_eq!(v["communicationUser"]["id"], "8:acs:res_user");
        assert_eq!(
            RawId("8:orgid:u1".into()).to_wire()["microsoftTeamsUser"]["userId"],
            "u1"
        );
        assert_eq!(RawId("x:y".into()).kind(), "unknown");
    }
}
