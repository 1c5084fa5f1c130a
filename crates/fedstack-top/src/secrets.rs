//! Sealing of site credentials at rest (AES-256-GCM with a key kept in the data directory).

use aes_gcm::aead::{Aead, KeyInit, OsRng};
use aes_gcm::{AeadCore, Aes256Gcm, Key, Nonce};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use std::path::Path;

/// Encrypts and decrypts small secrets with one key.
#[derive(Clone)]
pub struct SecretBox {
    cipher: Aes256Gcm,
}

/// A sealed value could not be opened (wrong key or tampered).
#[derive(Debug, thiserror::Error)]
#[error("cannot open sealed secret: {0}")]
pub struct SealError(String);

impl SecretBox {
    /// Loads the key from `dir/secret.key`, creating it (mode 0600) on first use.
    pub fn load_or_create(dir: &Path) -> std::io::Result<SecretBox> {
        let path = dir.join("secret.key");
        let key = match std::fs::read(&path) {
            Ok(k) if k.len() == 32 => k,
            _ => {
                std::fs::create_dir_all(dir)?;
                let k = Aes256Gcm::generate_key(OsRng).to_vec();
                std::fs::write(&path, &k)?;
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
                }
                k
            }
        };
        Ok(SecretBox {
            cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&key)),
        })
    }

    /// `base64(nonce || ciphertext)`.
    pub fn seal(&self, plain: &[u8]) -> String {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let ct = self.cipher.encrypt(&nonce, plain).unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend(ct);
        B64.encode(out)
    }

    /// Opens what [`seal`](Self::seal) produced.
    pub fn open(&self, sealed: &str) -> Result<Vec<u8>, SealError> {
        let raw = B64.decode(sealed).map_err(|e| SealError(e.to_string()))?;
        if raw.len() < 12 {
            return Err(SealError("too short".into()));
        }
        let (nonce, ct) = raw.split_at(12);
        self.cipher
            .decrypt(Nonce::from_slice(nonce), ct)
            .map_err(|_| SealError("authentication failed".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_detects_tampering() {
        let dir = std::env::temp_dir().join(format!("fedstack-secret-{}", uuid::Uuid::new_v4()));
        let b = SecretBox::load_or_create(&dir).unwrap();
        let s = b.seal(b"password");
        assert!(!s.contains("password"));
        assert_eq!(b.open(&s).unwrap(), b"password");
        let again = SecretBox::load_or_create(&dir).unwrap();
        assert_eq!(again.open(&s).unwrap(), b"password", "the key persists");
        let mut t = B64.decode(&s).unwrap();
        let last = t.len() - 1;
        t[last] ^= 1;
        assert!(b.open(&B64.encode(t)).is_err());
    }
}
