//! A download crosses the plugin boundary as it arrives, as bytes (ABI 1.2): a plugin method's
//! `send_streamed` reads the host's body piece by piece through `http_open` / `body_read`, never
//! through `http_send`, never more than one piece at a time, and every byte arrives as sent,
//! binary ones included. The plugin side here is the same `extern "C"` vtable a plugin library
//! exports (`plugboard_core::plugin::guest`), loaded in-process through its declaration.

use std::io::Read;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use plugboard_core::plugin::PluginConnector;
use plugboard_core::plugin::abi::{PluginDeclaration, PluginVTable};
use plugboard_core::plugin::guest;
use plugboard_core::{
    AuthSpec, Connector, ConnectorDefinition, ConnectorError, Context, Host, HttpRequest,
    HttpResponse, Invocation, LogLevel, MethodSet, Result, StreamedResponse, body_error, input,
    method,
};
use serde::Serialize;
use serde_json::{Map, Value, json};

/// Input of `files.digest`.
#[input]
pub struct DigestInput {
    /// The file's path.
    pub path: String,
}

/// What `files.digest` read.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Digest {
    /// Bytes read.
    pub bytes: u64,
    /// FNV-1a of every byte, in order.
    pub fnv: u64,
    /// Whether the body ended with the error the host put in it.
    pub error: Option<String>,
}

/// Reads a download in 8 KiB pieces and digests it.
#[method(id = "files.digest", name = "Digest a File", idempotent)]
pub fn digest(cx: &mut Context<'_>, input: DigestInput) -> Result<Digest> {
    let mut response = cx.send_streamed(HttpRequest::get(input.path))?;
    let mut piece = [0u8; 8 * 1024];
    let (mut bytes, mut fnv, mut error) = (0u64, FNV_OFFSET, None);
    loop {
        match response.body.read(&mut piece) {
            Ok(0) => break,
            Ok(n) => {
                bytes += n as u64;
                fnv = fnv1a(fnv, &piece[..n]);
            }
            Err(e) => {
                error = Some(body_error(&e).to_string());
                break;
            }
        }
    }
    Ok(Digest { bytes, fnv, error })
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

struct Files;

impl ConnectorDefinition for Files {
    type Settings = ();
    const ID: &'static str = "files";
    const NAME: &'static str = "Files";
    const VERSION: &'static str = "0.1.0";
    const DESCRIPTION: &'static str = "Downloads files.";
    const BASE_URL: &'static str = "https://files.example";

    fn auth() -> AuthSpec {
        AuthSpec::None
    }

    fn methods() -> MethodSet {
        MethodSet::new().method::<digest>()
    }
}

static VTABLE: PluginVTable = guest::vtable::<Files>();

unsafe extern "C" fn plugin_vtable() -> *const PluginVTable {
    &VTABLE
}

static DECLARATION: PluginDeclaration = guest::declaration(true, plugin_vtable);

/// A body of `len` pseudo-random bytes (every byte value occurs), produced as it is read, that
/// counts what was read and the largest single read; it fails after `fail_after` bytes if set.
struct Generated<'a> {
    left: usize,
    state: u64,
    fail_after: Option<usize>,
    served: usize,
    largest: &'a AtomicUsize,
}

impl Read for Generated<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.fail_after.is_some_and(|at| self.served >= at) {
            return Err(std::io::Error::other(ConnectorError::Transport {
                message: "the connection was reset".into(),
            }));
        }
        let n = buf.len().min(self.left);
        for byte in &mut buf[..n] {
            self.state = self
                .state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            *byte = (self.state >> 56) as u8;
        }
        self.left -= n;
        self.served += n;
        self.largest.fetch_max(n, Ordering::Relaxed);
        Ok(n)
    }
}

/// The digest of what [`Generated`] produces for `len` bytes.
fn expected(len: usize) -> u64 {
    let largest = AtomicUsize::new(0);
    let mut body = Generated {
        left: len,
        state: 7,
        fail_after: None,
        served: 0,
        largest: &largest,
    };
    let mut all = Vec::new();
    body.read_to_end(&mut all).expect("generated");
    fnv1a(FNV_OFFSET, &all)
}

/// A host that serves [`Generated`] bodies through `send_streamed` and refuses `send`.
struct Downloads {
    len: usize,
    fail_after: Option<usize>,
    largest: AtomicUsize,
    sends: Mutex<Vec<String>>,
}

impl Host for Downloads {
    fn send(&self, request: HttpRequest) -> Result<HttpResponse> {
        self.sends.lock().expect("not poisoned").push(request.path);
        Err(ConnectorError::plugin(
            "a download must not come through `send`",
        ))
    }

    fn send_streamed(&self, _: HttpRequest) -> Result<StreamedResponse<'_>> {
        Ok(StreamedResponse {
            status: 200,
            headers: vec![("content-type".into(), "application/octet-stream".into())],
            body: Box::new(Generated {
                left: self.len,
                state: 7,
                fail_after: self.fail_after,
                served: 0,
                largest: &self.largest,
            }),
        })
    }

    fn emit(&self, _: Value) -> Result<()> {
        Ok(())
    }

    fn log(&self, _: LogLevel, _: &str) {}

    fn is_cancelled(&self) -> bool {
        false
    }

    fn sleep(&self, _: Duration) -> Result<()> {
        Ok(())
    }
}

fn downloads(len: usize, fail_after: Option<usize>) -> Downloads {
    Downloads {
        len,
        fail_after,
        largest: AtomicUsize::new(0),
        sends: Mutex::new(Vec::new()),
    }
}

fn plugin() -> PluginConnector {
    // SAFETY: a static declaration of this test binary, never unloaded.
    let plugin =
        unsafe { PluginConnector::from_declaration(&DECLARATION) }.expect("the plugin loads");
    // The plugin side installed its panic hook in this process (a real plugin has its own std);
    // the default one comes back so a failed assertion says why.
    drop(std::panic::take_hook());
    plugin
}

fn digest_through(plugin: &PluginConnector, host: &Downloads) -> Value {
    let call = Invocation {
        method: "files.digest".into(),
        input: json!({"path": "/export.bin"}),
        settings: Map::new(),
    };
    plugin.invoke(&call, host).expect("the call succeeds")
}

#[test]
fn a_download_crosses_the_plugin_boundary_piece_by_piece_and_byte_for_byte() {
    let len = 20 * 1024 * 1024 + 13;
    let host = downloads(len, None);
    let digest = digest_through(&plugin(), &host);
    assert_eq!(digest["bytes"], json!(len));
    assert_eq!(
        digest["fnv"],
        json!(expected(len)),
        "every byte as it was sent"
    );
    assert_eq!(digest["error"], Value::Null);
    assert!(
        host.sends.lock().expect("not poisoned").is_empty(),
        "nothing came through `send`"
    );
    let largest = host.largest.load(Ordering::Relaxed);
    assert!(
        largest <= 8 * 1024,
        "the host read at most what the plugin asked for at once: {largest} bytes"
    );
}

#[test]
fn an_error_reading_the_body_reaches_the_plugin_as_the_host_said_it() {
    let host = downloads(1024 * 1024, Some(100 * 1024));
    let digest = digest_through(&plugin(), &host);
    let bytes = digest["bytes"].as_u64().expect("a count");
    assert!((100 * 1024..1024 * 1024).contains(&bytes), "{digest}");
    let error = digest["error"].as_str().expect("an error");
    assert!(error.contains("the connection was reset"), "{error}");
}
