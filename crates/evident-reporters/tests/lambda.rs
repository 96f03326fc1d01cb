mod common;

use common::{
    assert_signed, closed_port_url, fixture, serve_tcp, test_credentials, Recorded, Reply,
};
use evident_reporters::{lambda, Collector, LambdaOptions, ReporterError};

/// sha256 of the Zip package, whose base64 Lambda gives as `CodeSha256`.
const ZIP: &str = "4a70fe9aa6436e02c2dea340fbd1e352e4ef2d8ce6ca52ad25d4b95471fc8bf2";
const IMAGE: &str = "05eeec2d70845694d3ba89ad9e1c34b6b4d806275c3c63b84241a40ae4591ca4";
const ARN: &str = "arn:aws:lambda:eu-west-1:123456789012:function:";

fn lambda_api(req: &Recorded) -> Reply {
    let not_found = || {
        Reply::json(404, fixture("lambda/not-found.json"))
            .header("x-amzn-ErrorType", "ResourceNotFoundException")
    };
    match req.path() {
        "/2015-03-31/functions/billing-webhook" => {
            Reply::json(200, fixture("lambda/get-function-zip.json"))
        }
        "/2015-03-31/functions/thumbnailer"
        | "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aeu-west-1%3A123456789012%3Afunction%3Athumbnailer" => {
            Reply::json(200, fixture("lambda/get-function-image.json"))
        }
        // ListFunctions (the SDK leaves out the model's trailing slash).
        "/2015-03-31/functions" | "/2015-03-31/functions/" if req.query().contains("Marker=") => {
            Reply::json(200, fixture("lambda/list-functions-page2.json"))
        }
        "/2015-03-31/functions" | "/2015-03-31/functions/" => {
            Reply::json(200, fixture("lambda/list-functions-page1.json"))
        }
        _ => not_found(),
    }
    .header("x-amzn-RequestId", "c0ffee00-1234-4abc-9def-0123456789ab")
}

fn options(url: &str, names: &[&str]) -> LambdaOptions {
    LambdaOptions {
        function_names: names.iter().map(|s| s.to_string()).collect(),
        region: Some("eu-west-1".into()),
        endpoint: Some(url.to_string()),
        credentials: Some(test_credentials(None)),
    }
}

type Row = (Vec<(String, String)>, Option<i64>, Option<String>);

fn rows(report: &evident_core::snapshot::EnvironmentReport) -> Vec<Row> {
    report
        .artifacts
        .iter()
        .map(|i| {
            (
                i.digests.clone().into_iter().collect(),
                i.creation_timestamp,
                i.instance.clone(),
            )
        })
        .collect()
}

fn expected() -> Vec<Row> {
    vec![
        (
            vec![("billing-webhook".into(), ZIP.into())],
            Some(1716991391),
            Some(format!("{ARN}billing-webhook")),
        ),
        (
            vec![("thumbnailer".into(), IMAGE.into())],
            Some(1717316142),
            Some(format!("{ARN}thumbnailer")),
        ),
    ]
}

#[tokio::test]
async fn zip_and_image_functions() {
    let fake = serve_tcp(lambda_api).await;
    let report = lambda::collect(&options(
        &fake.url,
        &["billing-webhook", &format!("{ARN}thumbnailer")],
    ))
    .await
    .unwrap();
    assert_eq!(report.kind.as_deref(), Some("lambda"));
    assert_eq!(rows(&report), expected());

    let reqs = fake.requests();
    assert_eq!(reqs.len(), 2);
    // An ARN is percent-encoded in the path, and the signature still verifies.
    assert_eq!(
        reqs[1].path(),
        "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aeu-west-1%3A123456789012%3Afunction%3Athumbnailer"
    );
    for r in &reqs {
        assert_eq!(r.method, "GET");
        assert_signed(r, &test_credentials(None), "eu-west-1", "lambda");
    }
}

#[tokio::test]
async fn every_function_when_none_is_named() {
    let fake = serve_tcp(lambda_api).await;
    let report = Collector::Lambda(options(&fake.url, &[]))
        .collect()
        .await
        .unwrap();
    assert_eq!(rows(&report), expected());
    // Two pages of ListFunctions; GetFunction only for the Image function.
    let targets: Vec<String> = fake.requests().iter().map(|r| r.target.clone()).collect();
    assert_eq!(
        targets,
        [
            "/2015-03-31/functions?MaxItems=50",
            "/2015-03-31/functions?Marker=YmlsbGluZy13ZWJob29rOjE3MTcwMDAwMDA%3D&MaxItems=50",
            "/2015-03-31/functions/thumbnailer",
        ]
    );
    for r in &fake.requests() {
        assert_signed(r, &test_credentials(None), "eu-west-1", "lambda");
    }
}

#[tokio::test]
async fn unknown_function_is_a_typed_error() {
    let fake = serve_tcp(lambda_api).await;
    let err = lambda::collect(&options(&fake.url, &["nope"]))
        .await
        .unwrap_err();
    match &err {
        ReporterError::Aws {
            service,
            status,
            code,
            message,
        } => {
            assert_eq!((*service, *status), ("Lambda", 404));
            assert_eq!(code, "ResourceNotFoundException");
            assert!(message.starts_with("Function not found"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn access_denied_403() {
    let fake = serve_tcp(|_| {
        Reply::json(403, fixture("lambda/access-denied.json")).header(
            "x-amzn-ErrorType",
            "AccessDeniedException:http://internal.amazon.com/coral/com.amazon.coral.service/",
        )
    })
    .await;
    let err = lambda::collect(&options(&fake.url, &["billing-webhook"]))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ReporterError::Aws { status: 403, code, .. } if code == "AccessDeniedException"),
        "{err:?}"
    );
    assert!(err.to_string().contains("lambda:GetFunction"), "{err}");
}

#[tokio::test]
async fn server_error_is_retried_then_typed() {
    let fake = serve_tcp(|_| {
        Reply::json(500, r#"{"Type":"Service","message":"Internal failure"}"#)
            .header("x-amzn-ErrorType", "ServiceException")
    })
    .await;
    let err = lambda::collect(&options(&fake.url, &["billing-webhook"]))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ReporterError::Aws { status: 500, code, .. } if code == "ServiceException"),
        "{err:?}"
    );
    assert_eq!(fake.requests().len(), 3);
}

#[tokio::test]
async fn malformed_responses() {
    let fake = serve_tcp(|_| Reply::json(200, "{\"Configuration\": ")).await;
    let err = lambda::collect(&options(&fake.url, &["billing-webhook"]))
        .await
        .unwrap_err();
    assert!(matches!(err, ReporterError::Decode { .. }), "{err:?}");

    // Valid JSON, but a CodeSha256 that is no SHA-256.
    let fake = serve_tcp(|_| {
        let body = fixture("lambda/get-function-zip.json").replace(
            "SnD+mqZDbgLC3qNA+9HjUuTvLYzmylKtJdS5VHH8i/I=",
            "bm90IGEgZGlnZXN0",
        );
        Reply::json(200, body)
    })
    .await;
    let err = lambda::collect(&options(&fake.url, &["billing-webhook"]))
        .await
        .unwrap_err();
    assert!(matches!(err, ReporterError::Decode { .. }), "{err:?}");
}

#[tokio::test]
async fn unreachable_endpoint() {
    let url = closed_port_url().await;
    let err = lambda::collect(&options(&url, &["billing-webhook"]))
        .await
        .unwrap_err();
    assert!(matches!(err, ReporterError::Unreachable { .. }), "{err:?}");
}
