//! The Lambda reporter: which code each Lambda function runs.
//!
//! Calls `GetFunction` (and `ListFunctions` when no function is named) with the AWS SDK and
//! credentials from the usual AWS chain (see [`LambdaOptions::credentials`]). One
//! [`ReportedInstance`] per function, named by the function name:
//! - `PackageType: Image`: the digest of `Code.ResolvedImageUri` (else of `Code.ImageUri`, else
//!   `CodeSha256`), i.e. the image manifest digest the registry knows;
//! - `PackageType: Zip`: `CodeSha256`, which Lambda gives as base64, in hex: the SHA-256 of the
//!   deployment package, so `sha256sum function.zip` matches it.

use std::collections::BTreeMap;

use aws_sdk_lambda::types::{FunctionCodeLocation, FunctionConfiguration, PackageType};
use base64::Engine;
use evident_core::snapshot::{EnvironmentReport, ReportedInstance};

use crate::aws::{AwsSettings, Credentials, Service};
use crate::error::ReporterError;
use crate::image;

/// Which functions to report.
#[derive(Debug, Clone, Default)]
pub struct LambdaOptions {
    /// Function names or ARNs (a `:qualifier` suffix is allowed); empty means every function
    /// of the region.
    pub function_names: Vec<String>,
    /// The region; default: the AWS SDK's region chain (`AWS_REGION`, `AWS_DEFAULT_REGION`, the
    /// profile's `region`, instance metadata).
    pub region: Option<String>,
    /// The API endpoint, e.g. a local fake; default: `AWS_ENDPOINT_URL_LAMBDA`,
    /// `AWS_ENDPOINT_URL`, the profile's `endpoint_url`, then
    /// `https://lambda.<region>.amazonaws.com`.
    pub endpoint: Option<String>,
    /// Credentials to use instead of the AWS SDK's default chain (environment, profiles with
    /// `AssumeRole`, web identity or `credential_process`, the ECS/EKS container endpoint, EC2
    /// instance metadata).
    pub credentials: Option<Credentials>,
}

/// Reports the code of the named functions, or of every function in the region.
pub async fn collect(options: &LambdaOptions) -> Result<EnvironmentReport, ReporterError> {
    let settings = AwsSettings {
        region: options.region.clone(),
        endpoint: options.endpoint.clone(),
        credentials: options.credentials.clone(),
    };
    let service = Service::load("Lambda", "Lambda", &settings).await?;
    let mut config = aws_sdk_lambda::config::Builder::from(&service.config);
    if let Some(e) = &service.endpoint_override {
        config = config.endpoint_url(e);
    }
    let client = aws_sdk_lambda::Client::from_conf(config.build());
    let mut artifacts = Vec::new();
    if options.function_names.is_empty() {
        for config in list_functions(&client, &service).await? {
            let name = config.function_name().unwrap_or_default().to_string();
            let instance = if is_image(&config) {
                let (config, code) = get_function(&client, &service, &name).await?;
                instance(&config, code.as_ref())?
            } else {
                instance(&config, None)?
            };
            artifacts.push(instance);
        }
    } else {
        for name in &options.function_names {
            if name.trim().is_empty() {
                return Err(ReporterError::Config("empty Lambda function name".into()));
            }
            let (config, code) = get_function(&client, &service, name).await?;
            artifacts.push(instance(&config, code.as_ref())?);
        }
    }
    Ok(EnvironmentReport {
        artifacts,
        kind: Some(crate::KIND_LAMBDA.to_string()),
    })
}

fn is_image(c: &FunctionConfiguration) -> bool {
    c.package_type() == Some(&PackageType::Image)
}

fn instance(
    c: &FunctionConfiguration,
    code: Option<&FunctionCodeLocation>,
) -> Result<ReportedInstance, ReporterError> {
    let name = c.function_name().unwrap_or_default();
    let fingerprint = if is_image(c) {
        code.and_then(|c| c.resolved_image_uri())
            .and_then(image::pinned_digest)
            .or_else(|| {
                code.and_then(|c| c.image_uri())
                    .and_then(image::pinned_digest)
            })
            .or_else(|| c.code_sha256().and_then(image::fingerprint))
    } else {
        c.code_sha256().and_then(base64_sha256)
    };
    let fingerprint = fingerprint.ok_or_else(|| ReporterError::Decode {
        service: "Lambda",
        url: format!("GetFunction {name}"),
        message: format!(
            "no SHA-256 of the code in CodeSha256 {:?} / image URI",
            c.code_sha256().unwrap_or("")
        ),
    })?;
    if name.is_empty() {
        return Err(ReporterError::Decode {
            service: "Lambda",
            url: "GetFunction".into(),
            message: "a function without FunctionName".into(),
        });
    }
    Ok(ReportedInstance {
        digests: BTreeMap::from([(name.to_string(), fingerprint)]),
        creation_timestamp: c.last_modified().and_then(parse_last_modified),
        instance: c.function_arn().map(str::to_string),
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

/// A function's configuration and, for an image, where its code is.
async fn get_function(
    client: &aws_sdk_lambda::Client,
    service: &Service,
    name: &str,
) -> Result<(FunctionConfiguration, Option<FunctionCodeLocation>), ReporterError> {
    let out = client
        .get_function()
        .function_name(name)
        .send()
        .await
        .map_err(|e| service.error("GetFunction", e))?;
    let config = out.configuration.ok_or_else(|| ReporterError::Decode {
        service: "Lambda",
        url: format!("GetFunction {name}"),
        message: "no Configuration in the response".into(),
    })?;
    Ok((config, out.code))
}

/// Every function of the region, page after page (`NextMarker`).
async fn list_functions(
    client: &aws_sdk_lambda::Client,
    service: &Service,
) -> Result<Vec<FunctionConfiguration>, ReporterError> {
    client
        .list_functions()
        .into_paginator()
        .page_size(50)
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| service.error("ListFunctions", e))
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
