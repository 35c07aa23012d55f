//! The health vocabulary: Argo CD's six status codes, their order from best to
//! worst, and an assessment (a code plus an optional message).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Errors of this crate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HealthError {
    /// A string that is not one of Argo CD's health status codes.
    #[error("unknown health status {0:?}: expected Healthy, Suspended, Progressing, Missing, Degraded or Unknown")]
    UnknownCode(String),
}

/// A resource's health status, spelled as Argo CD spells it.
///
/// Variants are declared from best to worst (Argo CD's `healthOrder`), so the
/// derived `Ord` is the severity order: `a < b` means `a` is healthier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum HealthCode {
    /// Everything is as it should be.
    Healthy,
    /// Paused or suspended on purpose (a paused Deployment, a suspended Job).
    Suspended,
    /// Not healthy yet, but still on its way there.
    Progressing,
    /// Desired but absent from the cluster.
    Missing,
    /// Failed, or gave up on reaching a healthy state.
    Degraded,
    /// The assessment itself failed.
    Unknown,
}

impl HealthCode {
    /// Every code, best first.
    pub const ALL: [HealthCode; 6] = [
        HealthCode::Healthy,
        HealthCode::Suspended,
        HealthCode::Progressing,
        HealthCode::Missing,
        HealthCode::Degraded,
        HealthCode::Unknown,
    ];

    /// Argo CD's string for this code.
    pub fn as_str(self) -> &'static str {
        match self {
            HealthCode::Healthy => "Healthy",
            HealthCode::Suspended => "Suspended",
            HealthCode::Progressing => "Progressing",
            HealthCode::Missing => "Missing",
            HealthCode::Degraded => "Degraded",
            HealthCode::Unknown => "Unknown",
        }
    }

    /// Position in Argo CD's order: 0 for Healthy up to 5 for Unknown.
    pub fn severity(self) -> u8 {
        self as u8
    }

    /// The worse of two codes (Argo CD's `IsWorse`).
    pub fn worse(a: HealthCode, b: HealthCode) -> HealthCode {
        a.max(b)
    }

    /// Whether `self` is strictly worse than `other`.
    pub fn is_worse_than(self, other: HealthCode) -> bool {
        self > other
    }
}

impl fmt::Display for HealthCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for HealthCode {
    type Err = HealthError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        HealthCode::ALL
            .into_iter()
            .find(|code| code.as_str() == s)
            .ok_or_else(|| HealthError::UnknownCode(s.to_owned()))
    }
}

/// The worse of two codes; see [`HealthCode::worse`].
pub fn worse(a: HealthCode, b: HealthCode) -> HealthCode {
    HealthCode::worse(a, b)
}

/// One health assessment. An empty message is stored as `None`, the way Argo
/// CD omits it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Health {
    pub status: HealthCode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl Health {
    /// An assessment with a message; an empty message becomes `None`.
    pub fn new(status: HealthCode, message: impl Into<String>) -> Self {
        let message = message.into();
        Self {
            status,
            message: (!message.is_empty()).then_some(message),
        }
    }

    /// An assessment without a message.
    pub fn of(status: HealthCode) -> Self {
        Self {
            status,
            message: None,
        }
    }

    /// Healthy, no message.
    pub fn healthy() -> Self {
        Self::of(HealthCode::Healthy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_ordered_from_healthy_to_unknown_as_argo_cd_orders_them() {
        let severities: Vec<u8> = HealthCode::ALL.iter().map(|c| c.severity()).collect();
        assert_eq!(severities, vec![0, 1, 2, 3, 4, 5]);
        assert!(HealthCode::Suspended.is_worse_than(HealthCode::Healthy));
        assert!(HealthCode::Missing.is_worse_than(HealthCode::Progressing));
        assert!(HealthCode::Unknown.is_worse_than(HealthCode::Degraded));
        assert!(!HealthCode::Degraded.is_worse_than(HealthCode::Degraded));
    }

    #[test]
    fn worse_picks_the_less_healthy_code_in_either_argument_order() {
        assert_eq!(
            worse(HealthCode::Degraded, HealthCode::Progressing),
            HealthCode::Degraded
        );
        assert_eq!(
            worse(HealthCode::Progressing, HealthCode::Degraded),
            HealthCode::Degraded
        );
        assert_eq!(
            HealthCode::worse(HealthCode::Healthy, HealthCode::Suspended),
            HealthCode::Suspended
        );
    }

    #[test]
    fn codes_round_trip_through_their_argo_cd_strings() -> Result<(), HealthError> {
        for code in HealthCode::ALL {
            assert_eq!(code.as_str().parse::<HealthCode>()?, code);
            assert_eq!(code.to_string(), code.as_str());
        }
        Ok(())
    }

    #[test]
    fn parsing_an_unknown_string_names_it_in_the_error() {
        let err = "healthy".parse::<HealthCode>().err();
        assert_eq!(err, Some(HealthError::UnknownCode("healthy".into())));
        assert!(err.is_some_and(|e| e
            .to_string()
            .starts_with("unknown health status \"healthy\"")));
    }

    #[test]
    fn an_empty_message_is_stored_as_none() {
        assert_eq!(
            Health::new(HealthCode::Degraded, ""),
            Health::of(HealthCode::Degraded)
        );
        assert_eq!(
            Health::new(HealthCode::Degraded, "x").message.as_deref(),
            Some("x")
        );
    }

    #[test]
    fn health_serializes_like_argo_cd_health_status() -> Result<(), serde_json::Error> {
        let json = serde_json::to_value(Health::new(HealthCode::Progressing, "waiting"))?;
        assert_eq!(
            json,
            serde_json::json!({"status": "Progressing", "message": "waiting"})
        );
        let json = serde_json::to_value(Health::healthy())?;
        assert_eq!(json, serde_json::json!({"status": "Healthy"}));
        Ok(())
    }
}
