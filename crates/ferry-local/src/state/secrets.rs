//! What SSM Parameter Store and Secrets Manager keep, per partition: parameters with their
//! versions, secrets with their versions and staging labels. No KMS: every value, SecureString
//! and secret alike, is kept in plain text in `state.json` (docs/local.md says so).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Tag;

/// An SSM parameter (`PutParameter`): its versions, oldest first, and its tags.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Parameter {
    /// The name as created (`/app/db/password` or `db-password`).
    pub name: String,
    /// Oldest first; never empty. SSM keeps the latest 100.
    pub versions: Vec<ParameterVersion>,
    #[serde(default)]
    pub tags: Vec<Tag>,
}

impl Parameter {
    /// The latest version.
    pub fn latest(&self) -> Option<&ParameterVersion> {
        self.versions.last()
    }
}

/// One version of a parameter, as GetParameterHistory lists it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ParameterVersion {
    /// 1, 2, …: one more than the version before, as SSM numbers them.
    pub version: i64,
    /// `String`, `StringList` or `SecureString`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The value in plain text (SecureString included: no KMS here).
    pub value: String,
    pub description: Option<String>,
    pub allowed_pattern: Option<String>,
    /// SecureString only: the KMS key named (`alias/aws/ssm` when none was).
    pub key_id: Option<String>,
    /// `Standard` or `Advanced`.
    pub tier: String,
    /// `text` (or `aws:ec2:image`, …), as given.
    pub data_type: String,
    /// Seconds since the epoch.
    pub last_modified: f64,
    pub last_modified_user: String,
    /// Labels (LabelParameterVersion): each label on one version at most.
    #[serde(default)]
    pub labels: Vec<String>,
}

/// A Secrets Manager secret (`CreateSecret`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Secret {
    /// `arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-XXXXXX` (six random characters).
    pub arn: String,
    pub name: String,
    pub description: Option<String>,
    /// As given (no KMS here); None means AWS's default key `aws/secretsmanager`.
    pub kms_key_id: Option<String>,
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// Seconds since the epoch.
    pub created_at: f64,
    pub last_changed_at: f64,
    /// Day granularity, as Secrets Manager reports it.
    pub last_accessed_at: Option<f64>,
    /// Set by DeleteSecret with a recovery window: when it was deleted, and when it is gone.
    pub deleted_at: Option<f64>,
    pub deletion_date: Option<f64>,
    /// version id → version.
    #[serde(default)]
    pub versions: BTreeMap<String, SecretVersion>,
}

impl Secret {
    /// The version carrying a staging label (`AWSCURRENT`, `AWSPREVIOUS`, `AWSPENDING`, …).
    pub fn version_with_stage(&self, stage: &str) -> Option<&SecretVersion> {
        self.versions.values().find(|v| v.stages.iter().any(|s| s == stage))
    }
}

/// One version of a secret's value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SecretVersion {
    /// The request's ClientRequestToken, or a UUID.
    pub id: String,
    pub string: Option<String>,
    /// The binary value as it travels on the wire: base64.
    pub binary: Option<String>,
    /// Staging labels; a version without any is deprecated.
    pub stages: Vec<String>,
    pub created_at: f64,
    /// When GetSecretValue last read this version (day granularity, as Secrets Manager
    /// reports it).
    #[serde(default)]
    pub last_accessed_at: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::super::Partition;

    #[test]
    fn a_partition_saved_before_parameters_and_secrets_existed_still_loads() {
        let mut saved =
            serde_json::to_value(Partition { account: "123456789012".into(), region: "eu-west-1".into(), ..Default::default() }).unwrap();
        let object = saved.as_object_mut().unwrap();
        assert!(object.remove("parameters").is_some() && object.remove("secrets").is_some());
        let loaded: Partition = serde_json::from_value(saved).unwrap();
        assert!(loaded.parameters.is_empty() && loaded.secrets.is_empty());
        assert_eq!(loaded.account, "123456789012");
    }

    #[test]
    fn a_secret_version_saved_before_last_access_was_kept_still_loads() {
        let version: super::SecretVersion = serde_json::from_value(serde_json::json!({
            "id": "v1", "string": "s", "binary": null, "stages": ["AWSCURRENT"], "created_at": 1.0
        }))
        .unwrap();
        assert_eq!(version.last_accessed_at, None);
    }
}
