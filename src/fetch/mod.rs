//! The only code that touches the network.
//!
//! One GET per poll, conditional on the stored validators; redirects followed by hand
//! (so each hop is counted, checked against the network policy, loops are caught and a
//! permanent move is noticed); one deadline over connect, headers and body; the body
//! capped while it streams, after decompression; a global limit on fetches in flight
//! and, per host, a limit and a minimum spacing. Every failure becomes a [`FeedError`]
//! with its class. `policy` says which addresses may be connected to.

pub mod policy;
mod tls;

use std::collections::HashMap;
use std::error::Error as _;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Client, StatusCode};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use url::{Host, Url};

use crate::model::{ErrorKind, FeedError, Validators};
use crate::pipeline::schedule;
use policy::{Filtering, Policy, Refused, Resolver, SystemResolver};

const ACCEPT: &str = "application/rss+xml, application/atom+xml, application/feed+json, \
                      application/rdf+xml;q=0.9, application/xml;q=0.9, text/xml;q=0.9, \
                      application/json;q=0.8, */*;q=0.5";

/// How much of an error page is read to look for a bot-wall challenge.
const ERROR_BODY_PEEK: u64 = 64 * 1024;

/// A successful response.
#[derive(Debug)]
pub struct Fetched {
    pub status: u16,
    /// `None` for 304 Not Modified.
    pub body: Option<Vec<u8>>,
    /// The validators to store (the old ones when a 304 sends none).
    pub validators: Validators,
    pub content_type: Option<String>,
    /// Where the redirects, if any, ended.
    pub final_url: Url,
    /// Set when every redirect on the way was permanent (301/308).
    pub moved_permanently: Option<Url>,
    /// Cache-Control max-age.
    pub max_age: Option<Duration>,
    /// The global fetch slot. The caller holds it until the body is handed to processing,
    /// so no more than `concurrency` fetched bodies wait in memory.
    pub slot: Option<OwnedSemaphorePermit>,
}

/// Limits one host: fetches in flight and spacing between request starts.
struct HostGate {
    permits: Semaphore,
    next_start: tokio::sync::Mutex<Instant>,
}

/// What one feed's fetch may reach.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Access {
    /// The host of the configured URL when it is an IP literal or `localhost`: that
    /// host is fetched as written, whatever its address.
    pub home: Option<String>,
    /// Accept the server's own self-signed certificate, if it is in date and names the
    /// host (the feed's `allow_self_signed`; see `tls`).
    pub accept_invalid_certs: bool,
}

impl Access {
    pub fn for_feed(configured: &Url, allow_self_signed: bool) -> Access {
        let home = match configured.host() {
            Some(Host::Ipv4(_) | Host::Ipv6(_)) => configured.host_str().map(str::to_string),
            Some(Host::Domain(d)) if d.eq_ignore_ascii_case("localhost") => Some(d.to_ascii_lowercase()),
            _ => None,
        };
        Access { home, accept_invalid_certs: allow_self_signed }
    }
}

/// The HTTP clients: `home` connects anywhere (for a feed's own IP literal or
/// localhost host); `checked` resolves names through the policy filter.
struct Clients {
    home: Client,
    checked: Client,
}

#[derive(Debug, Clone, PartialEq)]
/// How feeds and pages are fetched; `crate::config` builds it from `[fetch]`.
pub struct Settings {
    pub user_agent: String,
    /// Fetches in flight at once, over all hosts.
    pub concurrency: usize,
    /// Fetches in flight at once to one host.
    pub per_host_concurrency: usize,
    /// Minimum time between two requests to one host.
    pub per_host_min_interval: Duration,
    /// Deadline for a whole fetch: connect, headers and body.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Largest body accepted, counted after decompression.
    pub max_body: u64,
    pub max_redirects: usize,
    /// Entries kept from one document; the rest are dropped and the truncation noted.
    pub max_entries: usize,
    /// Networks a fetch may reach although they are not public.
    pub allow_networks: Vec<ipnet::IpNet>,
    /// PEM files of certificate authorities trusted beside the system's (an internal CA).
    pub ca_certificates: Vec<std::path::PathBuf>,
}

pub struct Fetcher {
    strict: Clients,
    /// Built on first use by a feed with `allow_self_signed`.
    lenient: OnceLock<Result<Clients, FeedError>>,
    /// The roots of `fetch.ca_certificates`, trusted beside the system's.
    roots: Vec<rustls::pki_types::CertificateDer<'static>>,
    resolver: Arc<dyn Resolver>,
    policy: Policy,
    settings: Settings,
    global: Arc<Semaphore>,
    hosts: Mutex<HashMap<String, Arc<HostGate>>>,
}

impl Fetcher {
    pub fn new(settings: &Settings) -> Result<Fetcher, FeedError> {
        Fetcher::with_resolver(settings, Arc::new(SystemResolver))
    }

    /// A fetcher that looks names up with `resolver` (tests give their own).
    pub fn with_resolver(settings: &Settings, resolver: Arc<dyn Resolver>) -> Result<Fetcher, FeedError> {
        // rustls needs one process-wide crypto provider; installing it twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let policy = Policy { allow: settings.allow_networks.clone() };
        let roots = tls::load_roots(&settings.ca_certificates)?;
        let strict = clients(settings, &resolver, &policy, &roots, false)?;
        Ok(Fetcher {
            strict,
            roots,
            lenient: OnceLock::new(),
            resolver,
            policy,
            settings: settings.clone(),
            global: Arc::new(Semaphore::new(settings.concurrency)),
            hosts: Mutex::new(HashMap::new()),
        })
    }

    /// The client for one hop, after checking the hop against the network policy.
    fn client(&self, url: &Url, access: &Access) -> Result<&Client, FeedError> {
        let clients = if access.accept_invalid_certs {
            self.lenient
                .get_or_init(|| clients(&self.settings, &self.resolver, &self.policy, &self.roots, true))
                .as_ref()
                .map_err(Clone::clone)?
        } else {
            &self.strict
        };
        if access.home.is_some() && access.home.as_deref() == url.host_str() {
            return Ok(&clients.home);
        }
        let blocked =
            |why: String| FeedError::new(ErrorKind::SsrfBlocked, format!("refused by the network policy: {why}"));
        match url.host() {
            Some(Host::Ipv4(a)) => self.policy.check(IpAddr::V4(a)).map_err(|e| blocked(e.to_string()))?,
            Some(Host::Ipv6(a)) => self.policy.check(IpAddr::V6(a)).map_err(|e| blocked(e.to_string()))?,
            Some(Host::Domain(d)) => {
                let d = d.to_ascii_lowercase();
                if d == "localhost" || d.ends_with(".localhost") {
                    return Err(blocked(format!("{d} is only fetched for a feed whose configured URL names it")));
                }
            }
            None => return Err(FeedError::new(ErrorKind::Redirect, format!("{url} has no host"))),
        }
        Ok(&clients.checked)
    }

    fn gate(&self, url: &Url) -> Arc<HostGate> {
        let key = host_key(url);
        let mut hosts = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
        hosts
            .entry(key)
            .or_insert_with(|| {
                Arc::new(HostGate {
                    permits: Semaphore::new(self.settings.per_host_concurrency),
                    next_start: tokio::sync::Mutex::new(Instant::now()),
                })
            })
            .clone()
    }

    /// Fetches `url`, waiting for a slot on its host, its turn there, and then a global slot.
    ///
    /// The host comes first: a fetch waiting for a busy or not-yet-due host holds none of
    /// the global slots, so one host with many feeds cannot hold up every other host.
    pub async fn fetch(&self, url: &Url, validators: &Validators, access: &Access) -> Result<Fetched, FeedError> {
        let gate = self.gate(url);
        let _host = gate.permits.acquire().await.expect("the semaphore is never closed");
        let global = {
            // Held until the request starts, so starts on one host stay spaced.
            let mut next = gate.next_start.lock().await;
            tokio::time::sleep_until(*next).await;
            let global = self.global.clone().acquire_owned().await.expect("the semaphore is never closed");
            *next = Instant::now() + self.settings.per_host_min_interval;
            global
        };
        let deadline = self.settings.timeout;
        match tokio::time::timeout(deadline, self.fetch_now(url, validators, access)).await {
            Ok(result) => result.map(|fetched| Fetched { slot: Some(global), ..fetched }),
            Err(_) => Err(FeedError::new(
                ErrorKind::Timeout,
                format!("no complete response within {}", humantime::format_duration(deadline)),
            )),
        }
    }

    async fn fetch_now(&self, url: &Url, validators: &Validators, access: &Access) -> Result<Fetched, FeedError> {
        let mut current = url.clone();
        let mut visited = vec![current.clone()];
        let mut all_permanent = true;
        loop {
            let mut response = self
                .client(&current, access)?
                .get(current.clone())
                .headers(request_headers(validators))
                .send()
                .await
                .map_err(|e| classify(&e))?;
            let status = response.status();
            if status.is_redirection() && status != StatusCode::NOT_MODIFIED {
                let next = redirect_target(&response, &current)?;
                if visited.len() > self.settings.max_redirects {
                    return Err(FeedError::new(
                        ErrorKind::Redirect,
                        format!("more than {} redirects (last to {next})", self.settings.max_redirects),
                    ));
                }
                if visited.contains(&next) {
                    let path: Vec<&str> = visited.iter().map(Url::as_str).collect();
                    return Err(FeedError::new(
                        ErrorKind::Redirect,
                        format!("redirect loop: {} → {next}", path.join(" → ")),
                    ));
                }
                all_permanent &= matches!(status, StatusCode::MOVED_PERMANENTLY | StatusCode::PERMANENT_REDIRECT);
                visited.push(next.clone());
                current = next;
                continue;
            }
            let moved_permanently = (visited.len() > 1 && all_permanent).then(|| current.clone());
            let max_age =
                header_str(response.headers(), header::CACHE_CONTROL).and_then(|v| schedule::parse_max_age(&v));
            let mut new_validators = Validators {
                etag: header_str(response.headers(), header::ETAG),
                last_modified: header_str(response.headers(), header::LAST_MODIFIED),
            };
            if status == StatusCode::NOT_MODIFIED {
                // A 304 may omit the validators; the old ones still hold.
                new_validators.etag = new_validators.etag.or_else(|| validators.etag.clone());
                new_validators.last_modified =
                    new_validators.last_modified.or_else(|| validators.last_modified.clone());
                return Ok(Fetched {
                    status: status.as_u16(),
                    body: None,
                    validators: new_validators,
                    content_type: None,
                    final_url: current,
                    moved_permanently,
                    max_age,
                    slot: None,
                });
            }
            if !status.is_success() {
                return Err(self.http_error(&mut response).await);
            }
            let content_type = header_str(response.headers(), header::CONTENT_TYPE);
            let body = read_capped(&mut response, self.settings.max_body).await?;
            if looks_like_bot_wall(&body) && content_type.as_deref().is_some_and(|c| c.contains("html")) {
                return Err(FeedError::new(
                    ErrorKind::BotWall,
                    "the server answered with a bot-check page instead of the feed",
                ));
            }
            return Ok(Fetched {
                status: status.as_u16(),
                body: Some(body),
                validators: new_validators,
                content_type,
                final_url: current,
                moved_permanently,
                max_age,
                slot: None,
            });
        }
    }

    async fn http_error(&self, response: &mut reqwest::Response) -> FeedError {
        let status = response.status();
        let retry_after = header_str(response.headers(), header::RETRY_AFTER)
            .and_then(|v| schedule::parse_retry_after(&v, chrono::Utc::now()));
        let peek = read_capped(response, ERROR_BODY_PEEK).await.unwrap_or_default();
        let (kind, message) = if matches!(status.as_u16(), 403 | 429 | 503) && looks_like_bot_wall(&peek) {
            (ErrorKind::BotWall, format!("HTTP {status}: the server answered with a bot-check page"))
        } else {
            (ErrorKind::Http, format!("HTTP {status}"))
        };
        FeedError { kind, message, http_status: Some(status.as_u16()), retry_after }
    }
}

fn clients(
    settings: &Settings,
    resolver: &Arc<dyn Resolver>,
    policy: &Policy,
    roots: &[rustls::pki_types::CertificateDer<'static>],
    self_signed: bool,
) -> Result<Clients, FeedError> {
    let extra: Vec<reqwest::Certificate> = roots
        .iter()
        .map(|c| reqwest::Certificate::from_der(c))
        .collect::<Result<_, _>>()
        .map_err(|e| FeedError::new(ErrorKind::Internal, format!("fetch.ca_certificates: {e}")))?;
    let lenient_tls = if self_signed { Some(tls::self_signed_config(roots)?) } else { None };
    let build = |filter: Option<Filtering>| {
        let mut b = Client::builder()
            .user_agent(settings.user_agent.clone())
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(settings.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(settings.per_host_concurrency)
            .gzip(true)
            .brotli(true);
        b = match &lenient_tls {
            Some(config) => b.use_preconfigured_tls(config.clone()),
            None if extra.is_empty() => b,
            None => b.tls_certs_merge(extra.iter().cloned()),
        };
        if let Some(f) = filter {
            b = b.dns_resolver(Arc::new(f));
        }
        b.build().map_err(|e| FeedError::new(ErrorKind::Internal, format!("cannot build the HTTP client: {e}")))
    };
    Ok(Clients {
        home: build(None)?,
        checked: build(Some(Filtering { resolver: resolver.clone(), policy: policy.clone() }))?,
    })
}

fn request_headers(validators: &Validators) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(header::ACCEPT, HeaderValue::from_static(ACCEPT));
    let mut put = |name, value: &Option<String>| {
        if let Some(v) = value.as_deref().and_then(|v| HeaderValue::from_str(v).ok()) {
            h.insert(name, v);
        }
    };
    put(header::IF_NONE_MATCH, &validators.etag);
    put(header::IF_MODIFIED_SINCE, &validators.last_modified);
    h
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    let v = headers.get(name)?;
    let s = match v.to_str() {
        Ok(s) => s.to_string(),
        Err(_) => String::from_utf8_lossy(v.as_bytes()).into_owned(),
    };
    Some(s).filter(|s| !s.trim().is_empty())
}

fn redirect_target(response: &reqwest::Response, current: &Url) -> Result<Url, FeedError> {
    let status = response.status();
    let location = header_str(response.headers(), header::LOCATION)
        .ok_or_else(|| FeedError::new(ErrorKind::Redirect, format!("HTTP {status} without a Location header")))?;
    let next = current
        .join(location.trim())
        .map_err(|e| FeedError::new(ErrorKind::Redirect, format!("bad redirect Location {location:?}: {e}")))?;
    if !matches!(next.scheme(), "http" | "https") {
        return Err(FeedError::new(ErrorKind::Redirect, format!("redirect to a non-HTTP address: {next}")));
    }
    Ok(next)
}

/// Reads the body, failing as soon as it passes `cap` bytes (counted after
/// decompression), or at once when the server announces more.
async fn read_capped(response: &mut reqwest::Response, cap: u64) -> Result<Vec<u8>, FeedError> {
    let too_large = |what: String| FeedError::new(ErrorKind::TooLarge, what);
    if let Some(len) = response.content_length()
        && len > cap
    {
        return Err(too_large(format!("the server announced {len} bytes; the limit is {cap}")));
    }
    // Room for the whole cap up front: the allocator maps it without touching it, so only
    // the bytes received become resident, and the buffer is never regrown (a regrowth
    // holds the old and the new buffer at once: 24 MiB for a body reaching 16 MiB).
    let mut body = Vec::with_capacity(cap.min(usize::MAX as u64) as usize);
    while let Some(chunk) = response.chunk().await.map_err(|e| classify(&e))? {
        if body.len() as u64 + chunk.len() as u64 > cap {
            return Err(too_large(format!("the body is larger than the limit of {cap} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn looks_like_bot_wall(body: &[u8]) -> bool {
    const MARKERS: &[&str] = &[
        "cf-chl",
        "challenge-platform",
        "<title>just a moment",
        "attention required! | cloudflare",
        "checking your browser",
        "ddos protection by",
        "_incapsula_",
        "px-captcha",
        "captcha-delivery.com",
        "g-recaptcha",
        "h-captcha",
    ];
    let head = &body[..body.len().min(ERROR_BODY_PEEK as usize)];
    let text = String::from_utf8_lossy(head).to_ascii_lowercase();
    MARKERS.iter().any(|m| text.contains(m))
}

/// Sorts a reqwest error into a failure class. The message is the chain of causes
/// under reqwest's own "error sending request for url (…)", which only repeats the URL.
fn classify(e: &reqwest::Error) -> FeedError {
    let mut causes: Vec<String> = Vec::new();
    let mut tls = false;
    let mut refused = false;
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !causes.iter().any(|c| c.contains(&text)) {
            causes.push(text);
        }
        let io_inner = s.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref());
        tls |= s.is::<rustls::Error>() || io_inner.is_some_and(|i| i.is::<rustls::Error>());
        refused |= s.is::<Refused>();
        source = s.source();
    }
    let message = if causes.is_empty() { e.to_string() } else { causes.join(": ") };
    let lower = message.to_ascii_lowercase();
    let kind = if refused {
        ErrorKind::SsrfBlocked
    } else if e.is_timeout() {
        ErrorKind::Timeout
    } else if tls || lower.contains("certificate") || lower.contains("tls handshake") {
        ErrorKind::Tls
    } else if lower.contains("dns error") || lower.contains("failed to lookup address") {
        ErrorKind::Dns
    } else if e.is_decode() {
        ErrorKind::Parse
    } else {
        ErrorKind::Connect
    };
    FeedError::new(kind, message)
}

/// What per-host politeness is counted by: a URL's host and port ("example.org:443").
pub fn host_key(url: &Url) -> String {
    format!("{}:{}", url.host_str().unwrap_or(""), url.port_or_known_default().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bot_walls_are_recognised() {
        assert!(looks_like_bot_wall(b"<html><head><title>Just a moment...</title>"));
        assert!(looks_like_bot_wall(b"<script src='/cdn-cgi/challenge-platform/x.js'>"));
        assert!(!looks_like_bot_wall(b"<rss><channel><title>Captcha news</title>"));
    }

    #[test]
    fn validators_become_conditional_headers() {
        let h = request_headers(&Validators {
            etag: Some("\"abc\"".into()),
            last_modified: Some("Sat, 25 Jan 2025 10:00:00 GMT".into()),
        });
        assert_eq!(h[header::IF_NONE_MATCH], "\"abc\"");
        assert_eq!(h[header::IF_MODIFIED_SINCE], "Sat, 25 Jan 2025 10:00:00 GMT");
        assert!(!request_headers(&Validators::default()).contains_key(header::IF_NONE_MATCH));
    }
}
