//! Sessions for the pages when `[http] token` is set: the login form trades the token
//! for a random session id in an HttpOnly, SameSite=Strict cookie. Sessions live in
//! memory (a restart signs everyone out), at most [`MAX_SESSIONS`], each for
//! [`SESSION_TTL`].

use std::collections::HashMap;
use std::io::Read as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, header};

/// The cookie's name.
pub const COOKIE: &str = "kabar_session";
/// How long a session lasts.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// Sessions kept at most; past it, the oldest is dropped.
pub const MAX_SESSIONS: usize = 1024;

#[derive(Default)]
pub struct Sessions {
    live: Mutex<HashMap<String, Instant>>,
}

impl Sessions {
    /// A new session's id, or `None` when the system has no randomness to give.
    pub fn create(&self) -> Option<String> {
        let mut bytes = [0u8; 32];
        std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes)).ok()?;
        let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        live.retain(|_, expiry| *expiry > now);
        if live.len() >= MAX_SESSIONS
            && let Some(oldest) = live.iter().min_by_key(|(_, e)| **e).map(|(k, _)| k.clone())
        {
            live.remove(&oldest);
        }
        live.insert(id.clone(), now + SESSION_TTL);
        Some(id)
    }

    /// Whether the request's cookie names a live session.
    pub fn valid(&self, headers: &HeaderMap) -> bool {
        let Some(id) = cookie(headers) else { return false };
        let live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        live.get(id).is_some_and(|expiry| *expiry > Instant::now())
    }
}

/// The session cookie's value, if the request has one.
fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

/// The `Set-Cookie` value for session `id`: `Secure` when the request came over TLS
/// (a proxy in front says so with `X-Forwarded-Proto: https`).
pub fn set_cookie(id: &str, headers: &HeaderMap) -> String {
    let tls = headers.get("x-forwarded-proto").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"));
    format!(
        "{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        SESSION_TTL.as_secs(),
        if tls { "; Secure" } else { "" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn a_session_is_valid_only_with_its_own_cookie() {
        let sessions = Sessions::default();
        let id = sessions.create().unwrap();
        assert_eq!(id.len(), 64);
        let mut h = HeaderMap::new();
        assert!(!sessions.valid(&h));
        h.insert(header::COOKIE, HeaderValue::from_str(&format!("a=b; {COOKIE}={id}")).unwrap());
        assert!(sessions.valid(&h));
        h.insert(header::COOKIE, HeaderValue::from_str(&format!("{COOKIE}={}", "0".repeat(64))).unwrap());
        assert!(!sessions.valid(&h));
        let cookie = set_cookie(&id, &HeaderMap::new());
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && !cookie.contains("Secure"));
    }

    #[test]
    fn sessions_are_bounded() {
        let sessions = Sessions::default();
        for _ in 0..MAX_SESSIONS + 10 {
            sessions.create().unwrap();
        }
        assert_eq!(sessions.live.lock().unwrap().len(), MAX_SESSIONS);
    }
}
