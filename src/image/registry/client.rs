//! One registry's HTTP API (OCI Distribution spec v2), synchronously, over `ureq`: the `/v2/` probe, the
//! authentication dance, manifests, blobs and uploads.
//!
//! Order matters from the first request: the probe `GET /v2/` says whether the registry speaks v2 and, by
//! its `401`'s challenge, how to authenticate (anonymous, basic, or a bearer token per scope). HTTPS comes
//! first; plain HTTP only for a registry marked insecure (`--tls-verify=false`, registries.conf), where
//! certificates are not verified either, as podman does. Tokens are fetched before a request that needs
//! them, so a request body is sent once; a `401` with a fresh token is an error, not a loop. Redirects are
//! followed here, not by `ureq`, so that the `Authorization` header goes only to the registry's own origin
//! (blob storage elsewhere gets a signed URL, never our token) and a loop is caught by name.
//!
//! No thread is started here: no resolver timeout is set (ureq would resolve on a thread), only connect
//! and per-read/per-write timeouts, which are socket options. A stalled registry fails a read after
//! `read_timeout`, however long the blob.

use std::collections::HashMap;
use std::io::{Read, Seek};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use ureq::http::Response;

use super::RegistryError;
use super::auth::{self, Challenge, Credentials};

/// How many redirects a request may follow (docker's limit).
const MAX_REDIRECTS: usize = 10;
/// How much of an error body is read for its message.
const MAX_ERROR_BODY: u64 = 64 << 10;

/// How to reach a registry.
#[derive(Debug, Clone)]
pub struct Connection {
    /// Verify TLS certificates and refuse plain HTTP (`--tls-verify`, default true).
    pub tls_verify: bool,
    /// Registries (`host[:port]`) treated as if `tls_verify` were false (registries.conf `insecure = true`).
    pub insecure: Vec<String>,
    /// Extra CA certificates (`*.crt`) for the registry; default `/etc/containers/certs.d/HOST/` and
    /// `/etc/docker/certs.d/HOST/`.
    pub cert_dir: Option<PathBuf>,
    /// A read or write that makes no progress for this long fails (a stalled registry).
    pub read_timeout: Duration,
    /// Credential files to read (default: [`auth::auth_files`]).
    pub auth_files: Vec<PathBuf>,
    /// Credentials to use instead of the files' (`login` checks these).
    pub credentials: Option<Credentials>,
}

impl Default for Connection {
    fn default() -> Self {
        Connection {
            tls_verify: true,
            insecure: insecure_from_registries_conf(),
            cert_dir: None,
            read_timeout: Duration::from_secs(60),
            auth_files: auth::auth_files(),
            credentials: None,
        }
    }
}

/// A registry's HTTP body, readable from any thread.
pub type Body = ureq::BodyReader<'static>;

/// What to send with a request.
pub enum Payload<'a> {
    None,
    Bytes(&'a [u8], &'a str),
    /// A file, sent with its length (a monolithic upload).
    File(&'a std::fs::File),
}

pub struct Client {
    /// The registry as references name it (`docker.io`, `127.0.0.1:5000`).
    pub registry: String,
    /// `https://host[:port]` or `http://…`, as the probe found it.
    pub base: String,
    agent: ureq::Agent,
    credentials: Option<Credentials>,
    challenge: Option<Challenge>,
    /// `Authorization` values by scope.
    tokens: Mutex<HashMap<String, String>>,
    pub read_timeout: Duration,
}

impl Client {
    /// Probe `api_host`'s `/v2/` and learn how to authenticate.
    pub fn connect(registry: &str, api_host: &str, conn: &Connection) -> Result<Client, RegistryError> {
        let insecure = !conn.tls_verify || conn.insecure.iter().any(|r| r == registry || r == api_host);
        let agent = make_agent(api_host, conn, insecure)?;
        let credentials = match &conn.credentials {
            Some(c) => Some(c.clone()),
            None => auth::lookup(registry, &conn.auth_files)?,
        };
        let mut client = Client {
            registry: registry.to_string(),
            base: format!("https://{api_host}"),
            agent,
            credentials,
            challenge: None,
            tokens: Mutex::new(HashMap::new()),
            read_timeout: conn.read_timeout,
        };
        crate::explain!(
            format!("probe registry {registry}"),
            format!("GET {}/v2/", client.base),
            "the v2 probe says the API is there and, by its 401, how to authenticate"
        );
        let probe = match client.agent.get(format!("{}/v2/", client.base)).call() {
            Ok(r) => r,
            Err(e) if insecure && !matches!(e, ureq::Error::Timeout(_)) => {
                client.base = format!("http://{api_host}");
                client.agent.get(format!("{}/v2/", client.base)).call().map_err(|e2| RegistryError::Http {
                    url: format!("https://{api_host}/v2/ and {}/v2/", client.base),
                    message: format!("{e}; {e2}"),
                })?
            }
            Err(e) => {
                let hint = if matches!(e, ureq::Error::Tls(_) | ureq::Error::Rustls(_) | ureq::Error::Io(_)) {
                    " (for a registry without TLS or with a private certificate: --tls-verify=false or \
                     --cert-dir)"
                } else {
                    ""
                };
                return Err(RegistryError::Http { url: format!("{}/v2/", client.base), message: format!("{e}{hint}") });
            }
        };
        match probe.status().as_u16() {
            200..=299 => {}
            401 => client.challenge = challenge_of(&probe),
            status => {
                return Err(RegistryError::Status {
                    url: format!("{}/v2/", client.base),
                    status,
                    message: "not an OCI distribution (v2) registry".into(),
                });
            }
        }
        Ok(client)
    }

    /// Check the credentials by authenticating once (`login`): a token for no scope, or `/v2/` with basic.
    pub fn check_login(&self) -> Result<(), RegistryError> {
        match &self.challenge {
            None => Ok(()),
            Some(Challenge::Bearer { .. }) => self.fetch_token("").map(|_| ()),
            Some(Challenge::Basic) => {
                let url = format!("{}/v2/", self.base);
                let response = self.send("GET", &url, "", &[], Payload::None)?;
                expect_success(response, &url).map(|_| ())
            }
        }
    }

    /// The `Authorization` header for `scope`, fetching a token when the registry wants one.
    fn authorization(&self, scope: &str) -> Result<Option<String>, RegistryError> {
        match &self.challenge {
            None => Ok(None),
            Some(Challenge::Basic) => Ok(self.credentials.as_ref().map(Credentials::basic)),
            Some(Challenge::Bearer { .. }) => {
                if let Some(t) = self.tokens.lock().ok().and_then(|t| t.get(scope).cloned()) {
                    return Ok(Some(t));
                }
                let token = self.fetch_token(scope)?;
                if let Ok(mut t) = self.tokens.lock() {
                    t.insert(scope.to_string(), token.clone());
                }
                Ok(Some(token))
            }
        }
    }

    fn fetch_token(&self, scope: &str) -> Result<String, RegistryError> {
        let Some(Challenge::Bearer { realm, service, .. }) = &self.challenge else {
            return Err(RegistryError::Usage("no bearer challenge".into()));
        };
        let mut url = realm.clone();
        let mut sep = if url.contains('?') { '&' } else { '?' };
        for (key, value) in service
            .iter()
            .map(|s| ("service", s.as_str()))
            .chain(scope.split(' ').filter(|s| !s.is_empty()).map(|s| ("scope", s)))
        {
            url.push(sep);
            url.push_str(key);
            url.push('=');
            url.push_str(&percent_encode(value));
            sep = '&';
        }
        crate::explain!(
            format!("token for {}", if scope.is_empty() { "login" } else { scope }),
            format!("GET {url}"),
            "a bearer registry hands out short-lived tokens per repository and action from its realm"
        );
        let mut request = self.agent.get(&url);
        if let Some(c) = &self.credentials {
            request = request.header("Authorization", c.basic());
        }
        let response =
            request.call().map_err(|e| RegistryError::Http { url: realm.clone(), message: e.to_string() })?;
        if response.status().as_u16() == 401 {
            return Err(RegistryError::Unauthorized {
                registry: self.registry.clone(),
                message: format!(
                    "the token server {realm} refused {}",
                    if self.credentials.is_some() { "the stored credentials" } else { "an anonymous request" }
                ),
            });
        }
        let mut response = expect_success(response, realm)?;
        let body = response
            .body_mut()
            .with_config()
            .limit(1 << 20)
            .read_to_vec()
            .map_err(|e| RegistryError::Http { url: realm.clone(), message: e.to_string() })?;
        let json: serde_json::Value = serde_json::from_slice(&body).map_err(|e| RegistryError::Status {
            url: realm.clone(),
            status: 200,
            message: format!("the token response is not JSON: {e}"),
        })?;
        let token = json["token"].as_str().filter(|t| !t.is_empty()).or_else(|| json["access_token"].as_str());
        match token {
            Some(t) if !t.is_empty() => Ok(format!("Bearer {t}")),
            _ => Err(RegistryError::Status {
                url: realm.clone(),
                status: 200,
                message: "the token response has neither `token` nor `access_token`".into(),
            }),
        }
    }

    /// Send one request to the registry (no redirects followed), authenticated for `scope`. A `401` drops
    /// the cached token and tries once more with a fresh one; a second `401` is the caller's to report.
    pub fn send(
        &self,
        method: &str,
        url: &str,
        scope: &str,
        headers: &[(&str, &str)],
        payload: Payload<'_>,
    ) -> Result<Response<ureq::Body>, RegistryError> {
        let mut fresh = false;
        loop {
            let authorization = self.authorization(scope)?;
            let response = self.send_once(method, url, authorization.as_deref(), headers, &payload)?;
            if response.status().as_u16() != 401 || fresh || !matches!(self.challenge, Some(Challenge::Bearer { .. })) {
                return Ok(response);
            }
            if let Ok(mut t) = self.tokens.lock() {
                t.remove(scope);
            }
            if let Payload::File(mut f) = payload {
                f.rewind().map_err(|e| RegistryError::Http { url: url.into(), message: e.to_string() })?;
            }
            fresh = true;
        }
    }

    fn send_once(
        &self,
        method: &str,
        url: &str,
        authorization: Option<&str>,
        headers: &[(&str, &str)],
        payload: &Payload<'_>,
    ) -> Result<Response<ureq::Body>, RegistryError> {
        let http = |e: ureq::Error| RegistryError::Http { url: url.to_string(), message: describe(&e) };
        let mut builder = ureq::http::Request::builder().method(method).uri(url);
        if let Some(a) = authorization {
            builder = builder.header("Authorization", a);
        }
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        let bad = |e: ureq::http::Error| RegistryError::Http { url: url.to_string(), message: e.to_string() };
        match payload {
            Payload::None => {
                let request = builder.body(()).map_err(bad)?;
                self.agent.run(request).map_err(http)
            }
            Payload::Bytes(bytes, content_type) => {
                let request = builder.header("Content-Type", *content_type).body(*bytes).map_err(bad)?;
                self.agent.run(request).map_err(http)
            }
            Payload::File(file) => {
                let request = builder.header("Content-Type", "application/octet-stream").body(*file).map_err(bad)?;
                self.agent.run(request).map_err(http)
            }
        }
    }

    /// `GET` (or `HEAD`) following redirects; `Authorization` only to the registry's own origin.
    pub fn get(
        &self,
        method: &str,
        path: &str,
        scope: &str,
        headers: &[(&str, &str)],
    ) -> Result<Response<ureq::Body>, RegistryError> {
        let mut url = format!("{}{path}", self.base);
        let mut seen = vec![url.clone()];
        loop {
            let response = if origin(&url) == self.base {
                self.send(method, &url, scope, headers, Payload::None)?
            } else {
                self.send_once(method, &url, None, headers, &Payload::None)?
            };
            if !response.status().is_redirection() {
                return Ok(response);
            }
            let Some(location) = response.headers().get("location").and_then(|l| l.to_str().ok()) else {
                return Ok(response);
            };
            let next = resolve(&url, location);
            crate::explain!(
                "follow a redirect",
                format!("{method} {next}"),
                "blobs often live in other storage; the Authorization header goes only to the registry itself"
            );
            if seen.contains(&next) || seen.len() > MAX_REDIRECTS {
                return Err(RegistryError::RedirectLoop { url: format!("{}{path}", self.base), hops: seen.len() });
            }
            seen.push(next.clone());
            url = next;
        }
    }

    /// An absolute URL for a `Location` the registry sent (upload URLs are often relative).
    pub fn absolute(&self, location: &str) -> String {
        resolve(&format!("{}/v2/", self.base), location)
    }
}

/// The error a registry's JSON body gives (`{"errors":[{"code":…,"message":…}]}`), or the status alone.
pub fn expect_success(response: Response<ureq::Body>, url: &str) -> Result<Response<ureq::Body>, RegistryError> {
    let status = response.status().as_u16();
    if (200..300).contains(&status) {
        return Ok(response);
    }
    let mut response = response;
    let body = response.body_mut().with_config().limit(MAX_ERROR_BODY).read_to_vec().unwrap_or_default();
    let message = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| {
            let e = v["errors"].get(0)?.clone();
            Some(format!("{}: {}", e["code"].as_str().unwrap_or("ERROR"), e["message"].as_str().unwrap_or("")))
        })
        .unwrap_or_else(|| response.status().canonical_reason().unwrap_or("unexpected status").to_ascii_lowercase());
    if status == 401 {
        let host = origin(url).split("://").nth(1).unwrap_or(url).to_string();
        return Err(RegistryError::Unauthorized { registry: host, message: format!("401 for {url}: {message}") });
    }
    Err(RegistryError::Status { url: url.to_string(), status, message })
}

fn challenge_of(response: &Response<ureq::Body>) -> Option<Challenge> {
    response
        .headers()
        .get_all("www-authenticate")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(auth::parse_challenge)
}

fn describe(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Timeout(t) => format!("timed out ({t:?}): the registry stopped answering"),
        ureq::Error::Io(io)
            if io.kind() == std::io::ErrorKind::TimedOut || io.kind() == std::io::ErrorKind::WouldBlock =>
        {
            "timed out: the registry stopped answering".into()
        }
        other => other.to_string(),
    }
}

/// Certificates: the system's bundle plus the registry's own CA files; no verification when insecure.
fn make_agent(api_host: &str, conn: &Connection, insecure: bool) -> Result<ureq::Agent, RegistryError> {
    use ureq::tls::{RootCerts, TlsConfig};
    let tls = if insecure {
        TlsConfig::builder().disable_verification(true).build()
    } else {
        let mut certs = Vec::new();
        let system = std::env::var_os("SSL_CERT_FILE").map(PathBuf::from).into_iter().chain(
            ["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem"]
                .into_iter()
                .map(PathBuf::from),
        );
        if let Some(bundle) = system.into_iter().find(|p| p.is_file()) {
            load_pem(&bundle, &mut certs)?;
        }
        let dirs = match &conn.cert_dir {
            Some(d) => vec![d.clone()],
            None => ["/etc/containers/certs.d", "/etc/docker/certs.d"]
                .iter()
                .map(|d| PathBuf::from(d).join(api_host))
                .collect(),
        };
        for dir in dirs {
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            for e in entries.flatten() {
                if e.path().extension().is_some_and(|x| x == "crt") {
                    load_pem(&e.path(), &mut certs)?;
                }
            }
        }
        TlsConfig::builder().root_certs(RootCerts::Specific(std::sync::Arc::new(certs))).build()
    };
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_response(Some(conn.read_timeout))
        .timeout_per_read(Some(conn.read_timeout))
        .timeout_per_write(Some(conn.read_timeout))
        .user_agent(format!("containy/{}", env!("CARGO_PKG_VERSION")))
        .tls_config(tls)
        .build();
    Ok(ureq::Agent::new_with_config(config))
}

fn load_pem(path: &std::path::Path, into: &mut Vec<ureq::tls::Certificate<'static>>) -> Result<(), RegistryError> {
    let text = std::fs::read(path)
        .map_err(|e| RegistryError::Usage(format!("cannot read CA certificates {}: {e}", path.display())))?;
    for item in ureq::tls::parse_pem(&text).flatten() {
        if let ureq::tls::PemItem::Certificate(c) = item {
            into.push(c);
        }
    }
    Ok(())
}

/// `scheme://authority` of a URL.
fn origin(url: &str) -> &str {
    let after = url.find("://").map_or(0, |i| i + 3);
    match url[after..].find('/') {
        Some(i) => &url[..after + i],
        None => url,
    }
}

/// Resolve a `Location` against the URL it came with (absolute, scheme-relative, absolute-path, relative).
fn resolve(base: &str, location: &str) -> String {
    if location.starts_with("http://") || location.starts_with("https://") {
        location.to_string()
    } else if let Some(rest) = location.strip_prefix("//") {
        let scheme = base.split("://").next().unwrap_or("https");
        format!("{scheme}://{rest}")
    } else if location.starts_with('/') {
        format!("{}{location}", origin(base))
    } else {
        let path_end = base.find('?').unwrap_or(base.len());
        let dir = base[..path_end].rfind('/').map_or(base, |i| &base[..=i]);
        format!("{dir}{location}")
    }
}

/// Percent-encode a query value (RFC 3986 unreserved characters stay).
pub fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `host[:port]` of registries marked `insecure = true` in `$CONTAINERS_REGISTRIES_CONF` or
/// `/etc/containers/registries.conf` (podman's v2 `[[registry]]` tables, or v1 `[registries.insecure]`).
pub fn insecure_from_registries_conf() -> Vec<String> {
    let path = std::env::var_os("CONTAINERS_REGISTRIES_CONF")
        .map_or_else(|| PathBuf::from("/etc/containers/registries.conf"), PathBuf::from);
    insecure_in(&path)
}

fn insecure_in(path: &std::path::Path) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(path) else { return Vec::new() };
    let Ok(doc) = text.parse::<toml::Table>() else { return Vec::new() };
    let mut insecure = Vec::new();
    for reg in doc.get("registry").and_then(|r| r.as_array()).into_iter().flatten() {
        if reg.get("insecure").and_then(|i| i.as_bool()) == Some(true) {
            let location = reg.get("location").or_else(|| reg.get("prefix")).and_then(|l| l.as_str());
            insecure.extend(location.map(str::to_string));
        }
    }
    let v1 = doc.get("registries").and_then(|r| r.get("insecure")).and_then(|i| i.get("registries"));
    for r in v1.and_then(|r| r.as_array()).into_iter().flatten() {
        insecure.extend(r.as_str().map(str::to_string));
    }
    insecure
}

/// Read a whole small body, refusing more than `limit` bytes.
pub fn read_limited(body: &mut Body, limit: u64) -> std::io::Result<Option<Vec<u8>>> {
    let mut data = Vec::new();
    body.take(limit + 1).read_to_end(&mut data)?;
    Ok((data.len() as u64 <= limit).then_some(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_resolve_against_the_request() {
        let base = "http://127.0.0.1:5000/v2/a/blobs/sha256:x";
        assert_eq!(resolve(base, "https://s3.example/b?sig=1"), "https://s3.example/b?sig=1");
        assert_eq!(
            resolve(base, "/v2/a/blobs/uploads/1?_state=z"),
            "http://127.0.0.1:5000/v2/a/blobs/uploads/1?_state=z"
        );
        assert_eq!(resolve(base, "//cdn.example/x"), "http://cdn.example/x");
        assert_eq!(resolve(base, "other"), "http://127.0.0.1:5000/v2/a/blobs/other");
        assert_eq!(origin("https://h:1/v2/x"), "https://h:1");
        assert_eq!(percent_encode("repository:a/b:pull,push"), "repository%3Aa%2Fb%3Apull%2Cpush");
    }

    #[test]
    fn registries_conf_marks_insecure_registries() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("registries.conf");
        std::fs::write(
            &conf,
            "unqualified-search-registries = []\n[[registry]]\nlocation = \"127.0.0.1:5000\"\ninsecure = true\n\
             [[registry]]\nlocation = \"quay.io\"\n",
        )
        .unwrap();
        assert_eq!(insecure_in(&conf), ["127.0.0.1:5000"]);
    }
}
