//! The host's callbacks: what a plugin calls, through the host vtable, during one `invoke` of
//! [`PluginConnector`](super::loaded::PluginConnector): HTTP requests and streamed bodies,
//! records, logs, cancellation and sleeps, each served by the run's [`Host`].
//!
//! Every length the plugin hands over is checked against [`MAX_PLUGIN_BYTES`] before a byte is
//! read: an oversized slice fails the call (remembered in [`HostContext::oversized`]), never the
//! host.

use std::cell::RefCell;
use std::ffi::c_void;
use std::io::Read;
use std::sync::OnceLock;

use super::abi::{
    ByteSlice, HostVTable, MAX_BODY_CHUNK, MAX_PLUGIN_BYTES, OwnedBuffer, Status, StreamedHead,
    guarded,
};
use super::guest::{from_json, to_json};
use super::loaded::oversized;
use crate::error::ConnectorError;
use crate::host::{Host, LogLevel};
use crate::http::{HttpRequest, body_error};
use serde_json::Value;

/// What the host vtable's `ctx` points to during one `invoke`.
pub(super) struct HostContext<'a> {
    pub(super) host: &'a dyn Host,
    /// The connector's id, for errors.
    pub(super) connector: &'a str,
    /// The first oversized slice the plugin passed, which fails the call.
    pub(super) oversized: OnceLock<ConnectorError>,
    /// The bodies of streamed answers the plugin is reading (`http_open`); handle `n` is index
    /// `n - 1`, and a closed one is `None`. A plugin calls back on the thread of its `invoke`,
    /// one call at a time, so a `RefCell` is enough.
    pub(super) bodies: RefCell<Vec<Option<Box<dyn Read + 'a>>>>,
}

impl<'a> HostContext<'a> {
    /// The bytes of a slice from the plugin, or (remembered for the end of the call) an error when
    /// it claims more than [`MAX_PLUGIN_BYTES`].
    ///
    /// # Safety
    /// Within the limit, `slice` must point to `len` readable bytes for the rest of the callback.
    unsafe fn bytes<'b>(&self, slice: ByteSlice, what: &str) -> Result<&'b [u8], ConnectorError> {
        if slice.len > MAX_PLUGIN_BYTES {
            let error = oversized(Some(self.connector), what, slice.len);
            let _ = self.oversized.set(error.clone());
            return Err(error);
        }
        // SAFETY: forwarded to the caller.
        Ok(unsafe { slice.as_bytes() })
    }

    /// Keeps a body for the plugin to read; returns its handle.
    fn open_body(&self, body: Box<dyn Read + 'a>) -> u64 {
        let mut bodies = self.bodies.borrow_mut();
        bodies.push(Some(body));
        bodies.len() as u64
    }

    /// Reads the next bytes (at most `max`, at most [`MAX_BODY_CHUNK`]) of body `handle`; an
    /// ended body lets go of what it held at once.
    fn read_body(&self, handle: u64, max: usize) -> Result<Vec<u8>, ConnectorError> {
        let mut bodies = self.bodies.borrow_mut();
        let index = body_index(handle);
        let Some(body) = index
            .and_then(|i| bodies.get_mut(i))
            .and_then(Option::as_mut)
        else {
            return Err(ConnectorError::plugin(format!(
                "body_read: no open body has handle {handle}"
            )));
        };
        let mut chunk = vec![0; max.min(MAX_BODY_CHUNK)];
        let read = loop {
            match body.read(&mut chunk) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                other => break other.map_err(|e| body_error(&e))?,
            }
        };
        chunk.truncate(read);
        if read == 0 && max > 0 {
            // Ended: the connection behind it goes now; later reads still see the end.
            *body = Box::new(std::io::empty());
        }
        Ok(chunk)
    }

    /// Lets go of body `handle`, if it is open.
    fn close_body(&self, handle: u64) {
        let body = body_index(handle)
            .and_then(|i| self.bodies.borrow_mut().get_mut(i).and_then(Option::take));
        // Dropped after the borrow ends: letting go of a body may close a connection.
        drop(body);
    }
}

/// The index in [`HostContext::bodies`] of a handle (handles start at 1).
fn body_index(handle: u64) -> Option<usize> {
    usize::try_from(handle).ok()?.checked_sub(1)
}

pub(super) static HOST_VTABLE: HostVTable = HostVTable {
    size: std::mem::size_of::<HostVTable>(),
    http_send: host_http_send,
    emit: host_emit,
    log: host_log,
    is_cancelled: host_is_cancelled,
    buf_free: host_buf_free,
    sleep: host_sleep,
    http_open: host_http_open,
    body_read: host_body_read,
    body_close: host_body_close,
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
            let context = context(ctx);
            let bytes = context.bytes(request, "an HTTP request")?;
            let request: HttpRequest = from_json(bytes, "HTTP request from the plugin")?;
            to_json(&context.host.send(request)?)
        })
    }
}

unsafe extern "C" fn host_http_open(
    ctx: *mut c_void,
    request: ByteSlice,
    out: *mut OwnedBuffer,
) -> Status {
    // SAFETY: the plugin passes back our ctx, its request bytes and a writable out-buffer.
    unsafe {
        guarded(out, "the host's http_open", || {
            let context = context(ctx);
            let bytes = context.bytes(request, "an HTTP request")?;
            let request: HttpRequest = from_json(bytes, "HTTP request from the plugin")?;
            let response = context.host.send_streamed(request)?;
            let body = context.open_body(response.body);
            let head = to_json(&StreamedHead {
                status: response.status,
                headers: response.headers,
                body,
            });
            if head.is_err() {
                // The plugin never learns the handle: the body (and its connection) goes now.
                context.close_body(body);
            }
            head
        })
    }
}

unsafe extern "C" fn host_body_read(
    ctx: *mut c_void,
    handle: u64,
    max: usize,
    out: *mut OwnedBuffer,
) -> Status {
    // SAFETY: the plugin passes back our ctx and a writable out-buffer.
    unsafe {
        guarded(out, "the host's body_read", || {
            context(ctx).read_body(handle, max)
        })
    }
}

unsafe extern "C" fn host_body_close(ctx: *mut c_void, handle: u64) {
    let _ = std::panic::catch_unwind(|| {
        // SAFETY: the plugin passes back our ctx.
        unsafe { context(ctx) }.close_body(handle);
    });
}

unsafe extern "C" fn host_emit(
    ctx: *mut c_void,
    record: ByteSlice,
    out: *mut OwnedBuffer,
) -> Status {
    // SAFETY: the plugin passes back our ctx, its record bytes and a writable out-buffer.
    unsafe {
        guarded(out, "the host's emit", || {
            let context = context(ctx);
            let record: Value =
                from_json(context.bytes(record, "a record")?, "record from the plugin")?;
            context.host.emit(record)?;
            Ok(Vec::new())
        })
    }
}

unsafe extern "C" fn host_log(ctx: *mut c_void, level: u8, message: ByteSlice) {
    let _ = std::panic::catch_unwind(|| {
        // SAFETY: the plugin passes back our ctx and its message bytes.
        let context = unsafe { context(ctx) };
        // SAFETY: as above; an oversized message is only remembered, for the end of the call.
        if let Ok(bytes) = unsafe { context.bytes(message, "a log message") } {
            context
                .host
                .log(LogLevel::from_u8(level), &String::from_utf8_lossy(bytes));
        }
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
