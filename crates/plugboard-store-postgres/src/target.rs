//! Where the store connects: the parsed URL, how it is named in messages (never with its
//! password), and whether the connection is encrypted.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use tokio_postgres::config::{Host, SslMode};

use crate::PgStoreError;

/// How long one connection attempt may take when the URL does not say (`connect_timeout`).
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether connections use TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// Plain TCP (or a unix socket): the URL says `sslmode=disable`, or every host is this
    /// machine (loopback or a socket), where TLS protects nothing.
    Plain,
    /// TLS through rustls, the server's certificate checked against the system's trust store.
    /// Required for a remote server unless the URL says `sslmode=disable`: libpq's default,
    /// `prefer`, would silently fall back to plain text when the server offers no TLS.
    Tls,
}

/// A parsed PostgreSQL URL.
#[derive(Clone)]
pub struct Target {
    config: tokio_postgres::Config,
    transport: Transport,
    label: String,
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("database", &self.label)
            .field("transport", &self.transport)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label)
    }
}

impl Target {
    /// Parses a `postgres://user:password@host:port/database?sslmode=…` URL (or libpq's
    /// `key=value` form). The error never repeats the URL, which may hold a password.
    pub fn parse(url: &str) -> Result<Self, PgStoreError> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e: tokio_postgres::Error| PgStoreError::BadUrl(e.to_string()))?;
        if config.get_hosts().is_empty() {
            return Err(PgStoreError::BadUrl("it names no host".into()));
        }
        if config.get_dbname().is_none() {
            return Err(PgStoreError::BadUrl("it names no database".into()));
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("plugboard");
        }
        let local = config.get_hosts().iter().all(is_this_machine);
        let transport = match config.get_ssl_mode() {
            SslMode::Disable => Transport::Plain,
            SslMode::Prefer if local => Transport::Plain,
            _ => {
                config.ssl_mode(SslMode::Require);
                Transport::Tls
            }
        };
        let label = label(&config);
        Ok(Self {
            config,
            transport,
            label,
        })
    }

    /// The client configuration.
    pub fn config(&self) -> &tokio_postgres::Config {
        &self.config
    }

    /// Whether connections use TLS.
    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// `host:port/database`, for messages: no user, no password, no options.
    pub fn label(&self) -> &str {
        &self.label
    }
}

fn is_this_machine(host: &Host) -> bool {
    match host {
        Host::Unix(_) => true,
        Host::Tcp(name) => {
            name.eq_ignore_ascii_case("localhost")
                || name
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
    }
}

fn label(config: &tokio_postgres::Config) -> String {
    let ports = config.get_ports();
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let port = ports
                .get(i)
                .or_else(|| ports.first())
                .copied()
                .unwrap_or(5432);
            match host {
                Host::Tcp(name) if name.contains(':') && !name.starts_with('[') => {
                    format!("[{name}]:{port}")
                }
                Host::Tcp(name) => format!("{name}:{port}"),
                Host::Unix(path) => format!("{}:{port}", path.display()),
            }
        })
        .collect();
    format!(
        "{}/{}",
        hosts.join(","),
        config.get_dbname().unwrap_or_default()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_label_names_host_port_and_database_but_no_credentials() {
        let target = Target::parse("postgres://app:s3cr3t-pw@db.example.com:6543/plugboard")
            .expect("parses");
        assert_eq!(target.label(), "db.example.com:6543/plugboard");
        assert!(!format!("{target:?}").contains("s3cr3t-pw"));
        let default_port = Target::parse("postgres://app@db.example.com/pb").expect("parses");
        assert_eq!(default_port.label(), "db.example.com:5432/pb");
    }

    #[test]
    fn loopback_goes_plain_and_remote_needs_tls_unless_disabled() {
        let cases = [
            ("postgres://u@127.0.0.1:5/d", Transport::Plain),
            ("postgres://u@localhost/d", Transport::Plain),
            ("postgres://u@[::1]:5/d", Transport::Plain),
            ("postgres://u@127.0.0.1/d?sslmode=require", Transport::Tls),
            ("postgres://u@db.example.com/d", Transport::Tls),
            ("postgres://u@10.0.0.5/d?sslmode=prefer", Transport::Tls),
            (
                "postgres://u@db.example.com/d?sslmode=disable",
                Transport::Plain,
            ),
        ];
        for (url, expected) in cases {
            let target = Target::parse(url).expect("parses");
            assert_eq!(target.transport(), expected, "{url}");
            if expected == Transport::Tls {
                assert_eq!(target.config().get_ssl_mode(), SslMode::Require, "{url}");
            }
        }
    }

    #[test]
    fn a_bad_url_is_refused_without_repeating_it() {
        for url in [
            "postgres://u:pw-secret@h:notaport/d",
            "postgres://u:pw-secret@h:5/",
            "postgres://u:pw-secret@h:5/d?bogus_option=pw-secret",
        ] {
            let error = Target::parse(url).expect_err("refused");
            let message = error.to_string();
            assert!(message.contains("PostgreSQL URL"), "{message}");
            assert!(!message.contains("pw-secret"), "{message}");
        }
    }

    #[test]
    fn a_connect_timeout_is_always_set() {
        let target = Target::parse("postgres://u@127.0.0.1/d").expect("parses");
        assert_eq!(
            target.config().get_connect_timeout(),
            Some(&DEFAULT_CONNECT_TIMEOUT)
        );
        let own = Target::parse("postgres://u@127.0.0.1/d?connect_timeout=3").expect("parses");
        assert_eq!(
            own.config().get_connect_timeout(),
            Some(&Duration::from_secs(3))
        );
    }
}
