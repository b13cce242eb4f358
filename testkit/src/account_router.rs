//! Many moto servers behind one endpoint, one per (account, region), for the many-accounts
//! benchmark: one moto process answers about one call at a time, so ten targets on one server
//! measure moto's queue, not the hub. STS calls go to the first server; the access key each
//! `AssumeRole` hands out is remembered with the role's account, and every later call signed with
//! it goes to the server of that account and the region it is signed for. Adds `latency` to every
//! call, like AWS's round trip. Bound to 127.0.0.1; stopped on drop.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::fault_proxy::{read_request, with_connection_close};

pub struct AccountRouter {
    pub endpoint: String,
    /// Calls routed, per `service:Action` for STS and per upstream port otherwise.
    pub calls: Arc<Mutex<BTreeMap<String, u32>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for AccountRouter {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Routes {
    sts_port: u16,
    /// (account, region) -> moto port.
    servers: BTreeMap<(String, String), u16>,
    /// Access key id -> the account whose role handed it out.
    keys: Mutex<BTreeMap<String, String>>,
    latency: Duration,
    calls: Arc<Mutex<BTreeMap<String, u32>>>,
}

impl AccountRouter {
    pub async fn start(sts_port: u16, servers: BTreeMap<(String, String), u16>, latency: Duration) -> AccountRouter {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let calls = Arc::new(Mutex::new(BTreeMap::new()));
        let routes =
            Arc::new(Routes { sts_port, servers, keys: Mutex::new(BTreeMap::new()), latency, calls: calls.clone() });
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let routes = routes.clone();
                tokio::spawn(async move {
                    let _ = serve(client, &routes).await;
                });
            }
        });
        AccountRouter { endpoint, calls, task }
    }
}

/// `Credential=AKID/date/region/service/aws4_request` of the request's signature.
fn credential(head: &str) -> Option<(String, String, String)> {
    let scope = head.lines().find(|l| l.to_lowercase().starts_with("authorization:"))?.split("Credential=").nth(1)?;
    let parts: Vec<&str> = scope.split(['/', ',']).collect();
    Some((parts.first()?.to_string(), parts.get(2)?.to_string(), parts.get(3)?.to_string()))
}

fn between<'a>(text: &'a str, open: &str, close: &str) -> Option<&'a str> {
    text.split(open).nth(1)?.split(close).next()
}

async fn serve(mut client: TcpStream, routes: &Routes) -> std::io::Result<()> {
    let request = read_request(&mut client).await?;
    let end = request.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(request.len());
    let head = String::from_utf8_lossy(&request[..end]).to_string();
    let body = String::from_utf8_lossy(&request[(end + 4).min(request.len())..]).to_string();
    let (key, region, service) = credential(&head).unwrap_or_default();
    let port = if service == "sts" {
        routes.sts_port
    } else {
        let account = routes.keys.lock().unwrap().get(&key).cloned().unwrap_or_default();
        match routes.servers.get(&(account, region)) {
            Some(port) => *port,
            None => routes.sts_port,
        }
    };
    let label = if service == "sts" {
        format!("sts:{}", between(&body, "Action=", "&").unwrap_or(""))
    } else {
        port.to_string()
    };
    *routes.calls.lock().unwrap().entry(label).or_insert(0) += 1;
    tokio::time::sleep(routes.latency).await;
    let mut upstream = TcpStream::connect(("127.0.0.1", port)).await?;
    upstream.write_all(&request).await?;
    let mut response = Vec::new();
    upstream.read_to_end(&mut response).await?;
    if service == "sts" && body.contains("Action=AssumeRole") {
        let text = String::from_utf8_lossy(&response);
        let account = between(&body, "RoleArn=arn%3Aaws%3Aiam%3A%3A", "%3A");
        if let (Some(id), Some(account)) = (between(&text, "<AccessKeyId>", "</AccessKeyId>"), account) {
            routes.keys.lock().unwrap().insert(id.to_string(), account.to_string());
        }
    }
    client.write_all(&with_connection_close(response)).await?;
    client.shutdown().await
}
