//! The host side of the ABI: a [`Connector`] that calls a plugin through its vtable.
//!
//! Finding the declaration in a file (`dlopen`/`dlsym`) is the runner's job; this module starts from
//! the declaration's address, checks it, reads the manifest and serves calls.

use std::ffi::c_void;

use schemars::Schema;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::abi::{
    ABI_MAJOR, ByteSlice, HostVTable, MAGIC, OwnedBuffer, PLUGIN_VTABLE_V1_0_SIZE,
    PluginDeclaration, PluginVTable, Status, guarded,
};
use super::guest::{decode_status, from_json, to_json};
use crate::auth::AuthSpec;
use crate::connector::{Connector, Invocation};
use crate::error::ConnectorError;
use crate::host::{Host, LogLevel};
use crate::http::HttpRequest;
use crate::manifest::{Manifest, MethodDescriptor, MethodKind, OutputShape};
use crate::rate_limit::RateLimit;

/// Why a plugin's declaration was refused.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
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

        let manifest_bytes = call_plugin("manifest", vtable, |out| {
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
        call_plugin("instantiate", vtable, |out| {
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
        let context = HostContext { host };
        let bytes = call_plugin("invoke", self.vtable, |out| {
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
        })?;
        from_json(&bytes, "result of invoke")
    }
}

/// Calls a plugin export that fills an out-buffer, copies the bytes and frees the buffer with the
/// plugin's own allocator.
fn call_plugin(
    what: &str,
    vtable: &PluginVTable,
    call: impl FnOnce(*mut OwnedBuffer) -> Status,
) -> Result<Vec<u8>, ConnectorError> {
    let mut out = OwnedBuffer::EMPTY;
    let status = call(&mut out);
    // SAFETY: the plugin filled `out` (or left it empty); it is copied before being freed.
    let bytes = unsafe { out.as_bytes().to_vec() };
    // SAFETY: the buffer was allocated by the plugin, so the plugin frees it.
    unsafe { (vtable.buf_free)(out) };
    decode_status(status, bytes, &format!("the plugin's {what}"))
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

/// What the host vtable's `ctx` points to during one `invoke`.
struct HostContext<'a> {
    host: &'a dyn Host,
}

static HOST_VTABLE: HostVTable = HostVTable {
    size: std::mem::size_of::<HostVTable>(),
    http_send: host_http_send,
    emit: host_emit,
    log: host_log,
    is_cancelled: host_is_cancelled,
    buf_free: host_buf_free,
    sleep: host_sleep,
};

/// # Safety
/// `ctx` must be the `HostContext` of the current `invoke`.
unsafe fn context<'a>(ctx: *mut c_void) -> &'a HostContext<'a> {
    // SAFETY: forwarded to the caller.
    unsafe { &*(ctx as *const HostContext<'a>) }
}

unsafe extern "C" fn host_http_send(
    ctx: *mut c_void,
    request: ByteSlice,
    out: *mut OwnedBuffer,
) -> Status {
    // SAFETY: the plugin passes back our ctx, its request bytes and a writable out-buffer.
    unsafe {
        guarded(out, "the host's http_send", || {
            let request: HttpRequest =
                from_json(request.as_bytes(), "HTTP request from the plugin")?;
            to_json(&context(ctx).host.send(request)?)
        })
    }
}

unsafe extern "C" fn host_emit(
    ctx: *mut c_void,
    record: ByteSlice,
    out: *mut OwnedBuffer,
) -> Status {
    // SAFETY: the plugin passes back our ctx, its record bytes and a writable out-buffer.
    unsafe {
        guarded(out, "the host's emit", || {
            let record: Value = from_json(record.as_bytes(), "record from the plugin")?;
            context(ctx).host.emit(record)?;
            Ok(Vec::new())
        })
    }
}

unsafe extern "C" fn host_log(ctx: *mut c_void, level: u8, message: ByteSlice) {
    let _ = std::panic::catch_unwind(|| {
        // SAFETY: the plugin passes back our ctx and its message bytes.
        let (host, bytes) = unsafe { (context(ctx).host, message.as_bytes()) };
        host.log(LogLevel::from_u8(level), &String::from_utf8_lossy(bytes));
    });
}

unsafe extern "C" fn host_is_cancelled(ctx: *mut c_void) -> u8 {
    // A host that cannot answer is treated as cancelled: stopping is the safe side.
    std::panic::catch_unwind(|| {
        // SAFETY: the plugin passes back our ctx.
        u8::from(unsafe { context(ctx) }.host.is_cancelled())
    })
    .unwrap_or(1)
}

unsafe extern "C" fn host_sleep(ctx: *mut c_void, millis: u64, out: *mut OwnedBuffer) -> Status {
    // SAFETY: the plugin passes back our ctx and a writable out-buffer.
    unsafe {
        guarded(out, "the host's sleep", || {
            context(ctx)
                .host
                .sleep(std::time::Duration::from_millis(millis))?;
            Ok(Vec::new())
        })
    }
}

unsafe extern "C" fn host_buf_free(buffer: OwnedBuffer) {
    // SAFETY: the plugin only frees buffers the host allocated, once.
    unsafe { buffer.free() }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

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
