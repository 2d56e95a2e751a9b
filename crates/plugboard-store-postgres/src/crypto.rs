//! Secrets at rest: client secrets, access and refresh tokens are sealed with the operator's key
//! before they reach the database (DESIGN.md invariant 8), so a dump, a replica or a backup of the
//! shared store holds no usable credential.
//!
//! # The key
//! `PLUGBOARD_SECRET_KEY` holds 32 random bytes in base64 (standard or URL-safe alphabet, padding
//! optional), e.g. the output of `openssl rand -base64 32`. A missing, short, long or undecodable
//! key is refused with an error that names the variable and never repeats its value.
//!
//! # A sealed value
//! `pbs1:<key id>:<base64url(nonce ‖ ciphertext ‖ tag)>`, text, so it fits a `TEXT` column and a
//! dump stays readable:
//! - `pbs1` is the format: XChaCha20-Poly1305 with a fresh random 24-byte nonce per value (large
//!   enough that random nonces never repeat in practice, so no counter has to be kept in sync
//!   between processes);
//! - the key id is derived from the key (8 hex digits of a domain-separated SHA-256), so a value
//!   says which key sealed it: a later rotation can keep old keys for reading, and a wrong key is
//!   told apart from a damaged value without trying to decrypt;
//! - the associated data binds the value to its place ([`SecretSlot`]: the column, the tenant and
//!   the row, e.g. the connection's name), so a ciphertext copied into another row or column does
//!   not decrypt there.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, Generate as _, Payload};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use secrecy::{ExposeSecret, SecretBox, SecretString};
use sha2::{Digest, Sha256};

/// The environment variable that holds the operator's key.
pub const SECRET_KEY_VAR: &str = "PLUGBOARD_SECRET_KEY";

/// The prefix of every value this format seals.
const FORMAT: &str = "pbs1";
/// Bytes in a key.
const KEY_LEN: usize = 32;
/// Bytes in an XChaCha20 nonce.
const NONCE_LEN: usize = 24;
/// Bytes in a Poly1305 tag.
const TAG_LEN: usize = 16;

/// Why `PLUGBOARD_SECRET_KEY` cannot be used. No variant carries the key's text.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    /// The variable is not set (or empty).
    #[error(
        "{SECRET_KEY_VAR} is not set: the PostgreSQL store encrypts client secrets and tokens \
         with it; set it to 32 random bytes in base64 (e.g. `openssl rand -base64 32`)"
    )]
    Missing,
    /// The variable is not valid base64 (or not valid Unicode).
    #[error(
        "{SECRET_KEY_VAR} is not valid base64 (its value is not shown); it must be 32 random \
         bytes in base64, e.g. `openssl rand -base64 32`"
    )]
    NotBase64,
    /// It decodes to the wrong number of bytes.
    #[error(
        "{SECRET_KEY_VAR} decodes to {found} bytes; it must be exactly {KEY_LEN} random bytes \
         in base64, e.g. `openssl rand -base64 32`"
    )]
    WrongLength {
        /// How many bytes it decoded to.
        found: usize,
    },
    /// Every byte is the same (all zeros, a placeholder): not a random key.
    #[error(
        "{SECRET_KEY_VAR} is one byte repeated, not a random key; generate one with \
         `openssl rand -base64 32`"
    )]
    NotRandom,
}

/// Which column a secret lives in: part of the associated data, so a value cannot be moved to
/// another column (an access token read as a refresh token, settings as a token).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretColumn {
    /// `partner_settings.settings_sealed`: an app's settings (its client secret among them).
    PartnerSettings,
    /// `connections.settings_sealed`: a connection's settings (API keys, passwords).
    ConnectionSettings,
    /// `tokens.access_token_sealed`.
    AccessToken,
    /// `tokens.refresh_token_sealed`.
    RefreshToken,
    /// `secret_keys.check_sealed`: the value that proves a key is the database's.
    KeyCheck,
    /// `service_pending_installs.authorization_sealed`: an install's PKCE verifier and settings.
    ServicePendingInstall,
    /// `service_schedules.inputs_sealed`: the run inputs a schedule fires with.
    ServiceScheduleInputs,
}

impl SecretColumn {
    /// The `table.column` it names.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PartnerSettings => "partner_settings.settings_sealed",
            Self::ConnectionSettings => "connections.settings_sealed",
            Self::AccessToken => "tokens.access_token_sealed",
            Self::RefreshToken => "tokens.refresh_token_sealed",
            Self::KeyCheck => "secret_keys.check_sealed",
            Self::ServicePendingInstall => "service_pending_installs.authorization_sealed",
            Self::ServiceScheduleInputs => "service_schedules.inputs_sealed",
        }
    }
}

/// Where a sealed value belongs: bound into its associated data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecretSlot<'a> {
    /// The column.
    pub column: SecretColumn,
    /// The tenant that owns the row.
    pub tenant: &'a str,
    /// The row's key within the tenant: a connection's name, a connector id.
    pub row: &'a str,
}

impl SecretSlot<'_> {
    /// The associated data: the format, then each part with its length (so no two slots give
    /// the same bytes, whatever characters the names hold).
    fn associated_data(&self) -> Vec<u8> {
        let mut aad = Vec::with_capacity(64);
        for part in [FORMAT, self.column.as_str(), self.tenant, self.row] {
            aad.extend_from_slice(&(part.len() as u64).to_be_bytes());
            aad.extend_from_slice(part.as_bytes());
        }
        aad
    }
}

impl fmt::Display for SecretSlot<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} of '{}' (tenant '{}')",
            self.column.as_str(),
            self.row,
            self.tenant
        )
    }
}

/// Why a sealed value could not be opened. Never carries the value or the key.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OpenError {
    /// The value was sealed with another key than the one configured.
    #[error("encrypted with key {sealed_with}, while {SECRET_KEY_VAR} is key {configured}")]
    OtherKey {
        /// The id in the value.
        sealed_with: String,
        /// The configured key's id.
        configured: String,
    },
    /// The key id matches but the value does not authenticate in this slot: it was copied
    /// from another row or column, or altered.
    #[error("it does not belong to this row (copied from another row or column, or altered)")]
    NotThisSlot,
    /// The text is not a value of this format.
    #[error("it is not an encrypted value ({0})")]
    Malformed(&'static str),
}

/// Sealing failed; only when the random number generator fails or a value is absurdly large.
#[derive(Debug, thiserror::Error)]
#[error("cannot encrypt a secret: {0}")]
pub struct SealError(&'static str);

/// The operator's key, ready to seal and open values. `Debug` shows its id only.
pub struct SecretKey {
    cipher: XChaCha20Poly1305,
    id: String,
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl SecretKey {
    /// Reads the key from `PLUGBOARD_SECRET_KEY`.
    pub fn from_env() -> Result<Self, KeyError> {
        match std::env::var(SECRET_KEY_VAR) {
            Ok(text) => Self::parse(&SecretString::from(text)),
            Err(std::env::VarError::NotPresent) => Err(KeyError::Missing),
            Err(std::env::VarError::NotUnicode(_)) => Err(KeyError::NotBase64),
        }
    }

    /// Parses the key's base64 text (surrounding whitespace, such as a file's final newline, is
    /// ignored).
    pub fn parse(text: &SecretString) -> Result<Self, KeyError> {
        let text = text.expose_secret().trim();
        if text.is_empty() {
            return Err(KeyError::Missing);
        }
        let unpadded = text.trim_end_matches('=');
        let bytes: SecretBox<Vec<u8>> = SecretBox::new(Box::new(
            STANDARD_NO_PAD
                .decode(unpadded)
                .or_else(|_| URL_SAFE_NO_PAD.decode(unpadded))
                .map_err(|_| KeyError::NotBase64)?,
        ));
        let bytes = bytes.expose_secret();
        if bytes.len() != KEY_LEN {
            return Err(KeyError::WrongLength { found: bytes.len() });
        }
        if bytes.iter().all(|b| *b == bytes[0]) {
            return Err(KeyError::NotRandom);
        }
        let cipher = XChaCha20Poly1305::new_from_slice(bytes)
            .map_err(|_| KeyError::WrongLength { found: bytes.len() })?;
        Ok(Self {
            cipher,
            id: key_id(bytes),
        })
    }

    /// The key's id: 8 hex digits derived from it, written into every value it seals.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Seals `plaintext` for `slot` with a fresh random nonce.
    pub fn seal(&self, slot: &SecretSlot<'_>, plaintext: &[u8]) -> Result<String, SealError> {
        let nonce =
            XNonce::try_generate().map_err(|_| SealError("the system's random source failed"))?;
        let aad = slot.associated_data();
        let sealed = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .map_err(|_| SealError("the value is too large"))?;
        let mut body = Vec::with_capacity(NONCE_LEN + sealed.len());
        body.extend_from_slice(&nonce);
        body.extend_from_slice(&sealed);
        Ok(format!(
            "{FORMAT}:{}:{}",
            self.id,
            URL_SAFE_NO_PAD.encode(body)
        ))
    }

    /// Seals a UTF-8 secret (a token, a settings document).
    pub fn seal_str(&self, slot: &SecretSlot<'_>, plaintext: &str) -> Result<String, SealError> {
        self.seal(slot, plaintext.as_bytes())
    }

    /// Opens a value sealed for `slot`.
    pub fn open(
        &self,
        slot: &SecretSlot<'_>,
        sealed: &str,
    ) -> Result<SecretBox<Vec<u8>>, OpenError> {
        let (key_id, body) = split_sealed(sealed)?;
        if key_id != self.id {
            return Err(OpenError::OtherKey {
                sealed_with: key_id.to_owned(),
                configured: self.id.clone(),
            });
        }
        let body = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| OpenError::Malformed("its body is not base64"))?;
        if body.len() < NONCE_LEN + TAG_LEN {
            return Err(OpenError::Malformed("too short"));
        }
        let (nonce, ciphertext) = body.split_at(NONCE_LEN);
        let nonce =
            XNonce::try_from(nonce).map_err(|_| OpenError::Malformed("its nonce is cut short"))?;
        let aad = slot.associated_data();
        let plaintext = self
            .cipher
            .decrypt(
                &nonce,
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| OpenError::NotThisSlot)?;
        Ok(SecretBox::new(Box::new(plaintext)))
    }

    /// Opens a value sealed with [`SecretKey::seal_str`].
    pub fn open_string(
        &self,
        slot: &SecretSlot<'_>,
        sealed: &str,
    ) -> Result<SecretString, OpenError> {
        let bytes = self.open(slot, sealed)?;
        let text = std::str::from_utf8(bytes.expose_secret())
            .map_err(|_| OpenError::Malformed("its plaintext is not UTF-8"))?;
        Ok(SecretString::from(text.to_owned()))
    }
}

/// The key id a sealed value names, if it is one of ours.
pub fn sealed_key_id(sealed: &str) -> Option<&str> {
    split_sealed(sealed).ok().map(|(id, _)| id)
}

fn split_sealed(sealed: &str) -> Result<(&str, &str), OpenError> {
    let mut parts = sealed.splitn(3, ':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(FORMAT), Some(id), Some(body)) if is_key_id(id) => Ok((id, body)),
        (Some(FORMAT), _, _) => Err(OpenError::Malformed("its key id is not 8 hex digits")),
        _ => Err(OpenError::Malformed("it does not start with `pbs1:`")),
    }
}

fn is_key_id(text: &str) -> bool {
    text.len() == 8 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// 8 hex digits of SHA-256 over a label and the key: enough to tell keys apart, too little to
/// say anything about the key.
fn key_id(key: &[u8]) -> String {
    let digest = Sha256::new()
        .chain_update(b"plugboard secret key id v1\0")
        .chain_update(key)
        .finalize();
    digest[..4].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_A: &str = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=";
    const KEY_B: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";

    fn key(text: &str) -> SecretKey {
        SecretKey::parse(&SecretString::from(text.to_owned())).expect("a valid test key")
    }

    fn slot<'a>(column: SecretColumn, row: &'a str) -> SecretSlot<'a> {
        SecretSlot {
            column,
            tenant: "default",
            row,
        }
    }

    #[test]
    fn a_sealed_value_opens_in_its_slot_and_hides_the_plaintext() {
        let key = key(KEY_A);
        let here = slot(SecretColumn::AccessToken, "crm");
        let sealed = key.seal_str(&here, "at-secret-123").expect("seals");
        assert!(
            sealed.starts_with(&format!("pbs1:{}:", key.id())),
            "{sealed}"
        );
        assert!(!sealed.contains("at-secret-123"));
        let opened = key.open_string(&here, &sealed).expect("opens");
        assert_eq!(opened.expose_secret(), "at-secret-123");
    }

    #[test]
    fn every_seal_uses_a_fresh_nonce() {
        let key = key(KEY_A);
        let here = slot(SecretColumn::RefreshToken, "crm");
        let first = key.seal_str(&here, "same").expect("seals");
        let second = key.seal_str(&here, "same").expect("seals");
        assert_ne!(first, second);
    }

    #[test]
    fn a_value_moved_to_another_row_column_or_tenant_does_not_open() {
        let key = key(KEY_A);
        let sealed = key
            .seal_str(&slot(SecretColumn::AccessToken, "crm"), "t")
            .expect("seals");
        for other in [
            slot(SecretColumn::AccessToken, "crm2"),
            slot(SecretColumn::RefreshToken, "crm"),
            SecretSlot {
                column: SecretColumn::AccessToken,
                tenant: "acme",
                row: "crm",
            },
        ] {
            assert_eq!(
                key.open(&other, &sealed).err(),
                Some(OpenError::NotThisSlot),
                "{other}"
            );
        }
    }

    #[test]
    fn slots_whose_parts_concatenate_alike_differ() {
        let a = SecretSlot {
            column: SecretColumn::AccessToken,
            tenant: "ab",
            row: "c",
        };
        let b = SecretSlot {
            column: SecretColumn::AccessToken,
            tenant: "a",
            row: "bc",
        };
        assert_ne!(a.associated_data(), b.associated_data());
    }

    #[test]
    fn another_key_is_named_by_id_and_never_tried() {
        let (a, b) = (key(KEY_A), key(KEY_B));
        let here = slot(SecretColumn::AccessToken, "crm");
        let sealed = a.seal_str(&here, "t").expect("seals");
        assert_eq!(
            b.open(&here, &sealed).err(),
            Some(OpenError::OtherKey {
                sealed_with: a.id().to_owned(),
                configured: b.id().to_owned(),
            })
        );
        assert_ne!(a.id(), b.id());
    }

    #[test]
    fn an_altered_or_foreign_value_is_refused() {
        let key = key(KEY_A);
        let here = slot(SecretColumn::AccessToken, "crm");
        let sealed = key.seal_str(&here, "token").expect("seals");
        let mut altered = sealed.clone().into_bytes();
        let last = altered.len() - 1;
        altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
        let altered = String::from_utf8(altered).expect("ascii");
        assert_eq!(
            key.open(&here, &altered).err(),
            Some(OpenError::NotThisSlot)
        );
        for foreign in ["plain-token", "pbs1:zz:abc", "pbs1:", ""] {
            assert!(
                matches!(key.open(&here, foreign), Err(OpenError::Malformed(_))),
                "{foreign}"
            );
        }
        let short = format!("pbs1:{}:AAAA", key.id());
        assert_eq!(
            key.open(&here, &short).err(),
            Some(OpenError::Malformed("too short"))
        );
    }

    #[test]
    fn bad_keys_are_refused_without_repeating_them() {
        let cases = [
            ("", KeyError::Missing),
            ("   \n", KeyError::Missing),
            ("not base64 at all!", KeyError::NotBase64),
            ("c2hvcnQ=", KeyError::WrongLength { found: 5 }),
            (
                "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
                KeyError::NotRandom,
            ),
        ];
        for (text, expected) in cases {
            let error = SecretKey::parse(&SecretString::from(text.to_owned()))
                .expect_err("a bad key is refused");
            assert_eq!(error, expected, "{text:?}");
            let message = error.to_string();
            assert!(message.contains(SECRET_KEY_VAR), "{message}");
            if !text.trim().is_empty() {
                assert!(!message.contains(text.trim()), "{message}");
            }
        }
    }

    #[test]
    fn a_key_file_with_a_newline_and_url_safe_keys_are_accepted() {
        let with_newline = key(&format!("{KEY_A}\n"));
        assert_eq!(with_newline.id(), key(KEY_A).id());
        let url_safe = URL_SAFE_NO_PAD.encode(
            [0xfb_u8; 31]
                .iter()
                .chain([0x01].iter())
                .copied()
                .collect::<Vec<u8>>(),
        );
        assert!(url_safe.contains('_') || url_safe.contains('-'));
        let _ = key(&url_safe);
    }

    #[test]
    fn debug_shows_the_key_id_only() {
        let key = key(KEY_A);
        let shown = format!("{key:?}");
        assert!(shown.contains(key.id()));
        assert!(!shown.contains(KEY_A));
    }

    #[test]
    fn sealed_key_id_reads_the_prefix() {
        let key = key(KEY_A);
        let sealed = key
            .seal_str(&slot(SecretColumn::KeyCheck, "k"), "x")
            .expect("seals");
        assert_eq!(sealed_key_id(&sealed), Some(key.id()));
        assert_eq!(sealed_key_id("plain"), None);
    }
}
