//! Authentication: a shared token and/or users with Argon2id password hashes.
//!
//! Clients send `Authorization: Bearer TOKEN`, or HTTP Basic (which browsers prompt for):
//! a user from the users file with their password, or any user name with the token as the
//! password. A server listening beyond loopback refuses to start without one of them.

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::Argon2;
use axum::http::HeaderMap;
use base64::Engine as _;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use subtle::ConstantTimeEq;

/// Why the authentication set-up was refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The users file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// A line of the users file is not `name:$argon2id$...`.
    #[error("{path}:{line}: {reason} (expected `name:HASH`, HASH from `mailtrace hash-password`)")]
    BadLine {
        /// The file.
        path: String,
        /// Line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// A token shorter than 16 characters.
    #[error("the token must have at least 16 characters")]
    WeakToken,
    /// Hashing failed.
    #[error("cannot hash the password: {0}")]
    Hash(String),
}

/// Who may use the server. Empty: everyone (allowed on loopback only).
pub struct Auth {
    token: Option<String>,
    users: HashMap<String, String>,
    /// Passwords verified recently (a keyed hash of each, never the password), so that a
    /// page's requests do not each pay for Argon2.
    verified: Mutex<HashMap<String, u64>>,
    /// The key of those hashes, random per process.
    keys: std::collections::hash_map::RandomState,
}

impl Default for Auth {
    fn default() -> Auth {
        Auth {
            token: None,
            users: HashMap::new(),
            verified: Mutex::default(),
            keys: std::collections::hash_map::RandomState::new(),
        }
    }
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("token", &self.token.as_ref().map(|_| "…"))
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Auth {
    /// A token (at least 16 characters) and users (`name` → PHC hash).
    ///
    /// # Errors
    /// A short token, or a hash that is not a PHC string.
    pub fn new(token: Option<String>, users: Vec<(String, String)>) -> Result<Auth, AuthError> {
        let token = token.filter(|t| !t.is_empty());
        if token.as_ref().is_some_and(|t| t.chars().count() < 16) {
            return Err(AuthError::WeakToken);
        }
        Ok(Auth {
            token,
            users: users.into_iter().collect(),
            verified: Mutex::default(),
            keys: std::collections::hash_map::RandomState::new(),
        })
    }

    /// Read a users file: one `name:HASH` per line, `#` comments and blank lines ignored.
    ///
    /// # Errors
    /// An unreadable file or a malformed line.
    pub fn read_users(path: &Path) -> Result<Vec<(String, String)>, AuthError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| AuthError::Read {
            path: shown.clone(),
            source,
        })?;
        let mut users = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |reason: &str| AuthError::BadLine {
                path: shown.clone(),
                line: i + 1,
                reason: reason.into(),
            };
            let (name, hash) = line.split_once(':').ok_or_else(|| bad("no `:`"))?;
            if name.is_empty() {
                return Err(bad("empty user name"));
            }
            if argon2::password_hash::phc::PasswordHash::new(hash).is_err() {
                return Err(bad("not a password hash"));
            }
            users.push((name.to_string(), hash.to_string()));
        }
        Ok(users)
    }

    /// Whether any credential is configured.
    pub fn is_configured(&self) -> bool {
        self.token.is_some() || !self.users.is_empty()
    }

    /// Whether the request's `Authorization` header is accepted (always, when nothing is
    /// configured).
    pub fn allows(&self, headers: &HeaderMap) -> bool {
        if !self.is_configured() {
            return true;
        }
        let Some(value) = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        else {
            return false;
        };
        if let Some(token) = value.strip_prefix("Bearer ") {
            return self.token_matches(token.trim());
        }
        let Some(encoded) = value.strip_prefix("Basic ") else {
            return false;
        };
        let Some(decoded) = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
        else {
            return false;
        };
        let Some((user, password)) = decoded.split_once(':') else {
            return false;
        };
        if let Some(hash) = self.users.get(user) {
            return self.password_matches(user, password, hash);
        }
        self.token_matches(password)
    }

    fn token_matches(&self, given: &str) -> bool {
        self.token
            .as_ref()
            .is_some_and(|t| bool::from(t.as_bytes().ct_eq(given.as_bytes())))
    }

    fn password_matches(&self, user: &str, password: &str, hash: &str) -> bool {
        use std::hash::BuildHasher;
        let key = self.keys.hash_one((user, password));
        let known = self
            .verified
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(user)
            .copied();
        if known == Some(key) {
            return true;
        }
        // Argon2 takes tens of milliseconds: never under the lock (callers run this on a
        // blocking thread).
        let ok = Argon2::default()
            .verify_password(password.as_bytes(), hash)
            .is_ok();
        if ok {
            let mut verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
            if verified.len() > 1000 {
                verified.clear();
            }
            verified.insert(user.to_string(), key);
        }
        ok
    }
}

/// An Argon2id hash of `password` for the users file.
///
/// # Errors
/// The hasher failed (no system randomness).
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Hash(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("authorization", HeaderValue::from_str(v).unwrap());
        h
    }

    fn basic(user: &str, pw: &str) -> HeaderMap {
        let b = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pw}"));
        headers(&format!("Basic {b}"))
    }

    #[test]
    fn token_and_users() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        let auth = Auth::new(Some("0123456789abcdef".into()), vec![("ann".into(), hash)]).unwrap();
        assert!(auth.is_configured());
        assert!(!auth.allows(&HeaderMap::new()));
        assert!(auth.allows(&headers("Bearer 0123456789abcdef")));
        assert!(!auth.allows(&headers("Bearer 0123456789abcdeF")));
        assert!(auth.allows(&basic("anyone", "0123456789abcdef")));
        assert!(auth.allows(&basic("ann", "correct horse")));
        assert!(auth.allows(&basic("ann", "correct horse")), "cached");
        assert!(!auth.allows(&basic("ann", "wrong horse")));
        assert!(
            !auth.allows(&basic("ann", "0123456789abcdef")),
            "a user's own password only"
        );
        assert!(!auth.allows(&headers("Basic !!!")));
        assert!(!auth.allows(&headers("Digest x")));
    }

    #[test]
    fn nothing_configured_allows_all_and_weak_tokens_are_refused() {
        assert!(Auth::default().allows(&HeaderMap::new()));
        assert!(matches!(
            Auth::new(Some("short".into()), vec![]),
            Err(AuthError::WeakToken)
        ));
    }

    #[test]
    fn users_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("users");
        let hash = hash_password("pw").unwrap();
        std::fs::write(&p, format!("# users\n\nann:{hash}\n")).unwrap();
        let users = Auth::read_users(&p).unwrap();
        assert_eq!(users, vec![("ann".to_string(), hash)]);
        std::fs::write(&p, "bob:plaintext\n").unwrap();
        let e = Auth::read_users(&p).unwrap_err().to_string();
        assert!(
            e.contains(":1:") && e.contains("not a password hash"),
            "{e}"
        );
    }
}
