//! A small signed-request client for AWS APIs: region, endpoint, credentials, SigV4,
//! retries on throttling, and AWS error decoding (JSON, or the XML of query APIs such as STS).
//! Enough for ECS, Lambda and STS, without the SDK.

pub mod credentials;
pub mod sigv4;
mod xml;

use std::time::Duration;

use reqwest::header::HeaderMap;

use crate::error::{snippet, ReporterError};
use credentials::{Credentials, Env, ProcessEnv};

/// How many times a throttled, 5xx or failed-to-connect request is tried in all.
const ATTEMPTS: u32 = 3;
/// The pause before the first retry; each later one is four times longer.
const FIRST_RETRY: Duration = Duration::from_millis(250);

/// Where and as whom to call an AWS API; every field is optional.
#[derive(Debug, Clone, Default)]
pub(crate) struct AwsSettings {
    /// The region; default: `AWS_REGION`, `AWS_DEFAULT_REGION`, then the profile's `region`.
    pub(crate) region: Option<String>,
    /// The API endpoint (`http://localhost:4566`); default: `AWS_ENDPOINT_URL_<SERVICE>`,
    /// `AWS_ENDPOINT_URL`, then the public endpoint of the region.
    pub(crate) endpoint: Option<String>,
    /// Credentials to use instead of looking them up (see [`credentials`] for the chain).
    pub(crate) credentials: Option<Credentials>,
}

/// A client for one AWS service in one region.
pub(crate) struct AwsClient {
    http: reqwest::Client,
    /// `None` for the few unsigned calls (STS `AssumeRoleWithWebIdentity`).
    credentials: Option<Credentials>,
    region: String,
    /// The SigV4 service name and endpoint prefix (`ecs`, `lambda`).
    signing_name: &'static str,
    /// The service as users know it, for messages (`ECS`, `Lambda`).
    pub(crate) label: &'static str,
    endpoint: reqwest::Url,
}

/// A successful response.
pub(crate) struct AwsResponse {
    pub url: String,
    pub body: Vec<u8>,
}

impl AwsClient {
    /// Resolves region, endpoint and credentials for `signing_name`.
    pub(crate) async fn new(
        label: &'static str,
        signing_name: &'static str,
        settings: &AwsSettings,
    ) -> Result<Self, ReporterError> {
        Self::new_with(label, signing_name, settings, &ProcessEnv).await
    }

    async fn new_with(
        label: &'static str,
        signing_name: &'static str,
        settings: &AwsSettings,
        env: &dyn Env,
    ) -> Result<Self, ReporterError> {
        let credentials = match &settings.credentials {
            Some(c) => c.clone(),
            None => credentials::resolve_with(env).await?,
        };
        Self::build(label, signing_name, settings, env, Some(credentials))
    }

    /// A client that signs with `credentials` (or not at all), without looking credentials
    /// up: the credential chain itself calls STS through this.
    pub(crate) fn build(
        label: &'static str,
        signing_name: &'static str,
        settings: &AwsSettings,
        env: &dyn Env,
        credentials: Option<Credentials>,
    ) -> Result<Self, ReporterError> {
        let (region, endpoint) = locate(label, signing_name, settings, env)?;
        Ok(Self {
            http: crate::http::build(crate::http::builder())?,
            credentials,
            region,
            signing_name,
            label,
            endpoint,
        })
    }

    /// Sends a signed request; `path` is already percent-encoded. Retries throttling, 5xx and
    /// connection failures; maps other failures to typed errors.
    pub(crate) async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, String)],
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> Result<AwsResponse, ReporterError> {
        let mut url = self.endpoint.clone();
        let base = url.path().trim_end_matches('/').to_string();
        url.set_path(&format!("{base}{path}"));
        if query.is_empty() {
            url.set_query(None);
        } else {
            url.query_pairs_mut()
                .clear()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        let shown = url.to_string();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let last = attempt >= ATTEMPTS;
            let retryable = match self.send_once(&method, &url, headers, &body).await {
                Ok((status, _, body)) if (200..300).contains(&status) => {
                    return Ok(AwsResponse { url: shown, body });
                }
                Ok((status, headers, body)) => {
                    let err = self.error(status, &headers, &body, &shown);
                    let throttled = matches!(&err, ReporterError::Aws { code, .. }
                        if code.contains("Throttl") || code.contains("TooManyRequests") || code == "RequestLimitExceeded");
                    if last || !(throttled || status == 429 || status >= 500) {
                        return Err(err);
                    }
                    err
                }
                Err(e) => {
                    let err = crate::http::unreachable(self.label, &shown, &e);
                    if last {
                        return Err(err);
                    }
                    err
                }
            };
            tracing::debug!(error = %retryable, attempt, "retrying {}", self.label);
            tokio::time::sleep(FIRST_RETRY * 4u32.pow(attempt - 1)).await;
        }
    }

    async fn send_once(
        &self,
        method: &reqwest::Method,
        url: &reqwest::Url,
        headers: &[(&str, String)],
        body: &[u8],
    ) -> Result<(u16, HeaderMap, Vec<u8>), reqwest::Error> {
        let host = match url.port() {
            Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
            None => url.host_str().unwrap_or_default().to_string(),
        };
        let mut to_sign: Vec<(String, String)> = vec![("host".into(), host)];
        to_sign.extend(headers.iter().map(|(k, v)| (k.to_string(), v.clone())));
        let query: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let mut request = self.http.request(method.clone(), url.clone());
        if let Some(credentials) = &self.credentials {
            let signature = sigv4::sign(
                &sigv4::SignableRequest {
                    method: method.as_str(),
                    path: url.path(),
                    query: &query,
                    headers: &to_sign,
                    body,
                },
                credentials,
                &self.region,
                self.signing_name,
                jiff::Timestamp::now(),
            );
            request = request
                .header("X-Amz-Date", &signature.amz_date)
                .header("Authorization", &signature.authorization);
            if let Some(t) = &signature.security_token {
                request = request.header("X-Amz-Security-Token", t);
            }
        }
        for (k, v) in headers {
            request = request.header(*k, v);
        }
        if !body.is_empty() || *method == reqwest::Method::POST {
            request = request.body(body.to_vec());
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await?.to_vec();
        Ok((status, headers, body))
    }

    /// An AWS error response as a typed error: the error code from `x-amzn-ErrorType` or the
    /// body's `__type`/`code` (JSON) or `<Code>` (XML), and its `message`/`<Message>`.
    fn error(&self, status: u16, headers: &HeaderMap, body: &[u8], url: &str) -> ReporterError {
        let json: Option<serde_json::Value> = serde_json::from_slice(body).ok();
        let xml = std::str::from_utf8(body).ok().filter(|_| json.is_none());
        let field = |names: &[&str]| {
            names.iter().find_map(|n| {
                let value = match (&json, xml) {
                    (Some(json), _) => json.get(*n)?.as_str().map(str::to_string),
                    (None, Some(xml)) => xml::text(xml, n),
                    (None, None) => None,
                };
                value.filter(|s| !s.is_empty())
            })
        };
        let code = headers
            .get("x-amzn-errortype")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .or_else(|| field(&["__type", "code", "Code"]))
            .map(|c| {
                // `ns#Code`, `Code:http://…`
                let c = c.rsplit('#').next().unwrap_or(&c).to_string();
                c.split(':').next().unwrap_or(&c).to_string()
            });
        let message = field(&["message", "Message", "errorMessage"]);
        match code {
            Some(code) => ReporterError::Aws {
                service: self.label,
                status,
                code,
                message: message.unwrap_or_else(|| "(no message)".into()),
            },
            None => ReporterError::Status {
                service: self.label,
                url: url.to_string(),
                status,
                message: message.unwrap_or_else(|| snippet(body)),
            },
        }
    }
}

/// The region and endpoint URL of `signing_name` (see [`AwsSettings`]).
fn locate(
    label: &'static str,
    signing_name: &'static str,
    settings: &AwsSettings,
    env: &dyn Env,
) -> Result<(String, reqwest::Url), ReporterError> {
    let region = match settings.region.clone().filter(|r| !r.is_empty()) {
        Some(r) => r,
        None => credentials::region_with(env).ok_or_else(|| {
            ReporterError::Config(format!(
                "no AWS region for {label}: pass a region or set AWS_REGION"
            ))
        })?,
    };
    if !region
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(ReporterError::Config(format!(
            "{region:?} is not an AWS region"
        )));
    }
    let endpoint = settings
        .endpoint
        .clone()
        .or_else(|| {
            env.var(&format!(
                "AWS_ENDPOINT_URL_{}",
                signing_name.to_ascii_uppercase()
            ))
        })
        .or_else(|| env.var("AWS_ENDPOINT_URL"))
        .unwrap_or_else(|| {
            let suffix = if region.starts_with("cn-") {
                "amazonaws.com.cn"
            } else {
                "amazonaws.com"
            };
            format!("https://{signing_name}.{region}.{suffix}")
        });
    let endpoint = reqwest::Url::parse(endpoint.trim_end_matches('/'))
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
        .ok_or_else(|| {
            ReporterError::Config(format!("{endpoint:?} is not a valid {label} endpoint URL"))
        })?;
    Ok((region, endpoint))
}

/// Whole seconds from an AWS JSON timestamp (epoch seconds, possibly fractional).
pub(crate) fn epoch_seconds(v: Option<f64>) -> Option<i64> {
    v.filter(|s| s.is_finite() && *s > 0.0)
        .map(|s| s.floor() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn creds() -> Credentials {
        Credentials {
            access_key_id: "AKID".into(),
            secret_access_key: "S".into(),
            session_token: None,
        }
    }

    #[tokio::test]
    async fn endpoint_and_region_resolution() {
        let none: HashMap<&str, String> = HashMap::from([("HOME", "/nonexistent".to_string())]);
        let s = AwsSettings {
            region: Some("eu-central-1".into()),
            credentials: Some(creds()),
            ..Default::default()
        };
        let c = AwsClient::new_with("ECS", "ecs", &s, &none).await.unwrap();
        assert_eq!(
            c.endpoint.as_str(),
            "https://ecs.eu-central-1.amazonaws.com/"
        );
        let cn = AwsSettings {
            region: Some("cn-north-1".into()),
            ..s.clone()
        };
        let c = AwsClient::new_with("ECS", "ecs", &cn, &none).await.unwrap();
        assert_eq!(
            c.endpoint.as_str(),
            "https://ecs.cn-north-1.amazonaws.com.cn/"
        );
        let env: HashMap<&str, String> = HashMap::from([
            ("AWS_ENDPOINT_URL", "http://localhost:4566".to_string()),
            (
                "AWS_ENDPOINT_URL_LAMBDA",
                "http://localhost:9001/".to_string(),
            ),
            ("AWS_DEFAULT_REGION", "us-west-2".to_string()),
        ]);
        let s = AwsSettings {
            credentials: Some(creds()),
            ..Default::default()
        };
        let c = AwsClient::new_with("ECS", "ecs", &s, &env).await.unwrap();
        assert_eq!(
            (c.endpoint.as_str(), c.region.as_str()),
            ("http://localhost:4566/", "us-west-2")
        );
        let c = AwsClient::new_with("Lambda", "lambda", &s, &env)
            .await
            .unwrap();
        assert_eq!(c.endpoint.as_str(), "http://localhost:9001/");
        let e = AwsClient::new_with("ECS", "ecs", &s, &none)
            .await
            .err()
            .unwrap();
        assert!(e.to_string().contains("no AWS region"), "{e}");
        let bad = AwsSettings {
            region: Some("us-east-1".into()),
            endpoint: Some("not a url".into()),
            credentials: Some(creds()),
        };
        assert!(matches!(
            AwsClient::new_with("ECS", "ecs", &bad, &none).await,
            Err(ReporterError::Config(_))
        ));
    }

    #[test]
    fn timestamps() {
        assert_eq!(epoch_seconds(Some(1_718_000_000.789)), Some(1_718_000_000));
        assert_eq!(epoch_seconds(None), None);
        assert_eq!(epoch_seconds(Some(f64::NAN)), None);
    }
}
