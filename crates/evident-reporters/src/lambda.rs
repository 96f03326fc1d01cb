//! The Lambda reporter: which code each Lambda function runs.
//!
//! Calls `GetFunction` (and `ListFunctions` when no function is named) signed with SigV4; see
//! [`crate::aws::credentials`] for where credentials come from. One [`ReportedInstance`] per
//! function, named by the function name:
//! - `PackageType: Image`: the digest of `Code.ResolvedImageUri` (else of `Code.ImageUri`, else
//!   `CodeSha256`), i.e. the image manifest digest the registry knows;
//! - `PackageType: Zip`: `CodeSha256`, which Lambda gives as base64, in hex: the SHA-256 of the
//!   deployment package, so `sha256sum function.zip` matches it.

use std::collections::BTreeMap;

use base64::Engine;
use evident_core::snapshot::{EnvironmentReport, ReportedInstance};
use serde::Deserialize;

use crate::aws::credentials::Credentials;
use crate::aws::sigv4::uri_encode;
use crate::aws::{AwsClient, AwsSettings};
use crate::error::ReporterError;
use crate::{http, image};

const API: &str = "/2015-03-31/functions";

/// Which functions to report.
#[derive(Debug, Clone, Default)]
pub struct LambdaOptions {
    /// Function names or ARNs (a `:qualifier` suffix is allowed); empty means every function
    /// of the region.
    pub function_names: Vec<String>,
    /// The region; default: `AWS_REGION`, `AWS_DEFAULT_REGION`, then the profile's `region`.
    pub region: Option<String>,
    /// The API endpoint, e.g. a local fake; default: `AWS_ENDPOINT_URL_LAMBDA`,
    /// `AWS_ENDPOINT_URL`, then `https://lambda.<region>.amazonaws.com`.
    pub endpoint: Option<String>,
    /// Credentials to use instead of the lookup chain of [`crate::aws::credentials`].
    pub credentials: Option<Credentials>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetFunctionResponse {
    configuration: Configuration,
    #[serde(default)]
    code: Option<Code>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Configuration {
    function_name: String,
    #[serde(default)]
    function_arn: Option<String>,
    #[serde(default)]
    code_sha256: Option<String>,
    #[serde(default)]
    last_modified: Option<String>,
    #[serde(default)]
    package_type: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Code {
    #[serde(default)]
    image_uri: Option<String>,
    #[serde(default)]
    resolved_image_uri: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListFunctionsResponse {
    #[serde(default)]
    functions: Vec<Configuration>,
    #[serde(default)]
    next_marker: Option<String>,
}

/// Reports the code of the named functions, or of every function in the region.
pub async fn collect(options: &LambdaOptions) -> Result<EnvironmentReport, ReporterError> {
    let settings = AwsSettings {
        region: options.region.clone(),
        endpoint: options.endpoint.clone(),
        credentials: options.credentials.clone(),
    };
    let client = AwsClient::new("Lambda", "lambda", &settings).await?;
    let mut artifacts = Vec::new();
    if options.function_names.is_empty() {
        for config in list_functions(&client).await? {
            let f = if is_image(&config) {
                get_function(&client, &config.function_name).await?
            } else {
                GetFunctionResponse {
                    configuration: config,
                    code: None,
                }
            };
            artifacts.push(instance(f)?);
        }
    } else {
        for name in &options.function_names {
            if name.trim().is_empty() {
                return Err(ReporterError::Config("empty Lambda function name".into()));
            }
            artifacts.push(instance(get_function(&client, name).await?)?);
        }
    }
    Ok(EnvironmentReport {
        artifacts,
        kind: Some(crate::KIND_LAMBDA.to_string()),
    })
}

fn is_image(c: &Configuration) -> bool {
    c.package_type.as_deref() == Some("Image")
}

fn instance(f: GetFunctionResponse) -> Result<ReportedInstance, ReporterError> {
    let c = f.configuration;
    let fingerprint = if is_image(&c) {
        let code = f.code.as_ref();
        code.and_then(|c| c.resolved_image_uri.as_deref())
            .and_then(image::pinned_digest)
            .or_else(|| {
                code.and_then(|c| c.image_uri.as_deref())
                    .and_then(image::pinned_digest)
            })
            .or_else(|| c.code_sha256.as_deref().and_then(image::fingerprint))
    } else {
        c.code_sha256.as_deref().and_then(base64_sha256)
    };
    let fingerprint = fingerprint.ok_or_else(|| ReporterError::Decode {
        service: "Lambda",
        url: format!("GetFunction {}", c.function_name),
        message: format!(
            "no SHA-256 of the code in CodeSha256 {:?} / image URI",
            c.code_sha256.as_deref().unwrap_or("")
        ),
    })?;
    Ok(ReportedInstance {
        digests: BTreeMap::from([(c.function_name, fingerprint)]),
        creation_timestamp: c.last_modified.as_deref().and_then(parse_last_modified),
        instance: c.function_arn,
        ..Default::default()
    })
}

/// `CodeSha256` of a Zip function: base64 of the 32-byte digest → 64 hex characters.
fn base64_sha256(s: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .ok()?;
    (bytes.len() == 32).then(|| hex::encode(bytes))
}

/// Lambda's `LastModified`, `2024-05-01T10:11:12.000+0000`, in Unix seconds.
fn parse_last_modified(s: &str) -> Option<i64> {
    jiff::fmt::strtime::parse("%Y-%m-%dT%H:%M:%S%.f%z", s)
        .and_then(|t| t.to_timestamp())
        .or_else(|_| s.parse::<jiff::Timestamp>())
        .ok()
        .map(|t| t.as_second())
}

async fn get_function(
    client: &AwsClient,
    name: &str,
) -> Result<GetFunctionResponse, ReporterError> {
    let path = format!("{API}/{}", uri_encode(name, true));
    let response = client
        .call(reqwest::Method::GET, &path, &[], &[], Vec::new())
        .await?;
    http::decode(client.label, &response.url, &response.body)
}

async fn list_functions(client: &AwsClient) -> Result<Vec<Configuration>, ReporterError> {
    let mut all = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let mut query = vec![("MaxItems", "50".to_string())];
        if let Some(m) = &marker {
            query.push(("Marker", m.clone()));
        }
        let response = client
            .call(
                reqwest::Method::GET,
                &format!("{API}/"),
                &query,
                &[],
                Vec::new(),
            )
            .await?;
        let page: ListFunctionsResponse =
            http::decode(client.label, &response.url, &response.body)?;
        all.extend(page.functions);
        match page.next_marker.filter(|m| !m.is_empty()) {
            Some(m) if Some(&m) != marker.as_ref() => marker = Some(m),
            _ => return Ok(all),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zip_code_sha256_is_base64() {
        // sha256("") in base64 and hex.
        assert_eq!(
            base64_sha256("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=").as_deref(),
            Some("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        );
        assert_eq!(base64_sha256("not base64!"), None);
        assert_eq!(base64_sha256("AAAA"), None);
    }

    #[test]
    fn last_modified_format() {
        assert_eq!(
            parse_last_modified("2024-05-01T10:11:12.000+0000"),
            Some(1_714_558_272)
        );
        assert_eq!(
            parse_last_modified("2024-05-01T12:11:12+0200"),
            Some(1_714_558_272)
        );
        assert_eq!(
            parse_last_modified("2024-05-01T10:11:12Z"),
            Some(1_714_558_272)
        );
        assert_eq!(parse_last_modified("yesterday"), None);
    }
}
