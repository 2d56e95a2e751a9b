//! The host side of the ABI: a [`Connector`] that calls a plugin through its vtable.
//!
//! Finding the declaration in a file (`dlopen`/`dlsym`) is the runner's job; this module starts from
//! the declaration's address, checks it, reads the manifest and serves calls.
//!
//! Every length the plugin hands over is checked against [`MAX_PLUGIN_BYTES`] before a byte is
//! read or allocated: the plugin runs in-process, but a wrong length must fail its call, not
//! abort the host.

use std::cell::RefCell;
use std::ffi::c_void;
use std::sync::OnceLock;

use schemars::Schema;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::abi::{
    ABI_MAJOR, ByteSlice, MAGIC, MAX_PLUGIN_BYTES, OwnedBuffer, PLUGIN_VTABLE_V1_0_SIZE,
    PluginDeclaration, PluginVTable, Status,
};
use super::callbacks::{HOST_VTABLE, HostContext};
use super::guest::{decode_status, from_json, to_json};
use crate::auth::AuthSpec;
use crate::connector::{Connector, Invocation};
use crate::error::ConnectorError;
use crate::host::Host;
use crate::manifest::{Manifest, MethodDescriptor, MethodKind, OutputShape};
use crate::rate_limit::RateLimit;

/// Why a plugin was refused.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The file could be changed by someone other than its owner or root, so loading it would
    /// run their code in this process (found by the loader before opening the file).
    #[error("{reason}")]
    Unsafe {
        /// What makes it unsafe, naming the file or directory and its mode or owner.
        reason: String,
    },
    /// The symbol exists but is not a plugboard declaration.
    #[error("its `PLUGBOARD_PLUGIN_V1` symbol is not a plugboard plugin declaration (bad magic)")]
    BadMagic,
    /// The plugin was built for another major version of the ABI.
    #[error(
        "it was built for plugin ABI {found}.x, but this host speaks ABI {expected}.x; rebuild it against this plugboard-core"
    )]
    AbiMajor {
        /// The plugin's ABI major version.
        found: u16,
        /// The host's ABI major version.
        expected: u16,
    },
    /// The plugin cannot catch its own panics, so a panic would abort the host.
    #[error(
        "it was built with panic = \"abort\"; plugins must unwind so a panic cannot kill the host"
    )]
    PanicAbort,
    /// The plugin's vtable is missing or smaller than ABI version 1 requires.
    #[error("its vtable is missing or too small ({size} bytes, at least {expected} expected)")]
    VTable {
        /// The size the plugin reported.
        size: usize,
        /// The size ABI version 1 requires.
        expected: usize,
    },
    /// An export failed or panicked.
    #[error("its {export} export failed: {error}")]
    Export {
        /// Which export.
        export: &'static str,
        /// What it reported.
        error: ConnectorError,
    },
}

/// A connector living in a plugin library.
pub struct PluginConnector {
    vtable: &'static PluginVTable,
    instance: *mut c_void,
    manifest: Manifest,
}

// SAFETY: the instance is a `DefinedConnector` (Send + Sync) owned by the plugin, and the vtable
// functions only take shared access to it, so calls from several threads are as safe as for a
// built-in connector.
unsafe impl Send for PluginConnector {}
// SAFETY: see `Send`.
unsafe impl Sync for PluginConnector {}

impl PluginConnector {
    /// Checks a plugin declaration, reads its manifest and creates an instance.
    ///
    /// # Safety
    /// `declaration` must point to the declaration symbol of a loaded library that is never
    /// unloaded (invariant 4), so the `'static` vtable it leads to stays valid.
    pub unsafe fn from_declaration(
        declaration: *const PluginDeclaration,
    ) -> Result<Self, PluginError> {
        // SAFETY: the caller guarantees the pointer is a live symbol; magic and major are the first
        // fields of every ABI version, so reading them is valid before knowing the version.
        let declaration = unsafe { &*declaration };
        if declaration.magic != MAGIC {
            return Err(PluginError::BadMagic);
        }
        if declaration.abi_major != ABI_MAJOR {
            return Err(PluginError::AbiMajor {
                found: declaration.abi_major,
                expected: ABI_MAJOR,
            });
        }
        if declaration.panic_unwind != 1 {
            return Err(PluginError::PanicAbort);
        }
        let expected = PLUGIN_VTABLE_V1_0_SIZE;
        // SAFETY: ABI 1 declarations carry a function returning a static vtable.
        let vtable = unsafe { (declaration.plugin_vtable)() };
        // SAFETY: a non-null vtable pointer from the plugin lives as long as the library, forever.
        let vtable: &'static PluginVTable = match unsafe { vtable.as_ref() } {
            Some(vtable) if vtable.size >= expected => vtable,
            Some(vtable) => {
                return Err(PluginError::VTable {
                    size: vtable.size,
                    expected,
                });
            }
            None => return Err(PluginError::VTable { size: 0, expected }),
        };

        let manifest_bytes = call_plugin("manifest", None, vtable, |out| {
            // SAFETY: `out` is a writable buffer.
            unsafe { (vtable.manifest)(out) }
        })
        .map_err(|error| PluginError::Export {
            export: "manifest",
            error,
        })?;
        let manifest =
            manifest_from_json(&manifest_bytes).map_err(|error| PluginError::Export {
                export: "manifest",
                error,
            })?;

        let mut instance = std::ptr::null_mut();
        call_plugin("instantiate", Some(&manifest.id), vtable, |out| {
            // SAFETY: `instance` and `out` are writable.
            unsafe { (vtable.instantiate)(&mut instance, out) }
        })
        .map_err(|error| PluginError::Export {
            export: "instantiate",
            error,
        })?;
        if instance.is_null() {
            return Err(PluginError::Export {
                export: "instantiate",
                error: ConnectorError::plugin("it returned no instance"),
            });
        }
        Ok(Self {
            vtable,
            instance,
            manifest,
        })
    }
}

impl Drop for PluginConnector {
    fn drop(&mut self) {
        // SAFETY: the instance came from this plugin's `instantiate` and is destroyed once.
        unsafe { (self.vtable.destroy)(self.instance) }
    }
}

impl Connector for PluginConnector {
    fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    fn invoke(&self, invocation: &Invocation, host: &dyn Host) -> Result<Value, ConnectorError> {
        let request = to_json(invocation)?;
        let context = HostContext {
            host,
            connector: &self.manifest.id,
            oversized: OnceLock::new(),
            bodies: RefCell::new(Vec::new()),
        };
        let result = call_plugin("invoke", Some(&self.manifest.id), self.vtable, |out| {
            // SAFETY: instance is alive, the request and context outlive the call, `out` is writable.
            unsafe {
                (self.vtable.invoke)(
                    self.instance,
                    ByteSlice::new(&request),
                    &HOST_VTABLE,
                    &context as *const HostContext<'_> as *mut c_void,
                    out,
                )
            }
        });
        // An oversized log message, record or request fails the call even when the plugin
        // ignored the error (a log has no way to report one).
        if let Some(error) = context.oversized.into_inner() {
            return Err(error);
        }
        from_json(&result?, "result of invoke")
    }
}

/// The error for a length over [`MAX_PLUGIN_BYTES`], naming the connector when it is known.
pub(super) fn oversized(connector: Option<&str>, what: &str, len: usize) -> ConnectorError {
    let whose = connector
        .map(|id| format!(" of connector `{id}`"))
        .unwrap_or_default();
    ConnectorError::plugin(format!(
        "the plugin{whose} passed {len} bytes as {what}, more than the {} MiB a plugin may pass \
         (refused unread)",
        MAX_PLUGIN_BYTES >> 20
    ))
}

/// Calls a plugin export that fills an out-buffer, copies the bytes (unless there are more than
/// [`MAX_PLUGIN_BYTES`]) and frees the buffer with the plugin's own allocator.
fn call_plugin(
    what: &str,
    connector: Option<&str>,
    vtable: &PluginVTable,
    call: impl FnOnce(*mut OwnedBuffer) -> Status,
) -> Result<Vec<u8>, ConnectorError> {
    let mut out = OwnedBuffer::EMPTY;
    let status = call(&mut out);
    let bytes = if out.len > MAX_PLUGIN_BYTES {
        Err(oversized(
            connector,
            &format!("the result of its {what}"),
            out.len,
        ))
    } else {
        // SAFETY: the plugin filled `out` (or left it empty); it is copied before being freed.
        Ok(unsafe { out.as_bytes().to_vec() })
    };
    // SAFETY: the buffer was allocated by the plugin, so the plugin frees it.
    unsafe { (vtable.buf_free)(out) };
    decode_status(status, bytes?, &format!("the plugin's {what}"))
}

/// Reads the manifest a plugin returned, saying where it is wrong.
///
/// A plugin sends its manifest on one line, so serde's "line 1 column 48213" does not help its
/// author; a manifest that is JSON but not a valid manifest is reported with the field at fault
/// and, inside `methods`, the method's index and id.
fn manifest_from_json(bytes: &[u8]) -> Result<Manifest, ConnectorError> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| ConnectorError::plugin(format!("malformed manifest: {e}")))?;
    Manifest::deserialize(&value).map_err(|error| {
        let place = manifest_error_place(&value)
            .map(|place| format!(" at {place}"))
            .unwrap_or_default();
        ConnectorError::plugin(format!("invalid manifest{place}: {error}"))
    })
}

/// A field of a manifest object and the check that finds it wrong.
type FieldCheck = (&'static str, fn(&Value, &str) -> bool);

/// Whether `value[field]` is present and not a `T`.
fn wrong<T: DeserializeOwned>(value: &Value, field: &str) -> bool {
    value.get(field).is_some_and(|v| T::deserialize(v).is_err())
}

/// The first field of a manifest (as `field` or `methods[i] (`id`).field`) that does not
/// deserialize, when one can be singled out.
fn manifest_error_place(manifest: &Value) -> Option<String> {
    let top: [FieldCheck; 9] = [
        ("id", wrong::<String>),
        ("name", wrong::<String>),
        ("version", wrong::<String>),
        ("description", wrong::<String>),
        ("base_url", wrong::<String>),
        ("allowed_hosts", wrong::<Vec<String>>),
        ("auth", wrong::<AuthSpec>),
        ("settings_schema", wrong::<Schema>),
        ("rate_limits", wrong::<Vec<RateLimit>>),
    ];
    if let Some((field, _)) = top.iter().find(|(field, bad)| bad(manifest, field)) {
        return Some(format!("`{field}`"));
    }
    let Some(Value::Array(methods)) = manifest.get("methods") else {
        return None;
    };
    let (i, method) = methods
        .iter()
        .enumerate()
        .find(|(_, m)| MethodDescriptor::deserialize(*m).is_err())?;
    let at = match method.get("id").and_then(Value::as_str) {
        Some(id) => format!("`methods[{i}]` (`{id}`)"),
        None => format!("`methods[{i}]`"),
    };
    let fields: [FieldCheck; 10] = [
        ("id", wrong::<String>),
        ("name", wrong::<String>),
        ("category", wrong::<String>),
        ("description", wrong::<String>),
        ("kind", wrong::<MethodKind>),
        ("output", wrong::<OutputShape>),
        ("idempotent", wrong::<bool>),
        ("input_schema", wrong::<Schema>),
        ("output_schema", wrong::<Schema>),
        ("record_schema", wrong::<Option<Schema>>),
    ];
    Some(
        match fields.iter().find(|(field, bad)| bad(method, field)) {
            Some((field, _)) => format!("{at}, field `{field}`"),
            None => at,
        },
    )
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::sync::Mutex;

    use serde_json::json;

    use super::*;
    use crate::host::LogLevel;
    use crate::http::{HttpRequest, HttpResponse};
    use crate::plugin::abi::{HostVTable, STATUS_OK, guarded};
    use crate::plugin::guest;

    /// How the hand-made plugin below misbehaves on this thread.
    #[derive(Clone, Copy, PartialEq)]
    enum Defect {
        None,
        HugeManifest,
        HugeResult,
        HugeLog,
        HugeRecord,
        HugeRequest,
    }

    std::thread_local! {
        static DEFECT: Cell<Defect> = const { Cell::new(Defect::None) };
    }

    /// A length no plugin buffer may have (1 TiB); only two bytes are really there.
    const HUGE_LEN: usize = 1 << 40;
    static HUGE_BYTES: [u8; 2] = *b"{}";

    fn huge_buffer() -> OwnedBuffer {
        OwnedBuffer {
            ptr: HUGE_BYTES.as_ptr().cast_mut(),
            len: HUGE_LEN,
            cap: HUGE_LEN,
        }
    }

    fn huge_slice() -> ByteSlice {
        ByteSlice {
            ptr: HUGE_BYTES.as_ptr(),
            len: HUGE_LEN,
        }
    }

    fn defect() -> Defect {
        DEFECT.with(Cell::get)
    }

    unsafe extern "C" fn test_manifest(out: *mut OwnedBuffer) -> Status {
        if defect() == Defect::HugeManifest {
            // SAFETY: the host passes a writable out-buffer.
            unsafe { out.write(huge_buffer()) };
            return STATUS_OK;
        }
        // SAFETY: the host passes a writable out-buffer.
        unsafe { guarded(out, "manifest", || to_json(&manifest())) }
    }

    unsafe extern "C" fn test_instantiate(
        instance: *mut *mut c_void,
        out: *mut OwnedBuffer,
    ) -> Status {
        // SAFETY: the host passes a writable slot; any non-null pointer will do, it is never used.
        unsafe { instance.write(std::ptr::NonNull::<u8>::dangling().as_ptr().cast()) };
        // SAFETY: the host passes a writable out-buffer.
        unsafe { guarded(out, "instantiate", || Ok(Vec::new())) }
    }

    unsafe extern "C" fn test_invoke(
        _: *mut c_void,
        _: ByteSlice,
        host: *const HostVTable,
        ctx: *mut c_void,
        out: *mut OwnedBuffer,
    ) -> Status {
        // SAFETY: the host's vtable and ctx are valid during the call; every buffer the host
        // answers with is freed by the host.
        unsafe {
            let host = &*host;
            let callback = match defect() {
                Defect::HugeResult => {
                    out.write(huge_buffer());
                    return STATUS_OK;
                }
                Defect::HugeLog => {
                    (host.log)(ctx, 1, huge_slice());
                    None
                }
                Defect::HugeRecord => Some(host.emit),
                Defect::HugeRequest => Some(host.http_send),
                Defect::None | Defect::HugeManifest => None,
            };
            if let Some(callback) = callback {
                let mut answer = OwnedBuffer::EMPTY;
                // Ignored on purpose: the host must fail the call anyway.
                let _ = callback(ctx, huge_slice(), &mut answer);
                (host.buf_free)(answer);
            }
            guarded(out, "invoke", || to_json(&json!("fine")))
        }
    }

    unsafe extern "C" fn test_destroy(_: *mut c_void) {}

    unsafe extern "C" fn test_buf_free(buffer: OwnedBuffer) {
        if !std::ptr::eq(buffer.ptr.cast_const(), HUGE_BYTES.as_ptr()) {
            // SAFETY: every other buffer came from `OwnedBuffer::from_vec` in this program.
            unsafe { buffer.free() }
        }
    }

    static TEST_VTABLE: PluginVTable = PluginVTable {
        size: std::mem::size_of::<PluginVTable>(),
        manifest: test_manifest,
        instantiate: test_instantiate,
        invoke: test_invoke,
        destroy: test_destroy,
        buf_free: test_buf_free,
    };

    unsafe extern "C" fn test_plugin_vtable() -> *const PluginVTable {
        &TEST_VTABLE
    }

    static TEST_DECLARATION: PluginDeclaration = guest::declaration(true, test_plugin_vtable);

    /// A host that records what reaches it.
    #[derive(Default)]
    struct Recording {
        reached: Mutex<Vec<String>>,
    }

    impl Host for Recording {
        fn send(&self, _: HttpRequest) -> Result<HttpResponse, ConnectorError> {
            self.reached
                .lock()
                .expect("not poisoned")
                .push("send".into());
            Ok(HttpResponse::json(200, &json!({})))
        }
        fn emit(&self, _: Value) -> Result<(), ConnectorError> {
            self.reached
                .lock()
                .expect("not poisoned")
                .push("emit".into());
            Ok(())
        }
        fn log(&self, _: LogLevel, message: &str) {
            self.reached
                .lock()
                .expect("not poisoned")
                .push(format!("log {message}"));
        }
        fn is_cancelled(&self) -> bool {
            false
        }
        fn sleep(&self, _: std::time::Duration) -> Result<(), ConnectorError> {
            Ok(())
        }
    }

    fn load(defect: Defect) -> Result<PluginConnector, PluginError> {
        DEFECT.with(|d| d.set(defect));
        // SAFETY: a static declaration of this test binary, never unloaded.
        unsafe { PluginConnector::from_declaration(&TEST_DECLARATION) }
    }

    #[test]
    fn lengths_over_the_limit_fail_the_load_or_the_call_unread() {
        let refused = load(Defect::HugeManifest)
            .err()
            .expect("a huge manifest is refused")
            .to_string();
        assert!(
            refused.contains("manifest") && refused.contains("1099511627776 bytes"),
            "{refused}"
        );

        let connector = load(Defect::None).expect("a sound plugin loads");
        let call = Invocation {
            method: "items.list".into(),
            input: json!({}),
            settings: serde_json::Map::new(),
        };
        let host = Recording::default();
        assert_eq!(connector.invoke(&call, &host), Ok(json!("fine")));

        for (defect, what) in [
            (Defect::HugeResult, "the result of its invoke"),
            (Defect::HugeLog, "a log message"),
            (Defect::HugeRecord, "a record"),
            (Defect::HugeRequest, "an HTTP request"),
        ] {
            DEFECT.with(|d| d.set(defect));
            let error = connector.invoke(&call, &host);
            let Err(ConnectorError::Plugin { message }) = error else {
                panic!("{what}: a plugin error, got {error:?}");
            };
            for part in ["`demo`", what, "1099511627776 bytes", "64 MiB"] {
                assert!(message.contains(part), "{what}: `{part}` in {message}");
            }
        }
        assert!(
            host.reached.lock().expect("not poisoned").is_empty(),
            "nothing oversized reached the host"
        );
        DEFECT.with(|d| d.set(Defect::None));
        assert_eq!(
            connector.invoke(&call, &host),
            Ok(json!("fine")),
            "still usable"
        );
    }

    fn manifest() -> Value {
        let method = json!({
            "id": "items.list", "name": "List Items", "category": "Items",
            "description": "Lists items.", "kind": "action", "output": "records",
            "idempotent": true, "input_schema": {}, "output_schema": {}
        });
        let mut second = method.clone();
        second["id"] = json!("items.get");
        let value = json!({
            "id": "demo", "name": "Demo", "version": "0.1.0", "description": "A demo.",
            "base_url": "http://127.0.0.1:9", "auth": AuthSpec::None, "settings_schema": {},
            "methods": [method, second]
        });
        assert!(
            Manifest::deserialize(&value).is_ok(),
            "the fixture is valid"
        );
        value
    }

    fn error(value: &Value) -> String {
        let bytes = serde_json::to_vec(value).expect("serializes");
        manifest_from_json(&bytes)
            .expect_err("the manifest is invalid")
            .to_string()
    }

    #[test]
    fn manifest_errors_name_the_method_and_field() {
        let mut wrong_kind = manifest();
        wrong_kind["methods"][1]["kind"] = json!(3);
        let message = error(&wrong_kind);
        assert!(
            message.contains("`methods[1]` (`items.get`), field `kind`"),
            "{message}"
        );

        let mut missing = manifest();
        let method = missing["methods"][0]
            .as_object_mut()
            .expect("a method is an object");
        method.remove("output");
        let message = error(&missing);
        assert!(
            message.contains("`methods[0]` (`items.list`)") && message.contains("`output`"),
            "{message}"
        );

        let mut top = manifest();
        top["base_url"] = json!(["x"]);
        assert!(error(&top).contains("at `base_url`"), "{}", error(&top));

        let syntax = manifest_from_json(b"{\"id\": ").expect_err("malformed");
        assert!(syntax.to_string().contains("line 1 column"), "{syntax}");
    }
}
