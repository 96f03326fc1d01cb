//! A tiny HTTP/1.1 server serving canned answers, over TCP or a Unix socket, that records
//! every request it gets.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// A request as the server received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }

    pub fn query(&self) -> &str {
        self.target.split_once('?').map(|(_, q)| q).unwrap_or("")
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }
}

/// An answer to send.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub chunked: bool,
}

impl Reply {
    pub fn json(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.into(),
            chunked: false,
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn chunked(mut self) -> Self {
        self.chunked = true;
        self
    }
}

pub type Handler = Arc<dyn Fn(&Recorded) -> Reply + Send + Sync>;

/// A running fake server.
pub struct Fake {
    pub url: String,
    pub socket: Option<PathBuf>,
    pub requests: Arc<Mutex<Vec<Recorded>>>,
    _dir: Option<tempfile::TempDir>,
}

impl Fake {
    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }
}

/// Serves `handler` on 127.0.0.1, one request per connection.
pub async fn serve_tcp(handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) -> Fake {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let requests = Arc::new(Mutex::new(Vec::new()));
    let handler: Handler = Arc::new(handler);
    let rec = requests.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(handle(stream, handler.clone(), rec.clone()));
        }
    });
    Fake {
        url,
        socket: None,
        requests,
        _dir: None,
    }
}

/// Serves `handler` on a Unix socket in a fresh temporary directory.
pub async fn serve_unix(handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) -> Fake {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("docker.sock");
    let listener = tokio::net::UnixListener::bind(&path).unwrap();
    let requests = Arc::new(Mutex::new(Vec::new()));
    let handler: Handler = Arc::new(handler);
    let rec = requests.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(handle(stream, handler.clone(), rec.clone()));
        }
    });
    Fake {
        url: String::new(),
        socket: Some(path),
        requests,
        _dir: Some(dir),
    }
}

async fn handle<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    handler: Handler,
    requests: Arc<Mutex<Vec<Recorded>>>,
) {
    let mut data = Vec::new();
    let mut buf = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
    };
    let head = String::from_utf8_lossy(&data[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or_default().split(' ');
    let method = first.next().unwrap_or_default().to_string();
    let target = first.next().unwrap_or_default().to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = data[head_end + 4..].to_vec();
    while body.len() < length {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => body.extend_from_slice(&buf[..n]),
        }
    }
    let request = Recorded {
        method,
        target,
        headers,
        body,
    };
    requests.lock().unwrap().push(request.clone());
    let reply = handler(&request);
    let mut out = format!(
        "HTTP/1.1 {} Whatever\r\nConnection: close\r\n",
        reply.status
    );
    for (n, v) in &reply.headers {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    let mut bytes;
    if reply.chunked {
        out.push_str("Transfer-Encoding: chunked\r\n\r\n");
        bytes = out.into_bytes();
        for chunk in reply.body.chunks(700) {
            bytes.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            bytes.extend_from_slice(chunk);
            bytes.extend_from_slice(b"\r\n");
        }
        bytes.extend_from_slice(b"0\r\n\r\n");
    } else {
        out.push_str(&format!("Content-Length: {}\r\n\r\n", reply.body.len()));
        bytes = out.into_bytes();
        bytes.extend_from_slice(&reply.body);
    }
    let _ = stream.write_all(&bytes).await;
    let _ = stream.shutdown().await;
}

/// A fixture file's text.
pub fn fixture(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fixtures")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// An address on which nothing listens.
pub async fn closed_port_url() -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    format!("http://{addr}")
}

/// Checks that `req` carries a SigV4 `Authorization` header signed with the access key id of
/// `creds` for `region`/`service`, and the session token if there is one. The signature itself
/// is the SDK's business. Returns the header.
pub fn assert_signed(
    req: &Recorded,
    creds: &evident_reporters::Credentials,
    region: &str,
    service: &str,
) -> String {
    let auth = req
        .header("Authorization")
        .expect("Authorization header")
        .to_string();
    let amz_date = req.header("X-Amz-Date").expect("X-Amz-Date header");
    assert_eq!(amz_date.len(), 16, "{amz_date}");
    let rest = auth
        .strip_prefix("AWS4-HMAC-SHA256 Credential=")
        .unwrap_or_else(|| panic!("bad scheme: {auth}"));
    let (credential, rest) = rest.split_once(", SignedHeaders=").expect("SignedHeaders");
    let (signed, signature) = rest.split_once(", Signature=").expect("Signature");
    assert_eq!(
        credential,
        format!(
            "{}/{}/{region}/{service}/aws4_request",
            creds.access_key_id,
            &amz_date[..8]
        )
    );
    assert_eq!(signature.len(), 64);
    assert!(signature
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    let signed: Vec<&str> = signed.split(';').collect();
    assert!(
        signed.contains(&"host") && signed.contains(&"x-amz-date"),
        "{signed:?}"
    );
    assert_eq!(
        req.header("X-Amz-Security-Token").map(str::to_string),
        creds.session_token
    );
    assert_eq!(
        signed.contains(&"x-amz-security-token"),
        creds.session_token.is_some(),
        "{signed:?}"
    );
    auth
}

/// Test credentials.
pub fn test_credentials(session_token: Option<&str>) -> evident_reporters::Credentials {
    evident_reporters::Credentials {
        access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
        secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
        session_token: session_token.map(str::to_string),
    }
}
