//! Where an environment's credentials come from, and what to say when they cannot be had.
//!
//! The SDK reports a credential failure as a failed dispatch, and its default chain's last
//! word is about the EC2 instance metadata service, whatever was really missing: a profile
//! misnamed in ferry.toml read "cannot reach the endpoint ... IMDS". Here a profile named in
//! the config is looked up in the AWS config files before any call ([`find_profile`]), and a
//! call that fails for want of credentials says which source was tried and what it lacked
//! ([`Source::explain`]).

use std::borrow::Cow;

use aws_config::profile::ProfileSet;
use aws_credential_types::provider::error::CredentialsError;
use aws_runtime::env_config::file::EnvConfigFiles;
use aws_sdk_ecs::error::SdkError;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_types::os_shim_internal::{Env, Fs};

use crate::reach::error_chain;

/// How a target gets credentials, and where that was configured.
#[derive(Clone, Debug, Default)]
pub struct Source {
    pub kind: Kind,
    /// Where the setting is, e.g. `environments.prod.profile in ferry.toml`.
    pub origin: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Kind {
    /// The SDK's default chain: environment variables, the profile in AWS_PROFILE or
    /// `default`, web identity, container credentials, the EC2 instance metadata service.
    #[default]
    DefaultChain,
    /// A named profile of the AWS config files.
    Profile(String),
    /// A role assumed with a profile's credentials, or the default chain's.
    AssumeRole { role_arn: String, source_profile: Option<String> },
    /// Keys given directly (ferry local's).
    Static,
}

impl Source {
    pub fn of(target: &crate::Target) -> Source {
        let kind = if target.static_credentials.is_some() {
            Kind::Static
        } else if let Some(role) = &target.assume_role {
            Kind::AssumeRole { role_arn: role.role_arn.clone(), source_profile: target.profile.clone() }
        } else if let Some(profile) = &target.profile {
            Kind::Profile(profile.clone())
        } else {
            Kind::DefaultChain
        };
        Source { kind, origin: target.credentials_origin.clone() }
    }

    fn from(&self) -> String {
        self.origin.as_deref().map(|o| format!(" (from {o})")).unwrap_or_default()
    }

    /// The message for a call that could not get credentials: `sdk` is the SDK's account.
    pub fn explain(&self, sdk: &str) -> String {
        let sdk = sdk.trim_end_matches('.');
        match &self.kind {
            Kind::Profile(profile) => format!(
                "the credentials of profile \"{profile}\"{} cannot be used: {sdk}. Check the profile in {} (for SSO, sign in with `aws sso login --profile {profile}`)",
                self.from(),
                files_in_words()
            ),
            Kind::AssumeRole { role_arn, source_profile } => {
                let with = match source_profile {
                    Some(profile) => format!("profile \"{profile}\""),
                    None => "the default credential chain".to_string(),
                };
                format!("cannot assume {role_arn}{} with {with}: {sdk}. Check that these credentials may assume the role", self.from())
            }
            Kind::Static => format!("the configured keys cannot be used: {sdk}"),
            Kind::DefaultChain => format!(
                "no AWS credentials found by the default chain{}: {}. Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or name a profile (profile = \"NAME\") or a role (role_arn) for the environment in ferry.toml; for ferry local, set credentials = \"ferry-local\"",
                self.from(),
                default_chain_in_words(sdk)
            ),
        }
    }
}

/// The AWS config files, as the SDK finds them, in words: `~/.aws/config or ~/.aws/credentials`.
pub fn files_in_words() -> String {
    let config = std::env::var("AWS_CONFIG_FILE").ok().filter(|v| !v.is_empty()).unwrap_or_else(|| "~/.aws/config".into());
    let credentials =
        std::env::var("AWS_SHARED_CREDENTIALS_FILE").ok().filter(|v| !v.is_empty()).unwrap_or_else(|| "~/.aws/credentials".into());
    format!("{config} or {credentials}")
}

/// What the default chain had to go on, read from the environment (not from the files: the
/// chain's profile step is described by name), ending with the SDK's last word, which is
/// usually the instance metadata service's.
fn default_chain_in_words(sdk: &str) -> String {
    let set = |name: &str| std::env::var(name).is_ok_and(|v| !v.is_empty());
    let mut tried = Vec::new();
    tried.push(
        if set("AWS_ACCESS_KEY_ID") { "AWS_ACCESS_KEY_ID is set (without a usable secret?)" } else { "AWS_ACCESS_KEY_ID is not set" }
            .to_string(),
    );
    let profile = std::env::var("AWS_PROFILE").ok().filter(|v| !v.is_empty());
    tried.push(match &profile {
        Some(p) => format!("profile \"{p}\" (from AWS_PROFILE) gave none"),
        None => format!("profile \"default\" gave none ({})", files_in_words()),
    });
    if !set("AWS_WEB_IDENTITY_TOKEN_FILE") {
        tried.push("no web identity token (AWS_WEB_IDENTITY_TOKEN_FILE)".into());
    }
    if !set("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") && !set("AWS_CONTAINER_CREDENTIALS_FULL_URI") {
        tried.push("no container credentials (AWS_CONTAINER_CREDENTIALS_*_URI)".into());
    }
    let imds_off = std::env::var("AWS_EC2_METADATA_DISABLED").is_ok_and(|v| v.eq_ignore_ascii_case("true"));
    tried.push(if imds_off {
        format!("the EC2 instance metadata service is turned off (AWS_EC2_METADATA_DISABLED); the SDK says: {sdk}")
    } else if sdk.contains("IMDS") {
        format!("the EC2 instance metadata service gave none (not on EC2?): {sdk}")
    } else {
        format!("the EC2 instance metadata service gave none (not on EC2?); the SDK says: {sdk}")
    });
    tried.join("; ")
}

/// A profile missing from the AWS config files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingProfile {
    pub profile: String,
    /// Where the SDK looked, in words.
    pub files: String,
    /// The profiles the files do define.
    pub known: Vec<String>,
}

impl std::fmt::Display for MissingProfile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "profile \"{}\" not found in {}", self.profile, self.files)
    }
}

impl MissingProfile {
    /// The profiles there are, in words: `the files define: default, dev`.
    pub fn known_in_words(&self) -> String {
        match self.known.as_slice() {
            [] => "the files define no profile".to_string(),
            known => format!("the files define: {}", known.join(", ")),
        }
    }
}

/// Looks `profile` up in the AWS config files, as the SDK reads them (AWS_CONFIG_FILE and
/// AWS_SHARED_CREDENTIALS_FILE included). Files that cannot be read or parsed count as
/// having no profiles: the SDK's own error then says more when the call is made.
pub async fn find_profile(profile: &str) -> Result<(), MissingProfile> {
    let set: Option<ProfileSet> =
        aws_config::profile::load(&Fs::real(), &Env::real(), &EnvConfigFiles::default(), Some(Cow::Owned(profile.to_string()))).await.ok();
    if set.as_ref().is_some_and(|s| s.get_profile(profile).is_some()) {
        return Ok(());
    }
    let mut known: Vec<String> = set.iter().flat_map(|s| s.profiles().map(str::to_string)).collect();
    known.sort();
    Err(MissingProfile { profile: profile.to_string(), files: files_in_words(), known })
}

/// Whether a transport error is really a credentials failure (the SDK reports one as a
/// failed dispatch).
pub fn is_credentials_error(error: &ConnectorError) -> bool {
    credentials_source(error).is_some()
}

/// The credentials error inside a transport error's chain of sources, if there is one.
fn credentials_source(error: &ConnectorError) -> Option<&(dyn std::error::Error + 'static)> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if e.downcast_ref::<CredentialsError>().is_some() {
            return Some(e);
        }
        source = e.source();
    }
    None
}

/// The SDK's account of a credentials failure, when that is what the call failed with.
pub fn failure<E, R>(error: &SdkError<E, R>) -> Option<String>
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let SdkError::DispatchFailure(failure) = error else { return None };
    // From the credentials error down: the wrappers above it only say "dispatch failure".
    failure.as_connector_error().and_then(credentials_source).map(error_chain).map(|text| one_line(&text))
}

/// The SDK's words without the list of providers it tried, which newer SDKs append on lines
/// of their own (`no credentials found in chain. Attempted:\n  - Environment: …`): ferry says
/// what the chain tried in its own words, on one line.
fn one_line(text: &str) -> String {
    let head = text.split_once(". Attempted:").map_or(text, |(head, _)| head);
    head.lines().next().unwrap_or_default().trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[test]
    fn the_sdks_list_of_attempted_providers_is_left_to_ferrys_own_words() {
        let sdk = "the credential provider was not enabled: no credentials found in chain. Attempted:\n  - Environment: not set\n  - Profile: none";
        assert_eq!(one_line(sdk), "the credential provider was not enabled: no credentials found in chain");
        let older = "the credential provider was not enabled: no providers in chain provided credentials";
        assert_eq!(one_line(older), older);
        assert_eq!(one_line("first line\nsecond"), "first line");
    }
}
