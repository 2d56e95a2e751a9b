//! A local emulator of the Constant Contact API v3 and its OAuth2 server.
