//! Smithy RPC v2 CBOR (what the Rust CloudWatch client speaks) to AWS JSON 1.0 (what moto
//! speaks for CloudWatch) and back, for the fault proxy. Timestamps are CBOR tag 1 (epoch
//! seconds) one way and plain epoch-second numbers the other; CloudWatch answers carry them in
//! `Timestamps`, and its doubles in `Values`.

use ciborium::Value as Cbor;
use serde_json::Value as Json;

/// The request with its CBOR body as JSON, posted to `/` with `X-Amz-Target: <target>`.
pub fn request_as_json(request: &[u8], target: &str) -> Vec<u8> {
    let (head, body) = split(request);
    let value: Cbor = if body.is_empty() { Cbor::Map(vec![]) } else { ciborium::from_reader(body).expect("CBOR body") };
    let json = serde_json::to_vec(&to_json(&value)).unwrap();
    let mut lines = head.lines();
    let first = lines.next().unwrap_or_default().replacen(
        head.lines().next().unwrap_or_default().split(' ').nth(1).unwrap_or("/"),
        "/",
        1,
    );
    let mut out = vec![first];
    for line in lines {
        let name = line.split(':').next().unwrap_or_default().to_ascii_lowercase();
        if !["content-type", "content-length", "smithy-protocol", "accept", "x-amz-target"].contains(&name.as_str()) {
            out.push(line.to_string());
        }
    }
    out.push("content-type: application/x-amz-json-1.0".into());
    out.push(format!("x-amz-target: {target}"));
    out.push(format!("content-length: {}", json.len()));
    let mut bytes = format!("{}\r\n\r\n", out.join("\r\n")).into_bytes();
    bytes.extend_from_slice(&json);
    bytes
}

/// moto's JSON answer as a CBOR answer, same status.
pub fn response_as_cbor(response: &[u8]) -> Vec<u8> {
    let (head, body) = split(response);
    let status = head.lines().next().unwrap_or("HTTP/1.1 500 Internal Server Error").to_string();
    let json: Json = serde_json::from_slice(body).unwrap_or(Json::Object(Default::default()));
    let mut cbor = Vec::new();
    ciborium::into_writer(&to_cbor(&json, ""), &mut cbor).unwrap();
    let mut bytes = format!(
        "{status}\r\ncontent-type: application/cbor\r\nsmithy-protocol: rpc-v2-cbor\r\nx-amzn-requestid: translated\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        cbor.len()
    )
    .into_bytes();
    bytes.extend_from_slice(&cbor);
    bytes
}

fn split(message: &[u8]) -> (String, &[u8]) {
    let end = message.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(message.len());
    let body = message.get(end + 4..).unwrap_or_default();
    (String::from_utf8_lossy(&message[..end]).to_string(), body)
}

fn to_json(value: &Cbor) -> Json {
    match value {
        Cbor::Integer(i) => Json::from(i128::from(*i) as i64),
        Cbor::Float(f) => serde_json::Number::from_f64(*f).map(Json::Number).unwrap_or(Json::Null),
        Cbor::Text(t) => Json::String(t.clone()),
        Cbor::Bool(b) => Json::Bool(*b),
        Cbor::Null => Json::Null,
        Cbor::Tag(_, inner) => to_json(inner),
        Cbor::Array(items) => Json::Array(items.iter().map(to_json).collect()),
        Cbor::Map(pairs) => {
            Json::Object(pairs.iter().filter_map(|(k, v)| Some((k.as_text()?.to_string(), to_json(v)))).collect())
        }
        other => panic!("CBOR value this translation does not need: {other:?}"),
    }
}

fn to_cbor(value: &Json, key: &str) -> Cbor {
    let float = |n: &serde_json::Number| Cbor::Float(n.as_f64().unwrap_or_default());
    match value {
        Json::Number(n) if matches!(key, "Timestamps" | "Timestamp") => Cbor::Tag(1, Box::new(float(n))),
        Json::Number(n) if key == "Values" => float(n),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Cbor::Integer(i.into()),
            None => float(n),
        },
        Json::String(s) => Cbor::Text(s.clone()),
        Json::Bool(b) => Cbor::Bool(*b),
        Json::Null => Cbor::Null,
        Json::Array(items) => Cbor::Array(items.iter().map(|v| to_cbor(v, key)).collect()),
        Json::Object(map) => Cbor::Map(map.iter().map(|(k, v)| (Cbor::Text(k.clone()), to_cbor(v, k))).collect()),
    }
}
