//! A response body read as it arrives, for [`plugboard_core::Host::send_streamed`].
//!
//! The connector reads on its blocking thread; each read that needs more bytes waits for the next
//! chunk on the runtime, as a host call: it counts as time inside the host (never as a stall), it
//! stops at once when the run is cancelled, and it is refused once the call was abandoned.

use std::io::{self, Read};

use plugboard_core::ConnectorError;
use tokio::runtime::Handle;

use crate::cancel::Cancellation;
use crate::executor::{authority, transport_error};

/// What a body read must go through on the host's side: marking the call as inside the host.
pub(crate) trait HostCall {
    /// Runs `read` as a host call.
    fn within(&self, read: &mut dyn FnMut() -> io::Result<usize>) -> io::Result<usize>;
}

/// The body of a 2xx answer, still on the wire.
pub(crate) struct ResponseBody<'a> {
    host: &'a dyn HostCall,
    handle: &'a Handle,
    cancel: Cancellation,
    response: reqwest::Response,
    /// The chunk being handed out, and how much of it is.
    chunk: Vec<u8>,
    offset: usize,
    /// The connection and the server's `host:port`, for errors (never the URL).
    connection: String,
    server: String,
}

impl<'a> ResponseBody<'a> {
    pub(crate) fn new(
        host: &'a dyn HostCall,
        handle: &'a Handle,
        cancel: Cancellation,
        response: reqwest::Response,
        connection: &str,
    ) -> Self {
        Self {
            host,
            handle,
            cancel,
            server: authority(response.url()),
            response,
            chunk: Vec::new(),
            offset: 0,
            connection: connection.to_owned(),
        }
    }

    /// Waits for the next chunk; `false` at the end of the body.
    fn refill(&mut self) -> io::Result<bool> {
        let next = self.handle.block_on(async {
            tokio::select! {
                chunk = self.response.chunk() => Ok(chunk),
                () = self.cancel.cancelled() => Err(ConnectorError::Cancelled),
            }
        });
        match next {
            Ok(Ok(Some(chunk))) => {
                self.chunk.clear();
                self.chunk.extend_from_slice(&chunk);
                self.offset = 0;
                Ok(true)
            }
            Ok(Ok(None)) => Ok(false),
            Ok(Err(error)) => Err(io::Error::other(transport_error(
                &error,
                &self.connection,
                &self.server,
            ))),
            Err(error) => Err(io::Error::other(error)),
        }
    }
}

impl Read for ResponseBody<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let host = self.host;
        host.within(&mut || {
            while self.offset == self.chunk.len() {
                if !self.refill()? {
                    return Ok(0);
                }
            }
            let n = buf.len().min(self.chunk.len() - self.offset);
            buf[..n].copy_from_slice(&self.chunk[self.offset..self.offset + n]);
            self.offset += n;
            Ok(n)
        })
    }
}
