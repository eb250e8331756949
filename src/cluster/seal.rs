//! Signatures on what replicas share through Redis (`[cluster] secret`): every event,
//! bench and shared answer is written as `<hex HMAC-SHA256>.<bytes>`, and one whose
//! signature does not verify is ignored and counted. Anyone who can write to Redis
//! could otherwise bench a provider on every replica (`PUBLISH mg:events ...`) or plant
//! an answer every replica serves.
//!
//! Without a secret the bytes are written as they are, and only checked for sense
//! (`cache.rs`, `events.rs`).

use ring::hmac;

/// Hex digits of a signature.
const TAG_HEX: usize = 64;

/// Signs and checks.
pub struct Seal {
    key: Option<hmac::Key>,
}

impl std::fmt::Debug for Seal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.key.is_some() { "Seal(signed)" } else { "Seal(unsigned)" })
    }
}

impl Seal {
    /// A seal with `secret` (`None`: unsigned).
    pub fn new(secret: Option<&str>) -> Self {
        Self { key: secret.map(|s| hmac::Key::new(hmac::HMAC_SHA256, s.as_bytes())) }
    }

    /// Whether shared data is signed.
    pub fn signs(&self) -> bool {
        self.key.is_some()
    }

    /// `bytes` as written to Redis.
    pub fn seal(&self, bytes: &[u8]) -> Vec<u8> {
        let Some(key) = &self.key else { return bytes.to_vec() };
        let tag = hmac::sign(key, bytes);
        let mut out = Vec::with_capacity(TAG_HEX + 1 + bytes.len());
        for b in tag.as_ref() {
            out.extend_from_slice(format!("{b:02x}").as_bytes());
        }
        out.push(b'.');
        out.extend_from_slice(bytes);
        out
    }

    /// [`Seal::seal`] of a string, as a string.
    pub fn seal_str(&self, text: &str) -> String {
        String::from_utf8(self.seal(text.as_bytes())).unwrap_or_default()
    }

    /// The bytes under a valid signature (all of `stored` when unsigned); `None`: the
    /// signature is missing or wrong.
    pub fn open<'a>(&self, stored: &'a [u8]) -> Option<&'a [u8]> {
        let Some(key) = &self.key else { return Some(stored) };
        if stored.len() <= TAG_HEX || stored[TAG_HEX] != b'.' {
            return None;
        }
        let tag = decode_hex(&stored[..TAG_HEX])?;
        let body = &stored[TAG_HEX + 1..];
        hmac::verify(key, body, &tag).ok().map(|()| body)
    }
}

fn decode_hex(hex: &[u8]) -> Option<Vec<u8>> {
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    hex.chunks(2).map(|p| Some(digit(p[0])? << 4 | digit(*p.get(1)?)?)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_the_secret_signed_opens() {
        let seal = Seal::new(Some("a shared secret of the fleet"));
        let stored = seal.seal(br#"{"kind":"bench"}"#);
        assert_eq!(seal.open(&stored), Some(&br#"{"kind":"bench"}"#[..]));
        assert_eq!(seal.open(br#"{"kind":"bench"}"#), None, "unsigned");
        let mut forged = stored.clone();
        let last = forged.len() - 2;
        forged[last] ^= 1;
        assert_eq!(seal.open(&forged), None, "the body changed");
        let other = Seal::new(Some("another deployment's secret"));
        assert_eq!(other.open(&stored), None, "another key");
        assert_eq!(seal.open(b"zz"), None);
    }

    #[test]
    fn without_a_secret_bytes_pass_as_they_are() {
        let seal = Seal::new(None);
        assert_eq!(seal.seal(b"x"), b"x");
        assert_eq!(seal.open(b"x"), Some(&b"x"[..]));
        assert!(!seal.signs());
    }
}
