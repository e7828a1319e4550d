//! Image references, with docker's rules (distribution's `reference` grammar): `busybox` is
//! `docker.io/library/busybox:latest`, `host:port/repo:tag` names another registry, `@sha256:…` pins a digest.
//!
//! The first path component is a registry only when it looks like a host: it has a `.` or a `:`, or it is
//! `localhost`; otherwise the registry is Docker Hub and a one-component name gets `library/`. Repository
//! components are lowercase `[a-z0-9]` runs joined by `.`, `_`, `__` or `-`s; a tag is `\w[\w.-]{0,127}`; a
//! digest is `sha256:` and 64 lowercase hex digits (the only algorithm containy verifies). When both a tag and a
//! digest are given, the digest decides (as docker does).

use std::fmt;

/// Docker Hub's name in references, and the host its API is served from.
pub const DOCKER_HUB: &str = "docker.io";
pub const DOCKER_HUB_API: &str = "registry-1.docker.io";

/// A parsed, normalised image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// `docker.io`, `quay.io`, `127.0.0.1:5000`.
    pub registry: String,
    /// `library/busybox`, `team/app`.
    pub repository: String,
    /// The tag (`latest` when neither a tag nor a digest was given).
    pub tag: Option<String>,
    /// `sha256:<64 hex>`.
    pub digest: Option<String>,
}

/// Why a reference was refused: the text and the rule it broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not an image reference: {rule}")]
pub struct BadReference {
    pub text: String,
    pub rule: String,
}

impl Reference {
    pub fn parse(text: &str) -> Result<Reference, BadReference> {
        let bad = |rule: &str| BadReference { text: text.to_string(), rule: rule.to_string() };
        if text.is_empty() || text.len() > 512 {
            return Err(bad("give NAME[:TAG][@sha256:DIGEST], e.g. busybox, debian:bookworm, localhost:5000/app:1"));
        }
        let (rest, digest) = match text.split_once('@') {
            Some((rest, digest)) => (rest, Some(digest)),
            None => (text, None),
        };
        if let Some(d) = digest {
            let hex = d.strip_prefix("sha256:").ok_or_else(|| bad("a digest is sha256:<64 hex digits>"))?;
            if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
                return Err(bad("a digest is sha256:<64 lowercase hex digits>"));
            }
        }
        // A tag is after the last ':' that follows the last '/' (a ':' before it is a port).
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(t) = tag
            && !valid_tag(t)
        {
            return Err(bad("a tag is up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'"));
        }
        let (registry, path) = match name.split_once('/') {
            Some((first, path)) if first.contains(['.', ':']) || first == "localhost" => (first.to_string(), path),
            _ => (DOCKER_HUB.to_string(), name),
        };
        let registry = match registry.as_str() {
            "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB.to_string(),
            _ => registry,
        };
        if !valid_host(&registry) {
            return Err(bad("the registry is HOST[:PORT] (letters, digits, '-' and '.', or [IPv6])"));
        }
        if path.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(bad("repository names must be lowercase"));
        }
        if path.is_empty() || !path.split('/').all(valid_component) {
            return Err(bad(
                "repository path components are lowercase letters and digits, joined by '.', '_', '__' or '-'",
            ));
        }
        let repository =
            if registry == DOCKER_HUB && !path.contains('/') { format!("library/{path}") } else { path.to_string() };
        if registry.len() + 1 + repository.len() > 255 {
            return Err(bad("the name is longer than 255 characters"));
        }
        let tag = match (tag, digest) {
            (Some(t), _) => Some(t.to_string()),
            (None, None) => Some("latest".to_string()),
            (None, Some(_)) => None,
        };
        Ok(Reference { registry, repository, tag, digest: digest.map(str::to_string) })
    }

    /// `registry/repository`, the name without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// What a manifest is fetched by: the digest when there is one, else the tag.
    pub fn object(&self) -> &str {
        self.digest.as_deref().or(self.tag.as_deref()).unwrap_or("latest")
    }

    /// The name the store gives a pulled image: `registry/repo:tag`, or `registry/repo@sha256:…` for a
    /// reference that pins a digest.
    pub fn store_name(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => format!("{}@{d}", self.name()),
            (None, Some(t)) => format!("{}:{t}", self.name()),
            (None, None) => format!("{}:latest", self.name()),
        }
    }

    /// The host (and port) the registry's API is served from.
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB { DOCKER_HUB_API } else { &self.registry }
    }

    /// This reference with another digest (and no tag).
    pub fn with_digest(&self, digest: &str) -> Reference {
        Reference { digest: Some(digest.to_string()), tag: None, ..self.clone() }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name())?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

fn valid_tag(tag: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    !tag.is_empty() && tag.len() <= 128 && tag.starts_with(word) && tag.chars().all(|c| word(c) || c == '.' || c == '-')
}

/// `[a-z0-9]+` runs separated by `.`, `_`, `__` or one or more `-`.
fn valid_component(c: &str) -> bool {
    let bytes = c.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-')) {
            return false;
        }
    }
    true
}

/// `host`, `host:port`, `[v6]:port`.
pub(crate) fn valid_host(host: &str) -> bool {
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else { return false };
        if v6.is_empty() || !v6.chars().all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.') {
            return false;
        }
        match after {
            "" => return true,
            p => match p.strip_prefix(':') {
                Some(port) => ("x", Some(port)),
                None => return false,
            },
        }
    } else {
        match host.rsplit_once(':') {
            Some((n, p)) => (n, Some(p)),
            None => (host, None),
        }
    };
    let label = |l: &str| {
        !l.is_empty()
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    !name.is_empty() && name.split('.').all(label) && port_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Reference {
        Reference::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn docker_normalises_short_names() {
        let r = parse("busybox");
        assert_eq!(r.to_string(), "docker.io/library/busybox:latest");
        assert_eq!(r.api_host(), "registry-1.docker.io");
        assert_eq!(parse("team/app:1.2").to_string(), "docker.io/team/app:1.2");
        assert_eq!(parse("index.docker.io/library/debian:bookworm").store_name(), "docker.io/library/debian:bookworm");
        let r = parse("localhost:5000/a/b_c__d-e:v1");
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.tag.as_deref()),
            ("localhost:5000", "a/b_c__d-e", Some("v1"))
        );
        assert_eq!(parse("localhost/app").registry, "localhost");
        assert_eq!(parse("quay.io/x/y").registry, "quay.io");
        assert_eq!(parse("127.0.0.1:5000/busybox").store_name(), "127.0.0.1:5000/busybox:latest");
        assert_eq!(parse("[::1]:5000/busybox").registry, "[::1]:5000");
    }

    #[test]
    fn digests_pin_and_win_over_tags() {
        let d = format!("sha256:{}", "a".repeat(64));
        let r = parse(&format!("127.0.0.1:5000/busybox@{d}"));
        assert_eq!((r.tag.as_deref(), r.digest.as_deref(), r.object()), (None, Some(d.as_str()), d.as_str()));
        assert_eq!(r.store_name(), format!("127.0.0.1:5000/busybox@{d}"));
        let r = parse(&format!("busybox:1@{d}"));
        assert_eq!(r.object(), d);
    }

    #[test]
    fn bad_references_say_which_rule() {
        for (text, rule) in [
            ("", "NAME"),
            ("Busybox", "lowercase"),
            ("busybox:", "tag"),
            ("busybox:-x", "tag"),
            ("a//b", "components"),
            ("a/-b", "components"),
            ("a/b.", "components"),
            ("busybox@sha256:abc", "64"),
            ("busybox@md5:abc", "sha256"),
            ("bad_host:5000/x", "registry"),
            ("host:99999999/x", "registry"),
        ] {
            let err = Reference::parse(text).unwrap_err().to_string();
            assert!(err.contains(rule), "{text:?}: {err}");
        }
    }
}
