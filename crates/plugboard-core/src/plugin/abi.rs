//! The C ABI of a plugboard plugin, version 1.
//!
//! A plugin exports one static, [`PluginDeclaration`], under the symbol [`DECLARATION_SYMBOL`].
//! The host checks its magic and ABI major version before touching anything else, then asks it for
//! the [`PluginVTable`]. On each call the host passes its own [`HostVTable`] for callbacks.
//!
//! Versioning: a new major version changes the symbol name and is refused by older hosts; a minor
//! version may only append fields to a vtable, and each vtable starts with its own size, so a
//! reader checks the size before using a newer field.
//!
//! Calling convention: functions return a [`Status`]; on [`STATUS_OK`] the out-buffer holds the
//! result as JSON (raw bytes for `body_read`, the one exception: a download's bytes are not
//! text), on [`STATUS_ERROR`] it holds a [`ConnectorError`](crate::ConnectorError) as JSON.
//! A buffer is freed by the `buf_free` of the side that allocated it.

use std::ffi::c_void;

/// The name of the exported declaration symbol (NUL-terminated, as `dlsym` wants it).
pub const DECLARATION_SYMBOL: &[u8] = b"PLUGBOARD_PLUGIN_V1\0";
/// Identifies a plugboard declaration, so a random symbol of the same name is not trusted.
pub const MAGIC: [u8; 8] = *b"PLUGBORD";
/// Incompatible changes bump the major version.
pub const ABI_MAJOR: u16 = 1;
/// Compatible additions (appended vtable fields) bump the minor version.
pub const ABI_MINOR: u16 = 2;

/// The most bytes a host reads from one buffer or slice a plugin hands it: a manifest, an invoke
/// result or error, a record, an HTTP request or a log message. The length comes from the plugin;
/// believing a huge one would make the host allocate (and abort on) terabytes or read far past
/// the plugin's memory, so a longer one fails the load or the call instead. 64 MiB is far above
/// any manifest or single JSON value a connector passes (records cross one at a time).
pub const MAX_PLUGIN_BYTES: usize = 64 * 1024 * 1024;

/// A function's result code.
pub type Status = i32;
/// The call succeeded; the out-buffer holds the result.
pub const STATUS_OK: Status = 0;
/// The call failed; the out-buffer holds a JSON `ConnectorError`.
pub const STATUS_ERROR: Status = 1;

/// What a plugin exports under [`DECLARATION_SYMBOL`].
#[repr(C)]
pub struct PluginDeclaration {
    /// Must equal [`MAGIC`].
    pub magic: [u8; 8],
    /// The plugin's ABI major version; must equal the host's.
    pub abi_major: u16,
    /// The plugin's ABI minor version.
    pub abi_minor: u16,
    /// 1 when the plugin was built with `panic = "unwind"`, so its panics can be caught; a plugin
    /// built with `panic = "abort"` would take the host down with it and is refused.
    pub panic_unwind: u8,
    /// Returns the plugin's vtable, which lives as long as the library.
    pub plugin_vtable: unsafe extern "C" fn() -> *const PluginVTable,
}

/// Bytes borrowed for the duration of one call.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct ByteSlice {
    /// Start of the bytes; may dangle when `len` is 0.
    pub ptr: *const u8,
    /// Number of bytes.
    pub len: usize,
}

impl ByteSlice {
    /// Borrows a Rust byte slice.
    pub fn new(bytes: &[u8]) -> Self {
        Self {
            ptr: bytes.as_ptr(),
            len: bytes.len(),
        }
    }

    /// The bytes.
    ///
    /// # Safety
    /// `ptr` must point to `len` readable bytes that outlive the returned slice.
    pub unsafe fn as_bytes<'a>(self) -> &'a [u8] {
        if self.len == 0 || self.ptr.is_null() {
            return &[];
        }
        // SAFETY: the caller guarantees `ptr..ptr+len` is readable for `'a`.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

/// Bytes handed to the other side, to be freed by the `buf_free` of the side that allocated them.
#[repr(C)]
pub struct OwnedBuffer {
    /// Start of the allocation, or null for an empty buffer.
    pub ptr: *mut u8,
    /// Number of bytes in use.
    pub len: usize,
    /// Size of the allocation.
    pub cap: usize,
}

impl OwnedBuffer {
    /// An empty buffer; freeing it is a no-op.
    pub const EMPTY: Self = Self {
        ptr: std::ptr::null_mut(),
        len: 0,
        cap: 0,
    };

    /// Gives up a vector's allocation; free it with [`OwnedBuffer::free`] in the same library.
    pub fn from_vec(bytes: Vec<u8>) -> Self {
        let mut bytes = std::mem::ManuallyDrop::new(bytes);
        Self {
            ptr: bytes.as_mut_ptr(),
            len: bytes.len(),
            cap: bytes.capacity(),
        }
    }

    /// Frees a buffer made by [`OwnedBuffer::from_vec`] in this library.
    ///
    /// # Safety
    /// The buffer must come from `from_vec` in the same library and not have been freed.
    pub unsafe fn free(self) {
        if !self.ptr.is_null() {
            // SAFETY: the caller guarantees the parts come from a `Vec<u8>` of this allocator.
            drop(unsafe { Vec::from_raw_parts(self.ptr, self.len, self.cap) });
        }
    }

    /// The bytes, borrowed.
    ///
    /// # Safety
    /// The buffer must not have been freed.
    pub unsafe fn as_bytes(&self) -> &[u8] {
        // SAFETY: forwarded to the caller.
        unsafe {
            ByteSlice {
                ptr: self.ptr,
                len: self.len,
            }
            .as_bytes()
        }
    }
}

/// The size of a version 1.0 [`PluginVTable`]: the least a host accepts. Frozen at the end of the
/// last 1.0 field, so appending fields in a later minor version does not change it.
pub const PLUGIN_VTABLE_V1_0_SIZE: usize =
    std::mem::offset_of!(PluginVTable, buf_free) + std::mem::size_of::<usize>();

/// The size of a version 1.0 [`HostVTable`]: the least a plugin accepts (see
/// [`PLUGIN_VTABLE_V1_0_SIZE`]).
pub const HOST_VTABLE_V1_0_SIZE: usize =
    std::mem::offset_of!(HostVTable, buf_free) + std::mem::size_of::<usize>();

/// The size of a version 1.1 [`HostVTable`], which added `sleep`.
pub const HOST_VTABLE_V1_1_SIZE: usize =
    std::mem::offset_of!(HostVTable, sleep) + std::mem::size_of::<usize>();

/// The size of a version 1.2 [`HostVTable`], which added streamed response bodies (`http_open`,
/// `body_read`, `body_close`).
pub const HOST_VTABLE_V1_2_SIZE: usize =
    std::mem::offset_of!(HostVTable, body_close) + std::mem::size_of::<usize>();

/// The most bytes one `body_read` hands over, whatever the plugin asks for: a download crosses
/// the boundary in pieces this size or smaller, so neither side holds more of it at once.
pub const MAX_BODY_CHUNK: usize = 256 * 1024;

/// Functions a plugin offers, version 1.
#[repr(C)]
pub struct PluginVTable {
    /// `size_of::<PluginVTable>()` as the plugin was built; fields past it are absent.
    pub size: usize,
    /// Writes the manifest as JSON.
    pub manifest: unsafe extern "C" fn(out: *mut OwnedBuffer) -> Status,
    /// Creates a connector instance; on error writes a JSON error to `out`.
    pub instantiate:
        unsafe extern "C" fn(instance: *mut *mut c_void, out: *mut OwnedBuffer) -> Status,
    /// Runs a JSON `Invocation` on an instance, calling back through `host`.
    pub invoke: unsafe extern "C" fn(
        instance: *mut c_void,
        invocation: ByteSlice,
        host: *const HostVTable,
        host_ctx: *mut c_void,
        out: *mut OwnedBuffer,
    ) -> Status,
    /// Destroys an instance made by `instantiate`.
    pub destroy: unsafe extern "C" fn(instance: *mut c_void),
    /// Frees a buffer the plugin allocated.
    pub buf_free: unsafe extern "C" fn(buffer: OwnedBuffer),
}

/// Functions a host offers to a plugin during `invoke`, version 1.
#[repr(C)]
pub struct HostVTable {
    /// `size_of::<HostVTable>()` as the host was built; fields past it are absent.
    pub size: usize,
    /// Sends a JSON `HttpRequest`; writes a JSON `HttpResponse` or error.
    pub http_send:
        unsafe extern "C" fn(ctx: *mut c_void, request: ByteSlice, out: *mut OwnedBuffer) -> Status,
    /// Streams one JSON record; on error writes a JSON error.
    pub emit:
        unsafe extern "C" fn(ctx: *mut c_void, record: ByteSlice, out: *mut OwnedBuffer) -> Status,
    /// Logs a UTF-8 message at a `LogLevel`.
    pub log: unsafe extern "C" fn(ctx: *mut c_void, level: u8, message: ByteSlice),
    /// Returns 1 when the run was cancelled.
    pub is_cancelled: unsafe extern "C" fn(ctx: *mut c_void) -> u8,
    /// Frees a buffer the host allocated.
    pub buf_free: unsafe extern "C" fn(buffer: OwnedBuffer),
    /// Since 1.1: waits `millis` milliseconds; on error (cancellation) writes a JSON error.
    pub sleep: unsafe extern "C" fn(ctx: *mut c_void, millis: u64, out: *mut OwnedBuffer) -> Status,
    /// Since 1.2: sends a JSON `HttpRequest` whose answer's body is read as it arrives
    /// ([`crate::Host::send_streamed`]); writes the answer's head as JSON
    /// `{"status", "headers", "body"}`, where `body` is a handle for `body_read`, or an error.
    pub http_open:
        unsafe extern "C" fn(ctx: *mut c_void, request: ByteSlice, out: *mut OwnedBuffer) -> Status,
    /// Since 1.2: reads the next bytes of body `handle`, at most `max` (and at most
    /// [`MAX_BODY_CHUNK`]), into `out` as raw bytes, not JSON; none means the body has ended.
    /// On error writes a JSON error.
    pub body_read: unsafe extern "C" fn(
        ctx: *mut c_void,
        handle: u64,
        max: usize,
        out: *mut OwnedBuffer,
    ) -> Status,
    /// Since 1.2: lets go of body `handle`; what is left unread is discarded. Bodies still open
    /// when `invoke` returns are let go then.
    pub body_close: unsafe extern "C" fn(ctx: *mut c_void, handle: u64),
}

/// The head of a streamed answer as `http_open` writes it: the body stays with the host, behind
/// a handle the plugin reads through `body_read`.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct StreamedHead {
    /// The HTTP status code.
    pub status: u16,
    /// Response headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The body's handle.
    pub body: u64,
}

/// Runs `f`, turning a panic into a JSON error in `out`; used by every exported function on both
/// sides so no panic unwinds across the boundary.
///
/// # Safety
/// `out` must be valid for writes.
pub(crate) unsafe fn guarded(
    out: *mut OwnedBuffer,
    what: &str,
    f: impl FnOnce() -> Result<Vec<u8>, crate::ConnectorError>,
) -> Status {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    let (status, bytes) = match outcome {
        Ok(Ok(bytes)) => (STATUS_OK, bytes),
        Ok(Err(error)) => (STATUS_ERROR, error_json(&error)),
        Err(payload) => {
            let location = PANIC_LOCATION
                .with(std::cell::Cell::take)
                .map(|l| format!(" at {l}"))
                .unwrap_or_default();
            let message = format!(
                "{what} panicked{location}: {}",
                panic_message(payload.as_ref())
            );
            (
                STATUS_ERROR,
                error_json(&crate::ConnectorError::plugin(message)),
            )
        }
    };
    if !out.is_null() {
        // SAFETY: the caller guarantees `out` is writable.
        unsafe { out.write(OwnedBuffer::from_vec(bytes)) };
    }
    status
}

std::thread_local! {
    /// Where the last panic on this thread happened, when a plugin's panic hook recorded it.
    static PANIC_LOCATION: std::cell::Cell<Option<String>> = const { std::cell::Cell::new(None) };
}

/// Replaces a plugin's default panic hook (which prints to the host's stderr) with one that records
/// the panic's location for the error the export returns. A plugin links its own copy of `std`, so
/// this hook never sees the host's panics; call it only from plugin exports.
pub(crate) fn record_plugin_panics() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let location = info
                .location()
                .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()));
            PANIC_LOCATION.with(|cell| cell.set(location));
        }));
    });
}

/// A serialized error; serializing our own enum cannot fail, but a fixed fallback keeps this total.
pub(crate) fn error_json(error: &crate::ConnectorError) -> Vec<u8> {
    serde_json::to_vec(error)
        .unwrap_or_else(|_| br#"{"kind":"plugin","message":"unserializable error"}"#.to_vec())
}

/// The text of a panic payload, when it has one.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a non-text panic payload".to_owned()
    }
}
