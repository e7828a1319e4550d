//! Registry credentials and the authentication challenge: where `login` keeps a password, and what a
//! registry's `WWW-Authenticate` asks for.
//!
//! Credentials live where docker and podman look for them, in their format (`{"auths": {"HOST": {"auth":
//! base64("user:password")}}}`), so one `login` serves all three tools. Read in order: `$REGISTRY_AUTH_FILE`,
//! `${XDG_RUNTIME_DIR}/containers/auth.json` (as root without it, podman's `/run/containers/0/auth.json`),
//! `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`; the first file naming the registry wins. `login`
//! writes the first of those paths (or the one given), through a `0600` temp file renamed into place, so a
//! password never sits in a world-readable file even for a moment. A [`Credentials`] never prints its
//! password (its `Debug` is redacted) and no error message carries one.
//!
//! The challenge comes with the first `401` (distribution's "token authentication" spec): `Basic realm=…`
//! means send the password with every request; `Bearer realm=…,service=…,scope=…` means fetch a token from
//! the realm (with the password, if any, as basic auth) for the scope and send that.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use super::RegistryError;

/// A user name and password (or identity token) for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credentials {{ username: {:?}, password: <redacted> }}", self.username)
    }
}

impl Credentials {
    /// `Basic base64(user:password)`.
    pub fn basic(&self) -> String {
        format!("Basic {}", base64_encode(format!("{}:{}", self.username, self.password).as_bytes()))
    }
}

/// What a `401` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer { realm: String, service: Option<String>, scope: Option<String> },
}

/// Parse `WWW-Authenticate`: a scheme, then `key="value"` pairs (values may hold commas inside quotes).
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let mut params = BTreeMap::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect::<String>().trim().to_ascii_lowercase();
        if key.is_empty() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            value = chars.by_ref().take_while(|c| *c != ',').collect::<String>().trim().to_string();
        }
        params.insert(key, value);
    }
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => Some(Challenge::Basic),
        "bearer" => Some(Challenge::Bearer {
            realm: params.get("realm").filter(|r| !r.is_empty())?.clone(),
            service: params.get("service").cloned(),
            scope: params.get("scope").cloned(),
        }),
        _ => None,
    }
}

/// The credential files, in the order they are read; the first is where `login` writes.
pub fn auth_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    if let Some(f) = std::env::var_os("REGISTRY_AUTH_FILE").filter(|f| !f.is_empty()) {
        files.push(PathBuf::from(f));
    }
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => files.push(Path::new(&dir).join("containers/auth.json")),
        None => files.push(PathBuf::from(format!("/run/containers/{}/auth.json", nix::unistd::getuid()))),
    }
    match std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        Some(dir) => files.push(Path::new(&dir).join("config.json")),
        None => {
            if let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
                files.push(Path::new(&home).join(".docker/config.json"));
            }
        }
    }
    files
}

/// The keys a registry may be filed under (docker files Docker Hub under its v1 URL).
fn keys(registry: &str) -> Vec<String> {
    let mut keys = vec![registry.to_string(), format!("https://{registry}"), format!("http://{registry}")];
    if registry == super::reference::DOCKER_HUB {
        keys.extend(["https://index.docker.io/v1/".to_string(), "index.docker.io".to_string()]);
    }
    keys
}

fn read_json(path: &Path) -> Result<Option<serde_json::Value>, RegistryError> {
    match std::fs::read(path) {
        Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Ok(None),
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| RegistryError::Credentials {
            path: path.to_path_buf(),
            message: format!("not valid JSON: {e}"),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(RegistryError::Credentials { path: path.to_path_buf(), message: format!("cannot read: {e}") }),
    }
}

/// The stored credentials for `registry`, from the first file that has them.
pub fn lookup(registry: &str, files: &[PathBuf]) -> Result<Option<Credentials>, RegistryError> {
    for path in files {
        let Some(json) = read_json(path)? else { continue };
        for key in keys(registry) {
            let Some(entry) = json["auths"].get(&key) else { continue };
            let Some(auth) = entry["auth"].as_str().filter(|a| !a.is_empty()) else { continue };
            let bad = |what: &str| RegistryError::Credentials {
                path: path.clone(),
                message: format!("auths.{key:?}.auth: {what}"),
            };
            let decoded = base64_decode(auth).ok_or_else(|| bad("not base64"))?;
            let text = String::from_utf8(decoded).map_err(|_| bad("not UTF-8"))?;
            let (user, password) = text.split_once(':').ok_or_else(|| bad("not USER:PASSWORD"))?;
            return Ok(Some(Credentials { username: user.to_string(), password: password.to_string() }));
        }
    }
    Ok(None)
}

/// Store `credentials` for `registry` in `path`, keeping every other entry of the file.
pub fn store(path: &Path, registry: &str, credentials: &Credentials) -> Result<(), RegistryError> {
    let mut json = read_json(path)?.unwrap_or_else(|| serde_json::json!({}));
    if !json["auths"].is_object() {
        json["auths"] = serde_json::json!({});
    }
    let auth = base64_encode(format!("{}:{}", credentials.username, credentials.password).as_bytes());
    json["auths"][registry] = serde_json::json!({ "auth": auth });
    write_private(path, &json)
}

/// Remove `registry` from every file that has it. Returns the files changed.
pub fn remove(registry: &str, files: &[PathBuf]) -> Result<Vec<PathBuf>, RegistryError> {
    let mut changed = Vec::new();
    for path in files {
        let Some(mut json) = read_json(path)? else { continue };
        let Some(auths) = json.get_mut("auths").and_then(|a| a.as_object_mut()) else { continue };
        let before = auths.len();
        for key in keys(registry) {
            auths.remove(&key);
        }
        if auths.len() != before {
            write_private(path, &json)?;
            changed.push(path.clone());
        }
    }
    Ok(changed)
}

/// Write through a `0600` temp file in the same directory (made `0700` if new), then `rename`.
fn write_private(path: &Path, json: &serde_json::Value) -> Result<(), RegistryError> {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let failed = |op: &str, e: std::io::Error| RegistryError::Credentials {
        path: path.to_path_buf(),
        message: format!("cannot {op}: {e}"),
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| failed("mkdir", e))?;
    }
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let text = serde_json::to_vec_pretty(json).map_err(|e| failed("encode", e.into()))?;
    let result = (|| {
        let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
        file.write_all(&text)?;
        file.write_all(b"\n")?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        failed("write", e)
    })
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

pub fn base64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0);
    for c in text.trim_end_matches('=').bytes() {
        let v = ALPHABET.iter().position(|&a| a == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips() {
        for s in ["", "a", "ab", "abc", "user:pa:ss", "ünï"] {
            assert_eq!(base64_decode(&base64_encode(s.as_bytes())).unwrap(), s.as_bytes());
        }
        assert_eq!(base64_encode(b"user:pass"), "dXNlcjpwYXNz");
        assert!(base64_decode("***").is_none());
    }

    #[test]
    fn challenges_are_parsed() {
        assert_eq!(parse_challenge(r#"Basic realm="Registry Realm""#), Some(Challenge::Basic));
        let c = parse_challenge(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#,
        );
        assert_eq!(
            c,
            Some(Challenge::Bearer {
                realm: "https://auth.example/token".into(),
                service: Some("registry.example".into()),
                scope: Some("repository:a/b:pull,push".into()),
            })
        );
        assert_eq!(parse_challenge("Bearer service=x"), None, "a bearer challenge needs a realm");
        assert_eq!(parse_challenge("Negotiate abc"), None);
    }

    #[test]
    fn credentials_are_stored_private_looked_up_and_removed() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sub/auth.json");
        let docker = dir.path().join("config.json");
        std::fs::write(&docker, r#"{"auths":{"https://index.docker.io/v1/":{"auth":"aHViOnNlY3JldA=="}},"x":1}"#)
            .unwrap();
        let creds = Credentials { username: "user".into(), password: "s3cret".into() };
        store(&file, "127.0.0.1:5000", &creds).unwrap();
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
        let files = vec![file.clone(), docker.clone()];
        assert_eq!(lookup("127.0.0.1:5000", &files).unwrap(), Some(creds.clone()));
        assert_eq!(lookup("docker.io", &files).unwrap().unwrap().username, "hub");
        assert!(!format!("{creds:?}").contains("s3cret"));
        assert_eq!(remove("docker.io", &files).unwrap(), vec![docker.clone()]);
        assert!(std::fs::read_to_string(&docker).unwrap().contains("\"x\": 1"), "other keys stay");
        assert_eq!(lookup("docker.io", &files).unwrap(), None);
        std::fs::write(&file, "{not json").unwrap();
        assert!(lookup("x", &files).unwrap_err().to_string().contains("auth.json"));
    }
}
