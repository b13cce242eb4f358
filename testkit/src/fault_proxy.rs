//! A fault-injecting HTTP proxy for tests, between the SDK clients and moto server, bound to
//! 127.0.0.1. Per call (its operation, what it asks, its attempt) it can throttle (with the error
//! shape of each JSON 1.1 API), answer 5xx, drop the connection or delay; everything else is
//! forwarded.
//! Operations are named from `X-Amz-Target` (JSON APIs) or the body's `Action` (Elastic Load
//! Balancing's Query protocol). CloudWatch's Smithy RPC v2 CBOR requests, which moto 5.2.5 does
//! not route, are translated to the JSON 1.0 protocol moto speaks, and the answers back.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::cbor_json;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Throttle,
    Status(u16),
    Drop,
    Delay(Duration),
    /// HTTP 403 `AccessDenied` in the Query protocol's XML (STS): what a role that may not be
    /// assumed answers, which moto never does (it lets any role be assumed).
    AccessDenied,
}

/// One request as a rule sees it.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    /// Named like the summary's `aws_calls` (`ecs:UpdateService`).
    pub operation: &'a str,
    /// Requests of this operation so far, this one included (arrival order: concurrent callers
    /// shuffle it, so a rule that must hold whatever the interleaving keys on what follows).
    pub n: u32,
    /// The SDK's attempt number of this call (`amz-sdk-request: attempt=N`), 1 for the first.
    pub attempt: u32,
    /// Which call this is, from what it asks (operation and body): the same for every attempt of
    /// it, and in every run of the test.
    pub key: u64,
    /// How many times this same request was sent as a new call, this one included: 1 for the
    /// first call, 2 when a later pass of the run sends it again.
    pub sent: u32,
    /// The request body (JSON for the JSON APIs), to aim at one resource.
    pub body: &'a str,
}

/// `call -> fault`.
pub type Rule = Arc<dyn Fn(&Call) -> Option<Fault> + Send + Sync>;

pub struct FaultProxy {
    pub endpoint: String,
    /// Faults injected so far, per operation (delays not counted).
    pub injected: Arc<Mutex<BTreeMap<String, u32>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultProxy {
    pub async fn start(upstream_port: u16, rule: Rule) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let injected = Arc::new(Mutex::new(BTreeMap::new()));
        let calls = Arc::new(Mutex::new(Counts::default()));
        let counted = injected.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (rule, calls, counted) = (rule.clone(), calls.clone(), counted.clone());
                tokio::spawn(async move {
                    let _ = serve(client, upstream_port, rule, calls, counted).await;
                });
            }
        });
        FaultProxy { endpoint, injected, task }
    }

    pub fn injected(&self) -> BTreeMap<String, u32> {
        self.injected.lock().unwrap().clone()
    }
}

/// One request per connection; the answer says `Connection: close`, so clients reconnect.
/// What the proxy has seen: requests per operation, and first attempts per request key.
#[derive(Default)]
struct Counts {
    per_operation: BTreeMap<String, u32>,
    sent: BTreeMap<u64, u32>,
}

/// FNV-1a with a final mix (so `key % 100` is even): stable across runs, unlike the standard
/// library's hasher.
fn fnv(parts: &[&[u8]]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in parts.iter().flat_map(|p| p.iter()) {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    hash ^ (hash >> 33)
}

async fn serve(
    mut client: TcpStream,
    upstream_port: u16,
    rule: Rule,
    calls: Arc<Mutex<Counts>>,
    injected: Arc<Mutex<BTreeMap<String, u32>>>,
) -> std::io::Result<()> {
    let request = read_request(&mut client).await?;
    let head =
        String::from_utf8_lossy(&request[..request.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(0)]).to_string();
    let operation = cbor_operation(&request)
        .map(|target| operation_name(&target))
        .or_else(|| {
            head.lines()
                .find_map(|l| {
                    l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("x-amz-target")).map(|(_, v)| v.trim())
                })
                .map(operation_name)
        })
        .or_else(|| query_action(&request))
        .unwrap_or_else(|| "unknown".into());
    let attempt = head
        .lines()
        .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("amz-sdk-request")).map(|(_, v)| v))
        .and_then(|v| v.split(';').find_map(|p| p.trim().strip_prefix("attempt=")?.parse().ok()))
        .unwrap_or(1);
    let body_start = request.windows(4).position(|w| w == b"\r\n\r\n").map_or(request.len(), |p| p + 4);
    let body = String::from_utf8_lossy(&request[body_start..]).to_string();
    let key = fnv(&[operation.as_bytes(), b"\n", body.as_bytes()]);
    let (n, sent) = {
        let mut calls = calls.lock().unwrap();
        let n = calls.per_operation.entry(operation.clone()).or_insert(0);
        *n += 1;
        let n = *n;
        let sent = calls.sent.entry(key).or_insert(0);
        if attempt == 1 {
            *sent += 1;
        }
        (n, (*sent).max(1))
    };
    let fault = rule(&Call { operation: &operation, n, attempt, key, sent, body: &body });
    if matches!(fault, Some(Fault::Throttle | Fault::Status(_) | Fault::Drop | Fault::AccessDenied)) {
        *injected.lock().unwrap().entry(operation.clone()).or_insert(0) += 1;
    }
    match fault {
        Some(Fault::Drop) => return Ok(()),
        Some(Fault::Throttle) => {
            // The Tagging API models ThrottledException; ECS and Application Auto Scaling answer
            // ThrottlingException. Both are HTTP 400 with the code in `__type`.
            let code = if operation.starts_with("tagging:") { "ThrottledException" } else { "ThrottlingException" };
            return respond(&mut client, 400, "Bad Request", code, "Rate exceeded").await;
        }
        Some(Fault::Status(status)) => {
            return respond(&mut client, status, "Service Unavailable", "ServiceUnavailableException", "injected")
                .await;
        }
        Some(Fault::AccessDenied) => return refuse_access(&mut client).await,
        Some(Fault::Delay(d)) => tokio::time::sleep(d).await,
        None => {}
    }
    let cbor = cbor_operation(&request);
    let request = match &cbor {
        Some(op) => cbor_json::request_as_json(&request, op),
        None => request,
    };
    let mut upstream = TcpStream::connect(("127.0.0.1", upstream_port)).await?;
    upstream.write_all(&request).await?;
    let mut response = Vec::new();
    upstream.read_to_end(&mut response).await?;
    if cbor.is_some() {
        response = cbor_json::response_as_cbor(&response);
    }
    client.write_all(&with_connection_close(response)).await?;
    client.shutdown().await
}

/// The operation of a Smithy RPC v2 CBOR request (`POST /service/<service>/operation/<op>`).
fn cbor_operation(request: &[u8]) -> Option<String> {
    let line = request.split(|b| *b == b'\r').next()?;
    let path = String::from_utf8_lossy(line).split(' ').nth(1)?.to_string();
    let (service, op) = path.strip_prefix("/service/")?.split_once("/operation/")?;
    Some(format!("{service}.{op}"))
}

/// `AmazonEC2ContainerServiceV20141113.UpdateService` -> `ecs:UpdateService`.
fn operation_name(target: &str) -> String {
    let (service, op) = target.split_once('.').unwrap_or(("", target));
    let prefix = if service.starts_with("AmazonEC2ContainerService") {
        "ecs"
    } else if service.starts_with("AnyScaleFrontendService") {
        "application-autoscaling"
    } else if service.starts_with("ResourceGroupsTaggingAPI") {
        "tagging"
    } else if service.starts_with("GraniteServiceVersion") {
        "cloudwatch"
    } else {
        service
    };
    format!("{prefix}:{op}")
}

/// Elastic Load Balancing and STS speak the Query protocol: the operation is the body's `Action`,
/// the service the one the request is signed for (`Action=CreateRule&...` signed
/// `…/elasticloadbalancing/aws4_request` -> `elasticloadbalancing:CreateRule`).
fn query_action(request: &[u8]) -> Option<String> {
    let end = request.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&request[..end]);
    let body = String::from_utf8_lossy(&request[end + 4..]);
    let action = body.split('&').find_map(|pair| pair.strip_prefix("Action="))?;
    let service = head
        .lines()
        .find(|l| l.to_lowercase().starts_with("authorization:"))
        .and_then(|l| l.split("Credential=").nth(1))
        .and_then(|c| c.split('/').nth(3))
        .unwrap_or("elasticloadbalancing");
    Some(format!("{service}:{action}"))
}

async fn refuse_access(client: &mut TcpStream) -> std::io::Result<()> {
    let body = "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type>\
<Code>AccessDenied</Code><Message>User is not authorized to perform: sts:AssumeRole (injected)</Message></Error>\
<RequestId>injected</RequestId></ErrorResponse>";
    let response = format!(
        "HTTP/1.1 403 Forbidden\r\ncontent-type: text/xml\r\nx-amzn-requestid: injected\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    client.write_all(response.as_bytes()).await?;
    client.shutdown().await
}

/// One HTTP/1.1 request read whole: its head and as much body as `content-length` says.
pub async fn read_request(client: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = client.read(&mut chunk).await?;
        if n == 0 {
            return Ok(buf);
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + length {
                return Ok(buf);
            }
        }
    }
}

async fn respond(client: &mut TcpStream, status: u16, reason: &str, code: &str, message: &str) -> std::io::Result<()> {
    let body = format!(r#"{{"__type":"{code}","message":"{message}"}}"#);
    let response = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/x-amz-json-1.1\r\nx-amzn-errortype: {code}\r\nx-amzn-requestid: injected\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    client.write_all(response.as_bytes()).await?;
    client.shutdown().await
}

pub(crate) fn with_connection_close(response: Vec<u8>) -> Vec<u8> {
    let Some(end) = response.windows(4).position(|w| w == b"\r\n\r\n") else { return response };
    let head = String::from_utf8_lossy(&response[..end]).to_string();
    if head.to_lowercase().contains("\nconnection: close") {
        return response;
    }
    let mut out = head.into_bytes();
    out.extend_from_slice(b"\r\nconnection: close");
    out.extend_from_slice(&response[end..]);
    out
}
