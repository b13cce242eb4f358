//! A minimal Lambda runtime API on 127.0.0.1 (HTTP/1.1 with keep-alive): hands one event to the
//! first `GET /2018-06-01/runtime/invocation/next`, records the answer posted back, and notes when
//! the first poll arrived (the end of the binary's start-up).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

#[derive(Default)]
struct State {
    event: Option<Value>,
    first_poll: Option<Instant>,
    handed_out: Option<Instant>,
    answer: Option<(Instant, Value)>,
    closed: bool,
}

pub struct RuntimeApi {
    addr: SocketAddr,
    shared: Arc<(Mutex<State>, Condvar)>,
}

impl RuntimeApi {
    /// Serves until dropped; `event` (if any) goes to the first poll with a deadline `timeout` on.
    pub fn start(event: Option<Value>, timeout: Duration) -> RuntimeApi {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new((Mutex::new(State { event, ..State::default() }), Condvar::new()));
        let serving = shared.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let shared = serving.clone();
                std::thread::spawn(move || {
                    let _ = serve(stream, &shared, timeout);
                });
                if serving.0.lock().unwrap().closed {
                    break;
                }
            }
        });
        RuntimeApi { addr, shared }
    }

    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    pub fn wait_for_first_poll(&self, within: Duration) -> Instant {
        let (lock, ready) = &*self.shared;
        let state = ready.wait_timeout_while(lock.lock().unwrap(), within, |s| s.first_poll.is_none()).unwrap().0;
        state.first_poll.expect("the binary never polled the runtime API")
    }

    /// Time from handing the event out to the answer, and the answer (an error as `{"error": …}`).
    pub fn wait_for_answer(&self, within: Duration) -> (Duration, Value) {
        let (lock, ready) = &*self.shared;
        let state = ready.wait_timeout_while(lock.lock().unwrap(), within, |s| s.answer.is_none()).unwrap().0;
        let (at, answer) = state.answer.clone().expect("the function never answered");
        (at - state.handed_out.expect("answered before the event was handed out"), answer)
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        let (lock, ready) = &*self.shared;
        lock.lock().unwrap().closed = true;
        ready.notify_all();
        // Wake the accept loop so it sees `closed`.
        let _ = TcpStream::connect(self.addr);
    }
}

fn serve(stream: TcpStream, shared: &(Mutex<State>, Condvar), timeout: Duration) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line)? == 0 {
            return Ok(());
        }
        let mut length = 0usize;
        loop {
            let mut header = String::new();
            reader.read_line(&mut header)?;
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        let path = request_line.split_whitespace().nth(1).unwrap_or_default().to_string();

        let (lock, ready) = shared;
        if path.ends_with("/invocation/next") {
            let mut state = lock.lock().unwrap();
            state.first_poll.get_or_insert_with(Instant::now);
            ready.notify_all();
            // Later polls wait (as Lambda's do) until the benchmark is done with this process.
            while state.event.is_none() && !state.closed {
                state = ready.wait(state).unwrap();
            }
            let Some(event) = state.event.take() else { return Ok(()) };
            state.handed_out = Some(Instant::now());
            drop(state);
            let deadline = SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + timeout;
            let body = event.to_string();
            write!(
                out,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
                 lambda-runtime-aws-request-id: bench-1\r\nlambda-runtime-deadline-ms: {}\r\n\
                 lambda-runtime-invoked-function-arn: arn:aws:lambda:us-east-1:123456789012:function:bench\r\n\
                 lambda-runtime-trace-id: Root=1-00000000-000000000000000000000000\r\n\r\n{body}",
                body.len(),
                deadline.as_millis()
            )?;
        } else {
            let answer: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let answer = if path.ends_with("/response") { answer } else { serde_json::json!({ "error": answer }) };
            let mut state = lock.lock().unwrap();
            state.answer.get_or_insert((Instant::now(), answer));
            ready.notify_all();
            drop(state);
            write!(out, "HTTP/1.1 202 Accepted\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{{}}")?;
        }
        out.flush()?;
    }
}
