//! AWS Signature Version 4 (header signing) for the JSON APIs the reporters call.
//!
//! Follows the published algorithm: canonical request → string to sign → signing key derived
//! from the secret by HMAC chain over date, region, service and `aws4_request`. The path is
//! URI-encoded as given (so a path that is already percent-encoded for the wire is encoded a
//! second time, as every service but S3 expects).

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::credentials::Credentials;

const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// The parts of a request that the signature covers.
#[derive(Debug, Clone)]
pub struct SignableRequest<'a> {
    pub method: &'a str,
    /// The path, not yet encoded for the canonical request (`/` for the root).
    pub path: &'a str,
    /// Decoded query parameters, in any order.
    pub query: &'a [(String, String)],
    /// Headers to sign, `host` included, names in any case.
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

/// The headers to add to a request to sign it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// `X-Amz-Date`, `YYYYMMDDTHHMMSSZ`.
    pub amz_date: String,
    /// `X-Amz-Security-Token`, for temporary credentials.
    pub security_token: Option<String>,
    /// `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`.
    pub authorization: String,
}

/// Signs `request` for `service` in `region` at time `at`.
///
/// `x-amz-date` (and `x-amz-security-token` when the credentials have one) are added to the
/// signed headers; the caller sends them with the values returned.
pub fn sign(
    request: &SignableRequest<'_>,
    credentials: &Credentials,
    region: &str,
    service: &str,
    at: jiff::Timestamp,
) -> Signature {
    let amz_date = at.strftime("%Y%m%dT%H%M%SZ").to_string();
    let date = &amz_date[..8];
    let mut headers: Vec<(String, String)> = request
        .headers
        .iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
        .collect();
    headers.push(("x-amz-date".into(), amz_date.clone()));
    if let Some(t) = &credentials.session_token {
        headers.push(("x-amz-security-token".into(), t.clone()));
    }
    let (canonical, signed_headers) = canonical_request(
        &SignableRequest {
            headers: &headers,
            ..request.clone()
        },
        &hex::encode(Sha256::digest(request.body)),
    );
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let to_sign = string_to_sign(&amz_date, &scope, &canonical);
    let key = signing_key(&credentials.secret_access_key, date, region, service);
    let signature = hex::encode(hmac(&key, to_sign.as_bytes()));
    Signature {
        authorization: format!(
            "{ALGORITHM} Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
            credentials.access_key_id
        ),
        amz_date,
        security_token: credentials.session_token.clone(),
    }
}

/// The canonical request and the `SignedHeaders` list.
pub fn canonical_request(request: &SignableRequest<'_>, payload_hash: &str) -> (String, String) {
    let mut query: Vec<(String, String)> = request
        .query
        .iter()
        .map(|(k, v)| (uri_encode(k, true), uri_encode(v, true)))
        .collect();
    query.sort();
    let query = query
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let mut headers: Vec<(String, String)> = request
        .headers
        .iter()
        .map(|(n, v)| {
            let value = v.split_whitespace().collect::<Vec<_>>().join(" ");
            (n.to_ascii_lowercase(), value)
        })
        .collect();
    headers.sort_by(|a, b| a.0.cmp(&b.0));
    // Repeated headers are joined with commas, in the order given.
    let mut merged: Vec<(String, String)> = Vec::new();
    for (n, v) in headers {
        match merged.last_mut() {
            Some((last, value)) if *last == n => {
                value.push(',');
                value.push_str(&v);
            }
            _ => merged.push((n, v)),
        }
    }
    let canonical_headers: String = merged.iter().map(|(n, v)| format!("{n}:{v}\n")).collect();
    let signed = merged
        .iter()
        .map(|(n, _)| n.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let path = if request.path.is_empty() {
        "/"
    } else {
        request.path
    };
    let canonical = format!(
        "{}\n{}\n{query}\n{canonical_headers}\n{signed}\n{payload_hash}",
        request.method,
        uri_encode(path, false)
    );
    (canonical, signed)
}

/// The string to sign for a canonical request.
pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    )
}

/// The key derived from the secret for one day, region and service.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> Vec<u8> {
    let k = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k = hmac(&k, region.as_bytes());
    let k = hmac(&k, service.as_bytes());
    hmac(&k, b"aws4_request")
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

/// RFC 3986 encoding as SigV4 wants it: everything but `A-Z a-z 0-9 - _ . ~` is `%XX`;
/// `/` too unless `encode_slash` is false.
pub fn uri_encode(s: &str, encode_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b'/' if !encode_slash => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The credentials, date, region and service of AWS's SigV4 test suite.
    fn suite() -> (Credentials, jiff::Timestamp) {
        (
            Credentials {
                access_key_id: "AKIDEXAMPLE".into(),
                secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
                session_token: None,
            },
            "2015-08-30T12:36:00Z".parse().unwrap(),
        )
    }

    fn host() -> Vec<(String, String)> {
        vec![("Host".into(), "example.amazonaws.com".into())]
    }

    /// `get-vanilla` from AWS's SigV4 test suite, each step checked.
    #[test]
    fn get_vanilla() {
        let (creds, at) = suite();
        let headers = vec![
            ("Host".to_string(), "example.amazonaws.com".to_string()),
            ("X-Amz-Date".to_string(), "20150830T123600Z".to_string()),
        ];
        let req = SignableRequest {
            method: "GET",
            path: "/",
            query: &[],
            headers: &headers,
            body: b"",
        };
        let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let (creq, signed) = canonical_request(&req, empty);
        assert_eq!(
            creq,
            "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(signed, "host;x-amz-date");
        let sts = string_to_sign(
            "20150830T123600Z",
            "20150830/us-east-1/service/aws4_request",
            &creq,
        );
        assert_eq!(
            sts,
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\nbb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"
        );
        let sig = sign(
            &SignableRequest {
                headers: &host(),
                ..req
            },
            &creds,
            "us-east-1",
            "service",
            at,
        );
        assert_eq!(sig.amz_date, "20150830T123600Z");
        assert_eq!(
            sig.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
    }

    /// More cases of the suite: query ordering, POST, UTF-8 path, form body.
    #[test]
    fn suite_cases() {
        let (creds, at) = suite();
        let h = host();
        let form = vec![
            (
                "Content-Type".to_string(),
                "application/x-www-form-urlencoded".to_string(),
            ),
            ("Host".to_string(), "example.amazonaws.com".to_string()),
        ];
        let q = vec![
            ("Param2".to_string(), "value2".to_string()),
            ("Param1".to_string(), "value1".to_string()),
        ];
        let cases: Vec<(SignableRequest, &str)> = vec![
            (
                SignableRequest {
                    method: "GET",
                    path: "/",
                    query: &q,
                    headers: &h,
                    body: b"",
                },
                "host;x-amz-date, Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
            ),
            (
                SignableRequest {
                    method: "POST",
                    path: "/",
                    query: &[],
                    headers: &h,
                    body: b"",
                },
                "host;x-amz-date, Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
            ),
            (
                SignableRequest {
                    method: "GET",
                    path: "/\u{1234}",
                    query: &[],
                    headers: &h,
                    body: b"",
                },
                "host;x-amz-date, Signature=8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85",
            ),
            (
                SignableRequest {
                    method: "POST",
                    path: "/",
                    query: &[],
                    headers: &form,
                    body: b"Param1=value1",
                },
                "content-type;host;x-amz-date, Signature=ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a",
            ),
        ];
        for (req, want) in cases {
            let sig = sign(&req, &creds, "us-east-1", "service", at);
            assert!(
                sig.authorization
                    .ends_with(&format!("SignedHeaders={want}")),
                "{} {}: {}",
                req.method,
                req.path,
                sig.authorization
            );
        }
    }

    #[test]
    fn session_token_is_signed() {
        let (mut creds, at) = suite();
        creds.session_token = Some("TOKEN".into());
        let h = host();
        let req = SignableRequest {
            method: "GET",
            path: "/",
            query: &[],
            headers: &h,
            body: b"",
        };
        let sig = sign(&req, &creds, "us-east-1", "service", at);
        assert_eq!(sig.security_token.as_deref(), Some("TOKEN"));
        assert!(sig
            .authorization
            .contains("SignedHeaders=host;x-amz-date;x-amz-security-token,"));
    }

    #[test]
    fn encoding() {
        assert_eq!(uri_encode("a b/c:d~", false), "a%20b/c%3Ad~");
        assert_eq!(uri_encode("a/b", true), "a%2Fb");
        assert_eq!(uri_encode("%3A", false), "%253A");
    }
}
