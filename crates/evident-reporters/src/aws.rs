//! What the ECS and Lambda reporters share: the AWS SDK configuration (region, credentials from
//! the usual AWS chain, an HTTP client on rustls with `ring` that honours the proxy
//! environment variables) and SDK errors as [`ReporterError`]s.

use std::error::Error as StdError;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
use aws_smithy_http_client::Connector;
use aws_smithy_runtime_api::client::http::{
    http_client_fn, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::error::{chain, snippet, ReporterError};
use crate::http::{CONNECT_TIMEOUT, REQUEST_TIMEOUT};

/// Static AWS credentials, to use instead of the SDK's default credential chain
/// (environment, profiles with `AssumeRole`/web identity/`credential_process`, the ECS/EKS
/// container endpoint, EC2 instance metadata).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    /// For temporary credentials.
    pub session_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"** redacted **")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "** redacted **"),
            )
            .finish()
    }
}

/// Where and as whom to call an AWS API; every field is optional.
#[derive(Debug, Clone, Default)]
pub(crate) struct AwsSettings {
    /// The region; default: the SDK's region chain (`AWS_REGION`, `AWS_DEFAULT_REGION`, the
    /// profile's `region`, instance metadata).
    pub(crate) region: Option<String>,
    /// The API endpoint (`http://localhost:4566`); default: `AWS_ENDPOINT_URL_<SERVICE>`,
    /// `AWS_ENDPOINT_URL`, the profile's `endpoint_url`, then the public endpoint of the region.
    pub(crate) endpoint: Option<String>,
    /// Credentials to use instead of the SDK's default chain.
    pub(crate) credentials: Option<Credentials>,
}

/// A service's SDK configuration, and how to name the service in messages.
pub(crate) struct Service {
    pub(crate) config: SdkConfig,
    /// The service as users know it (`ECS`, `Lambda`).
    pub(crate) label: &'static str,
    /// The endpoint override, if any, else a description of the default endpoint; for messages.
    pub(crate) endpoint: String,
    /// The endpoint override given in the options.
    pub(crate) endpoint_override: Option<String>,
}

impl Service {
    /// Loads the SDK configuration for the service whose SDK id is `sdk_id` (`ECS`, `Lambda`:
    /// `AWS_ENDPOINT_URL_ECS`, `AWS_ENDPOINT_URL_LAMBDA`).
    pub(crate) async fn load(
        label: &'static str,
        sdk_id: &str,
        settings: &AwsSettings,
    ) -> Result<Self, ReporterError> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http_client())
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .connect_timeout(CONNECT_TIMEOUT)
                    .operation_attempt_timeout(REQUEST_TIMEOUT)
                    .build(),
            );
        if let Ok(name) = aws_config::AppName::new("evident") {
            loader = loader.app_name(name);
        }
        if let Some(region) = settings.region.as_deref().filter(|r| !r.is_empty()) {
            loader = loader.region(Region::new(region.to_string()));
        }
        if let Some(c) = &settings.credentials {
            loader = loader.credentials_provider(SharedCredentialsProvider::new(
                aws_credential_types::Credentials::new(
                    &c.access_key_id,
                    &c.secret_access_key,
                    c.session_token.clone(),
                    None,
                    "evident",
                ),
            ));
        }
        let config = loader.load().await;
        let region = config
            .region()
            .map(|r| r.as_ref().to_string())
            .ok_or_else(|| {
                ReporterError::Config(format!(
                    "no AWS region for {label}: pass a region or set AWS_REGION"
                ))
            })?;
        if !region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(ReporterError::Config(format!(
                "{region:?} is not an AWS region"
            )));
        }
        let endpoint_override = settings.endpoint.clone().filter(|e| !e.is_empty());
        if let Some(e) = &endpoint_override {
            let valid = e.split_once("://").is_some_and(|(scheme, rest)| {
                matches!(scheme, "http" | "https") && !rest.is_empty()
            });
            if !valid {
                return Err(ReporterError::Config(format!(
                    "{e:?} is not a valid {label} endpoint URL"
                )));
            }
        }
        let endpoint = endpoint_override
            .clone()
            .or_else(|| {
                let var = format!("AWS_ENDPOINT_URL_{}", sdk_id.to_ascii_uppercase());
                std::env::var(var).ok().filter(|e| !e.is_empty())
            })
            .or_else(|| config.endpoint_url().map(str::to_string))
            .unwrap_or_else(|| format!("the {label} endpoint of {region}"));
        Ok(Self {
            config,
            label,
            endpoint: endpoint.trim_end_matches('/').to_string(),
            endpoint_override,
        })
    }

    /// An SDK error as a typed error: AWS's error code and message for a service error, and
    /// otherwise what went wrong in words, with its causes.
    pub(crate) fn error<E>(&self, operation: &str, err: SdkError<E, HttpResponse>) -> ReporterError
    where
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    {
        let service = self.label;
        // No credentials, or the chain failed (an unreachable STS, a failing `credential_process`).
        if let Some(e) = find_source::<CredentialsError>(&err) {
            return ReporterError::Credentials(chain(e));
        }
        match &err {
            SdkError::ServiceError(ctx) => {
                let status = ctx.raw().status().as_u16();
                let e = ctx.err();
                match e.code() {
                    Some(code) => ReporterError::Aws {
                        service,
                        status,
                        code: code.to_string(),
                        message: e.message().unwrap_or("(no message)").to_string(),
                    },
                    // A success whose body the SDK could not read.
                    None if (200..300).contains(&status) => ReporterError::Decode {
                        service,
                        url: format!("{} ({operation})", self.endpoint),
                        message: source_chain(&err),
                    },
                    // Not an AWS error: a proxy's or load balancer's page, say.
                    None => self.status_error(operation, ctx.raw()),
                }
            }
            SdkError::ResponseError(ctx) if !ctx.raw().status().is_success() => {
                self.status_error(operation, ctx.raw())
            }
            SdkError::ResponseError(_) => ReporterError::Decode {
                service,
                url: format!("{} ({operation})", self.endpoint),
                message: source_chain(&err),
            },
            SdkError::TimeoutError(_) => ReporterError::Unreachable {
                service,
                url: self.endpoint.clone(),
                message: format!("{operation} timed out"),
            },
            SdkError::DispatchFailure(f) if f.is_io() || f.is_timeout() => {
                ReporterError::Unreachable {
                    service,
                    url: self.endpoint.clone(),
                    message: source_chain(&err),
                }
            }
            SdkError::ConstructionFailure(_) => ReporterError::Config(format!(
                "cannot make the {service} {operation} request: {}",
                source_chain(&err)
            )),
            _ => ReporterError::Unreachable {
                service,
                url: self.endpoint.clone(),
                message: source_chain(&err),
            },
        }
    }

    /// An HTTP error status without an AWS error in the body.
    fn status_error(&self, operation: &str, raw: &HttpResponse) -> ReporterError {
        ReporterError::Status {
            service: self.label,
            url: format!("{} ({operation})", self.endpoint),
            status: raw.status().as_u16(),
            message: raw
                .body()
                .bytes()
                .map(snippet)
                .unwrap_or_else(|| "(no body)".into()),
        }
    }
}

/// The causes of an SDK error, without the SDK's generic outer words ("dispatch failure").
fn source_chain(err: &(dyn StdError + 'static)) -> String {
    match err.source() {
        Some(s) => chain(s),
        None => err.to_string(),
    }
}

/// The first error of type `T` among `err` and its causes.
fn find_source<'a, T: StdError + 'static>(
    err: &'a (dyn StdError + 'static),
) -> Option<&'a (dyn StdError + 'static)> {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if e.is::<T>() {
            return Some(e);
        }
        cur = e.source();
    }
    None
}

/// The SDK's hyper client on rustls with `ring`, going through `HTTPS_PROXY`/`HTTP_PROXY`
/// (minus `NO_PROXY`) when they are set. One connector per timeout setting, kept.
fn http_client() -> SharedHttpClient {
    type Key = (Option<Duration>, Option<Duration>);
    let cache: Arc<Mutex<Vec<(Key, SharedHttpConnector)>>> = Arc::default();
    http_client_fn(
        move |settings: &HttpConnectorSettings, components: &RuntimeComponents| {
            let key = (settings.connect_timeout(), settings.read_timeout());
            let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((_, c)) = cache.iter().find(|(k, _)| *k == key) {
                return c.clone();
            }
            let mut builder = Connector::builder()
                .connector_settings(settings.clone())
                .proxy_config(ProxyConfig::from_env());
            builder.set_sleep_impl(components.sleep_impl());
            let connector = SharedHttpConnector::new(
                builder
                    .tls_provider(Provider::Rustls(CryptoMode::Ring))
                    .build(),
            );
            cache.push((key, connector.clone()));
            connector
        },
    )
}

/// Whole seconds since the epoch of an AWS timestamp, if it is after 1970.
pub(crate) fn epoch_seconds(t: Option<&aws_smithy_types::DateTime>) -> Option<i64> {
    t.map(|t| t.secs()).filter(|s| *s > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(region: &str, endpoint: Option<&str>) -> AwsSettings {
        AwsSettings {
            region: Some(region.into()),
            endpoint: endpoint.map(str::to_string),
            credentials: Some(Credentials {
                access_key_id: "AKID".into(),
                secret_access_key: "S3CR3T".into(),
                session_token: Some("T0K3N".into()),
            }),
        }
    }

    #[tokio::test]
    async fn region_and_endpoint_are_checked() {
        let s = Service::load(
            "ECS",
            "ECS",
            &settings("eu-west-1", Some("http://localhost:4566/")),
        )
        .await
        .unwrap();
        assert_eq!(s.endpoint, "http://localhost:4566");
        assert_eq!(s.config.region().unwrap().as_ref(), "eu-west-1");
        for (region, endpoint) in [("EU_WEST", None), ("eu-west-1", Some("not a url"))] {
            let e = Service::load("ECS", "ECS", &settings(region, endpoint)).await;
            assert!(
                matches!(e, Err(ReporterError::Config(_))),
                "{region} {endpoint:?}"
            );
        }
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let shown = format!("{:?}", settings("eu-west-1", None).credentials.unwrap());
        assert!(shown.contains("AKID"), "{shown}");
        assert!(
            !shown.contains("S3CR3T") && !shown.contains("T0K3N"),
            "{shown}"
        );
    }

    #[test]
    fn timestamps() {
        let t = aws_smithy_types::DateTime::from_secs_f64(1_718_000_000.789);
        assert_eq!(epoch_seconds(Some(&t)), Some(1_718_000_000));
        assert_eq!(epoch_seconds(None), None);
        let zero = aws_smithy_types::DateTime::from_secs(0);
        assert_eq!(epoch_seconds(Some(&zero)), None);
    }
}
