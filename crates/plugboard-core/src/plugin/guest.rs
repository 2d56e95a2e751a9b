//! The plugin side of the ABI: what [`export_connector!`](crate::export_connector) expands to.
//!
//! A plugin is the same [`DefinedConnector`] a built-in is, wrapped in `extern "C"` functions that
//! take JSON bytes, catch panics and hand back buffers the plugin frees itself.

use std::ffi::c_void;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::abi::{
    ABI_MAJOR, ABI_MINOR, ByteSlice, HOST_VTABLE_V1_0_SIZE, HOST_VTABLE_V1_1_SIZE,
    HOST_VTABLE_V1_2_SIZE, HostVTable, MAGIC, OwnedBuffer, PluginDeclaration, PluginVTable,
    STATUS_ERROR, STATUS_OK, Status, StreamedHead, guarded, record_plugin_panics,
};
use crate::connector::{Connector, ConnectorDefinition, DefinedConnector, Invocation};
use crate::error::ConnectorError;
use crate::host::{Host, LogLevel};
use crate::http::{HttpRequest, HttpResponse, StreamedResponse};

/// The declaration a plugin exports; `vtable` is a function returning the plugin's static vtable.
pub const fn declaration(
    panic_unwind: bool,
    vtable: unsafe extern "C" fn() -> *const PluginVTable,
) -> PluginDeclaration {
    PluginDeclaration {
        magic: MAGIC,
        abi_major: ABI_MAJOR,
        abi_minor: ABI_MINOR,
        panic_unwind: panic_unwind as u8,
        plugin_vtable: vtable,
    }
}

/// The vtable of connector `D`.
pub const fn vtable<D: ConnectorDefinition>() -> PluginVTable {
    PluginVTable {
        size: std::mem::size_of::<PluginVTable>(),
        manifest: manifest::<D>,
        instantiate: instantiate::<D>,
        invoke,
        destroy,
        buf_free,
    }
}

unsafe extern "C" fn manifest<D: ConnectorDefinition>(out: *mut OwnedBuffer) -> Status {
    record_plugin_panics();
    // SAFETY: the host passes a writable out-buffer.
    unsafe {
        guarded(out, "the plugin's manifest", || {
            to_json(DefinedConnector::new::<D>().manifest())
        })
    }
}

unsafe extern "C" fn instantiate<D: ConnectorDefinition>(
    instance: *mut *mut c_void,
    out: *mut OwnedBuffer,
) -> Status {
    record_plugin_panics();
    // SAFETY: the host passes a writable out-buffer.
    unsafe {
        guarded(out, "the plugin's instantiate", || {
            let connector = Box::new(DefinedConnector::new::<D>());
            if instance.is_null() {
                return Err(ConnectorError::plugin(
                    "instantiate got a null instance slot",
                ));
            }
            // SAFETY: checked non-null above; the host passes a writable slot.
            instance.write(Box::into_raw(connector).cast());
            Ok(Vec::new())
        })
    }
}

unsafe extern "C" fn invoke(
    instance: *mut c_void,
    invocation: ByteSlice,
    host: *const HostVTable,
    host_ctx: *mut c_void,
    out: *mut OwnedBuffer,
) -> Status {
    record_plugin_panics();
    // SAFETY: the host passes a writable out-buffer.
    unsafe {
        guarded(out, "the plugin's invoke", || {
            if instance.is_null() || host.is_null() {
                return Err(ConnectorError::plugin("invoke got a null instance or host"));
            }
            // SAFETY: `instance` came from `instantiate` and is alive until `destroy`.
            let connector = &*(instance as *const DefinedConnector);
            // SAFETY: the host vtable outlives the call.
            let vtable = &*host;
            if vtable.size < HOST_VTABLE_V1_0_SIZE {
                return Err(ConnectorError::plugin(format!(
                    "the host's vtable is {} bytes, smaller than ABI 1.0 requires ({HOST_VTABLE_V1_0_SIZE} bytes)",
                    vtable.size
                )));
            }
            // SAFETY: the invocation bytes are borrowed for the duration of the call.
            let invocation: Invocation = from_json(invocation.as_bytes(), "invocation")?;
            let remote = RemoteHost {
                vtable,
                ctx: host_ctx,
            };
            to_json(&connector.invoke(&invocation, &remote)?)
        })
    }
}

unsafe extern "C" fn destroy(instance: *mut c_void) {
    if instance.is_null() {
        return;
    }
    // A panic in a destructor must not cross the boundary; there is nobody to report it to.
    let _ = std::panic::catch_unwind(|| {
        // SAFETY: `instance` came from `Box::into_raw` in `instantiate` and is destroyed once.
        drop(unsafe { Box::from_raw(instance as *mut DefinedConnector) });
    });
}

unsafe extern "C" fn buf_free(buffer: OwnedBuffer) {
    // SAFETY: the host only frees buffers this plugin allocated, once.
    unsafe { buffer.free() }
}

/// The host, seen from inside the plugin: each call goes back through the host's vtable.
struct RemoteHost<'a> {
    vtable: &'a HostVTable,
    ctx: *mut c_void,
}

impl RemoteHost<'_> {
    fn call(
        &self,
        function: unsafe extern "C" fn(*mut c_void, ByteSlice, *mut OwnedBuffer) -> Status,
        what: &str,
        argument: &[u8],
    ) -> Result<Vec<u8>, ConnectorError> {
        let mut out = OwnedBuffer::EMPTY;
        // SAFETY: the vtable and ctx are valid for the duration of `invoke`; `out` is writable.
        let status = unsafe { function(self.ctx, ByteSlice::new(argument), &mut out) };
        // SAFETY: the host filled `out` (or left it empty) and it is freed right after the copy.
        let bytes = unsafe { out.as_bytes().to_vec() };
        // SAFETY: `out` was allocated by the host, so the host frees it.
        unsafe { (self.vtable.buf_free)(out) };
        decode_status(status, bytes, what)
    }
}

impl Host for RemoteHost<'_> {
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, ConnectorError> {
        let bytes = self.call(self.vtable.http_send, "http_send", &to_json(&request)?)?;
        from_json(&bytes, "HTTP response from the host")
    }

    fn send_streamed(&self, request: HttpRequest) -> Result<StreamedResponse<'_>, ConnectorError> {
        if self.vtable.size < HOST_VTABLE_V1_2_SIZE {
            // A 1.0 or 1.1 host cannot stream: the whole body comes through `http_send`.
            return self.send(request).map(StreamedResponse::whole);
        }
        let bytes = self.call(self.vtable.http_open, "http_open", &to_json(&request)?)?;
        let head: StreamedHead = from_json(&bytes, "streamed HTTP response from the host")?;
        Ok(StreamedResponse {
            status: head.status,
            headers: head.headers,
            body: Box::new(RemoteBody {
                vtable: self.vtable,
                ctx: self.ctx,
                handle: head.body,
            }),
        })
    }

    fn emit(&self, record: serde_json::Value) -> Result<(), ConnectorError> {
        self.call(self.vtable.emit, "emit", &to_json(&record)?)
            .map(drop)
    }

    fn log(&self, level: LogLevel, message: &str) {
        // SAFETY: the vtable and ctx are valid for the duration of `invoke`.
        unsafe { (self.vtable.log)(self.ctx, level as u8, ByteSlice::new(message.as_bytes())) }
    }

    fn is_cancelled(&self) -> bool {
        // SAFETY: the vtable and ctx are valid for the duration of `invoke`.
        unsafe { (self.vtable.is_cancelled)(self.ctx) != 0 }
    }

    fn sleep(&self, duration: std::time::Duration) -> Result<(), ConnectorError> {
        if self.vtable.size < HOST_VTABLE_V1_1_SIZE {
            // A 1.0 host has no `sleep`: wait here, still honouring its cancellation flag.
            return crate::host::sleep_unless_cancelled(duration, || self.is_cancelled());
        }
        let millis = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        let mut out = OwnedBuffer::EMPTY;
        // SAFETY: the vtable is at least 1.1-sized, so `sleep` is present; ctx is valid for the
        // duration of `invoke` and `out` is writable.
        let status = unsafe { (self.vtable.sleep)(self.ctx, millis, &mut out) };
        // SAFETY: the host filled `out` (or left it empty) and it is freed right after the copy.
        let bytes = unsafe { out.as_bytes().to_vec() };
        // SAFETY: `out` was allocated by the host, so the host frees it.
        unsafe { (self.vtable.buf_free)(out) };
        decode_status(status, bytes, "sleep").map(drop)
    }
}

/// A body the host keeps, read piece by piece through `body_read` and let go of when dropped.
struct RemoteBody<'a> {
    vtable: &'a HostVTable,
    ctx: *mut c_void,
    handle: u64,
}

impl std::io::Read for RemoteBody<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let mut out = OwnedBuffer::EMPTY;
        // SAFETY: the vtable is at least 1.2-sized (checked when the body was opened); ctx is
        // valid for the duration of `invoke`, which this body does not outlive; `out` is writable.
        let status = unsafe { (self.vtable.body_read)(self.ctx, self.handle, buf.len(), &mut out) };
        // SAFETY: the host filled `out` (or left it empty); it is freed right after the copy.
        let bytes = unsafe { out.as_bytes() };
        let read = if status != STATUS_OK {
            // The buffer holds the JSON error (or the status is unknown, which is one too).
            Err(decode_status(status, bytes.to_vec(), "body_read")
                .err()
                .unwrap_or_else(|| ConnectorError::plugin("body_read failed")))
        } else if bytes.len() > buf.len() {
            Err(ConnectorError::plugin(format!(
                "the host's body_read gave {} bytes where {} were asked for",
                bytes.len(),
                buf.len()
            )))
        } else {
            buf[..bytes.len()].copy_from_slice(bytes);
            Ok(bytes.len())
        };
        // SAFETY: `out` was allocated by the host, so the host frees it.
        unsafe { (self.vtable.buf_free)(out) };
        read.map_err(std::io::Error::other)
    }
}

impl Drop for RemoteBody<'_> {
    fn drop(&mut self) {
        // SAFETY: as in `read`; the handle is closed once.
        unsafe { (self.vtable.body_close)(self.ctx, self.handle) }
    }
}

/// Turns a status and its buffer into a result; shared by both sides of the boundary.
pub(crate) fn decode_status(
    status: Status,
    bytes: Vec<u8>,
    what: &str,
) -> Result<Vec<u8>, ConnectorError> {
    match status {
        STATUS_OK => Ok(bytes),
        STATUS_ERROR => Err(serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            ConnectorError::plugin(format!("{what} returned an unreadable error: {e}"))
        })),
        other => Err(ConnectorError::plugin(format!(
            "{what} returned unknown status {other}"
        ))),
    }
}

pub(crate) fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, ConnectorError> {
    serde_json::to_vec(value)
        .map_err(|e| ConnectorError::plugin(format!("cannot encode a value as JSON: {e}")))
}

pub(crate) fn from_json<T: DeserializeOwned>(
    bytes: &[u8],
    what: &str,
) -> Result<T, ConnectorError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ConnectorError::plugin(format!("malformed {what}: {e}")))
}

/// Exports a [`ConnectorDefinition`] as a plugin: the versioned declaration symbol and its vtable.
///
/// Use it in a small `cdylib` package of its own (by convention `connectors/<name>/plugin`), never
/// in the connector's library: two connectors linked into one program would otherwise export the
/// same symbol twice.
///
/// ```ignore
/// plugboard_core::export_connector!(constant_contact::ConstantContact);
/// ```
#[macro_export]
macro_rules! export_connector {
    ($definition:ty) => {
        const _: () = {
            static VTABLE: $crate::plugin::abi::PluginVTable =
                $crate::plugin::guest::vtable::<$definition>();

            unsafe extern "C" fn plugin_vtable() -> *const $crate::plugin::abi::PluginVTable {
                &VTABLE
            }

            /// The plugboard plugin declaration read by hosts.
            #[unsafe(no_mangle)]
            pub static PLUGBOARD_PLUGIN_V1: $crate::plugin::abi::PluginDeclaration =
                $crate::plugin::guest::declaration(::core::cfg!(panic = "unwind"), plugin_vtable);
        };
    };
}
