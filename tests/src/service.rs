//! `plugboard serve` as a child process on a free 127.0.0.1 port, and a small HTTP client for it.

use std::ffi::OsString;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use serde_json::Value;

use crate::plugboard_binary;

/// How long the service may take to say where it listens.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// How long any one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A running `plugboard serve`, killed when dropped.
pub struct ServiceProcess {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    /// The admin key the service printed at start, if it printed one.
    pub printed_admin_key: Option<String>,
    /// Everything the service wrote to stderr so far (its log), when started with
    /// [`ServiceProcess::start_sandbox`]; otherwise stderr is inherited and this stays empty.
    stderr: Arc<Mutex<String>>,
}

/// An HTTP response as a browser sees it: status, headers (names lower-cased) and body text.
#[derive(Debug, Clone)]
pub struct RawResponse {
    /// The status code.
    pub status: u16,
    /// The headers, in order, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body as text.
    pub body: String,
}

impl RawResponse {
    /// The first header with this (lower-case) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Which `plugboard` serves, on which state, with what more in its environment.
#[derive(Debug, Clone)]
pub struct Launch {
    /// The binary (e.g. one built with the `postgres` feature).
    pub binary: PathBuf,
    /// `--state`: a file, or a `postgres://` URL.
    pub state: OsString,
    /// More environment variables (e.g. `PLUGBOARD_SECRET_KEY`).
    pub env: Vec<(String, String)>,
}

impl Launch {
    /// The default binary on the state file `state`.
    pub fn file(state: &Path) -> Self {
        Self {
            binary: plugboard_binary(),
            state: state.as_os_str().to_owned(),
            env: Vec::new(),
        }
    }
}

impl ServiceProcess {
    /// Starts the service with `state` as its state file; `admin_key` goes to
    /// `PLUGBOARD_ADMIN_KEY` (none: the service uses or generates its own).
    pub fn start(state: &Path, admin_key: Option<&str>) -> Self {
        Self::start_on(&Launch::file(state), admin_key, &[])
    }

    /// [`ServiceProcess::start`] as `launch` says, with more `serve` arguments.
    pub fn start_on(launch: &Launch, admin_key: Option<&str>, extra: &[&str]) -> Self {
        let mut args = [
            "--listen",
            "127.0.0.1:0",
            "--public-url",
            "http://127.0.0.1:9",
        ]
        .map(str::to_owned)
        .to_vec();
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        Self::start_with(launch, admin_key, &args, false)
    }

    /// Starts the service with `--sandbox` (an in-process Constant Contact sandbox whose app is
    /// the connector's partner settings) on a free port that is also its public URL, so a
    /// provider redirect to `{public_url}/connector/callback` reaches it. `extra` are more
    /// `serve` arguments (e.g. `--install-expiry 1s`). Its stderr is captured
    /// ([`ServiceProcess::stderr`]) and echoed.
    pub fn start_sandbox(state: &Path, admin_key: Option<&str>, extra: &[&str]) -> Self {
        Self::start_sandbox_on(&Launch::file(state), admin_key, extra)
    }

    /// [`ServiceProcess::start_sandbox`] as `launch` says.
    pub fn start_sandbox_on(launch: &Launch, admin_key: Option<&str>, extra: &[&str]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let mut args = vec![
            "--listen".to_owned(),
            format!("127.0.0.1:{port}"),
            "--public-url".to_owned(),
            format!("http://127.0.0.1:{port}"),
            "--sandbox".to_owned(),
        ];
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        Self::start_with(launch, admin_key, &args, true)
    }

    fn start_with(
        launch: &Launch,
        admin_key: Option<&str>,
        serve_args: &[String],
        capture_stderr: bool,
    ) -> Self {
        let mut command = Command::new(&launch.binary);
        command
            .arg("--state")
            .arg(&launch.state)
            .arg("serve")
            .args(serve_args)
            .env_remove("PLUGBOARD_ADMIN_KEY")
            .envs(launch.env.iter().map(|(name, value)| (name, value)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(if capture_stderr {
                Stdio::piped()
            } else {
                Stdio::inherit()
            });
        if let Some(key) = admin_key {
            command.env("PLUGBOARD_ADMIN_KEY", key);
        }
        if capture_stderr {
            // Everything down to debug (the HTTP stack's too), so a search of the log for
            // secrets covers what an operator who turns logging up would see.
            command.env("PLUGBOARD_LOG", "debug");
        }
        let mut child = command.spawn().expect("plugboard serve starts");
        let stderr = Arc::new(Mutex::new(String::new()));
        if let Some(pipe) = child.stderr.take() {
            let sink = Arc::clone(&stderr);
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    eprintln!("[serve] {line}");
                    let mut text = sink.lock().unwrap_or_else(|e| e.into_inner());
                    text.push_str(&line);
                    text.push('\n');
                }
            });
        }
        let stdout = child.stdout.take().expect("piped stdout");
        let (lines, received) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        let mut printed_admin_key = None;
        let base_url = loop {
            let line = match received.recv_timeout(START_TIMEOUT) {
                Ok(line) => line,
                Err(error) => {
                    let _ = child.kill();
                    panic!("plugboard serve did not say where it listens: {error}");
                }
            };
            if let Some(key) = line.strip_prefix("admin key (shown once, store it now): ") {
                printed_admin_key = Some(key.to_owned());
            } else if let Some(url) = line.strip_prefix("listening on ") {
                break url.to_owned();
            }
        };
        assert!(
            base_url.starts_with("http://127.0.0.1:"),
            "the service listens on loopback only: {base_url}"
        );
        Self {
            child,
            base_url,
            printed_admin_key,
            stderr,
        }
    }

    /// What the service logged to stderr so far (see [`ServiceProcess::start_sandbox`]).
    pub fn stderr(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Sends a request with an optional key and raw body over plain HTTP/1.1 (std only, so no
    /// TLS provider is needed); returns the status and the JSON body (`Value::Null` when empty).
    pub fn call(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> (u16, Value) {
        let (status, body) = self.exchange(method, path, key, body);
        let value = if body.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
        };
        (status, value)
    }

    /// Like [`Self::call`], with the body as text (e.g. a server-sent event stream, read until
    /// the service ends it).
    pub fn exchange(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> (u16, String) {
        let address = self.base_url.trim_start_matches("http://");
        let mut stream = TcpStream::connect(address).expect("the service accepts");
        stream
            .set_read_timeout(Some(REQUEST_TIMEOUT))
            .expect("a timeout");
        stream
            .set_write_timeout(Some(REQUEST_TIMEOUT))
            .expect("a timeout");
        let body = body.unwrap_or_default();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        );
        if let Some(key) = key {
            head.push_str(&format!("Authorization: Bearer {key}\r\n"));
        }
        head.push_str("\r\n");
        stream
            .write_all(head.as_bytes())
            .expect("the request head is sent");
        // The service may answer (413) and close before reading a large body: that is fine.
        let _ = stream.write_all(&body);
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response);
        let text = String::from_utf8_lossy(&response);
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status: u16 = head
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("no HTTP status in {head:?}"));
        let chunked = head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked");
        let body = if chunked {
            dechunk(body)
        } else {
            body.to_owned()
        };
        (status, body)
    }

    /// [`Self::call`] with a JSON value as the body.
    pub fn json(&self, method: &str, path: &str, key: Option<&str>, body: &Value) -> (u16, Value) {
        self.call(method, path, key, Some(body.to_string().into_bytes()))
    }

    /// Stops the service as Ctrl-C does (SIGINT, sent with `kill -INT`) and waits for it to
    /// exit, at most `patience`; its exit status, or `None` if it was still running (then it is
    /// killed).
    pub fn interrupt(mut self, patience: Duration) -> Option<std::process::ExitStatus> {
        let sent = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "SIGINT was delivered");
        let deadline = std::time::Instant::now() + patience;
        while std::time::Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("the child can be waited for") {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// Sends a request to any `http://127.0.0.1:…` URL (the service, or the sandbox acting as
    /// the provider) as a browser would, without following redirects.
    pub fn browse(&self, method: &str, url: &str, key: Option<&str>) -> RawResponse {
        raw_request(method, url, key, &[])
    }

    /// [`Self::browse`] on a path of this service.
    pub fn page(&self, method: &str, path: &str) -> RawResponse {
        raw_request(method, &format!("{}{path}", self.base_url), None, &[])
    }

    /// The service's own store file for `state`.
    pub fn store_file(state: &Path) -> PathBuf {
        state.with_extension("service.db")
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Joins an HTTP/1.1 chunked body.
fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

/// One plain HTTP/1.1 request to a loopback URL; the body is returned as text.
pub fn raw_request(method: &str, url: &str, key: Option<&str>, body: &[u8]) -> RawResponse {
    let rest = url
        .strip_prefix("http://")
        .unwrap_or_else(|| panic!("only http:// URLs: {url}"));
    let (address, path) = rest
        .find('/')
        .map_or((rest, "/"), |at| (&rest[..at], &rest[at..]));
    assert!(
        address.starts_with("127.0.0.1:"),
        "tests talk to 127.0.0.1 only: {url}"
    );
    let mut stream = TcpStream::connect(address).expect("the server accepts");
    stream
        .set_read_timeout(Some(REQUEST_TIMEOUT))
        .expect("a timeout");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(key) = key {
        head.push_str(&format!("Authorization: Bearer {key}\r\n"));
    }
    head.push_str("\r\n");
    stream
        .write_all(head.as_bytes())
        .expect("the request is sent");
    let _ = stream.write_all(body);
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in {head:?}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    RawResponse {
        status,
        headers,
        body,
    }
}

/// A query parameter of a URL, undecoded (the sandbox's values need no decoding).
pub fn query_param(url: &str, name: &str) -> String {
    url.split_once('?')
        .map(|(_, query)| query)
        .unwrap_or_default()
        .split('&')
        .find_map(|pair| pair.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no `{name}` in {url}"))
        .to_owned()
}
