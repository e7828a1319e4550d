//! The friendly config: `configy.toml` or `configy.json`, one `serde` schema in two syntaxes, lowered to a [`Plan`].
//!
//! A bundle is a directory holding a config and, usually, the root filesystem. [`locate`] looks for the config in
//! this order and takes the first it finds: `configy.toml`, then `configy.json` (both friendly), then `config.json`
//! (an OCI runtime spec, handled by `crate::oci`). Reading happens in three steps, and the order is what makes the
//! errors good: (1) the text is parsed and deserialized, and every single value is validated *during* that pass
//! (`schema.rs`), so a bad value is reported with its line and column; (2) fields that constrain each other are
//! checked and defaults filled in while lowering (`lower.rs`), and the key at fault is looked up again in the text
//! for its position (`position.rs`); (3) only a complete, valid `Plan` leaves this module. Every error names the
//! file, `line:column` where there is one, the dotted field (`mounts[1].destination`, indices from 0) and what the
//! field accepts (`diagnose.rs`). Relative host paths (rootfs, bind sources) are relative to the bundle directory.

mod diagnose;
mod isolation;
pub mod limits;
mod lower;
mod position;
mod resources;
mod schema;
mod seccomp;
mod size;
mod unknown;

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::IoError;
use crate::plan::Plan;

pub use isolation::override_network;
pub use size::parse_size;

/// The syntax a friendly config is written in. Both map onto the same schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Toml,
    Json,
}

/// The config a bundle holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigFile {
    /// `configy.toml` or `configy.json`: read with [`load`].
    Friendly(PathBuf, Format),
    /// `config.json`: an OCI runtime spec, read by `crate::oci`.
    Oci(PathBuf),
}

/// The names [`locate`] tries, first found wins.
const CONFIG_NAMES: [&str; 3] = ["configy.toml", "configy.json", "config.json"];

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Io(#[from] crate::error::IoError),
    #[error("bundle {} does not exist: give the directory that holds configy.toml or config.json", bundle.display())]
    NoBundle { bundle: PathBuf },
    #[error(
        "no config in bundle {}: tried configy.toml, configy.json and config.json — write one of them \
         (bundle/configy.toml in containy's sources is a commented example)",
        bundle.display()
    )]
    NotFound { bundle: PathBuf },
    /// A value the config may not have. `field` is a dotted path (`process.user.uid`); empty for syntax errors
    /// and for keys that are unknown at the top level.
    #[error("{}", Located { file, line: *line, column: *column, field, message })]
    Invalid { file: PathBuf, line: Option<usize>, column: Option<usize>, field: String, message: String },
    /// Several problems found at once (every unknown key of a config), one `Invalid` a line.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Several(Vec<ConfigError>),
}

/// `file:line:column: field: message`, leaving out what is not known.
struct Located<'a> {
    file: &'a Path,
    line: Option<usize>,
    column: Option<usize>,
    field: &'a str,
    message: &'a str,
}

impl fmt::Display for Located<'_> {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Find the bundle's config: `configy.toml`, `configy.json`, then `config.json`; the first that exists wins.
pub fn locate(bundle: &Path) -> Result<ConfigFile, ConfigError> {
    match std::fs::metadata(bundle) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => {
            return Err(
                IoError::new("use as a bundle directory", bundle, std::io::ErrorKind::NotADirectory.into()).into()
            );
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ConfigError::NoBundle { bundle: bundle.to_path_buf() });
        }
        Err(e) => return Err(IoError::new("stat", bundle, e).into()),
    }
    for name in CONFIG_NAMES {
        let path = bundle.join(name);
        let exists = path.try_exists().map_err(IoError::on("stat", &path))?;
        if !exists {
            continue;
        }
        return Ok(match name {
            "configy.toml" => ConfigFile::Friendly(path, Format::Toml),
            "configy.json" => ConfigFile::Friendly(path, Format::Json),
            _ => ConfigFile::Oci(path),
        });
    }
    Err(ConfigError::NotFound { bundle: bundle.to_path_buf() })
}

/// Read and lower a friendly config file. Relative paths in it are relative to `bundle`.
pub fn load(path: &Path, format: Format, bundle: &Path) -> Result<Plan, ConfigError> {
    crate::explain!(
        "read the container's config",
        format!("read(2) {}", path.display()),
        "the whole container is described there; it becomes a Plan before anything touches the kernel"
    );
    let text = std::fs::read_to_string(path).map_err(IoError::on("read", path))?;
    parse_str(&text, format, path, bundle)
}

/// Parse and lower a friendly config given as text; `label` is the file name errors show.
pub fn parse_str(text: &str, format: Format, label: &Path, bundle: &Path) -> Result<Plan, ConfigError> {
    let friendly = deserialize(text, format).map_err(|failure| {
        if !failure.message.starts_with("unknown field") {
            return failure.into_error(label);
        }
        // Report every unknown key, not only the first serde stopped at.
        let mut all: Vec<ConfigError> =
            unknown::all_unknown(text, format).into_iter().map(|f| f.into_error(label)).collect();
        match all.len() {
            0 => diagnose::Failure { message: unknown::with_suggestion(&failure.message), ..failure }.into_error(label),
            1 => all.remove(0),
            _ => ConfigError::Several(all),
        }
    })?;
    let bundle = std::path::absolute(bundle).map_err(IoError::on("resolve", bundle))?;
    lower::lower(friendly, &bundle).map_err(|invalid| {
        // Blame the key itself; if it is not written (a missing `source`), the nearest enclosing one that is.
        let mut field = invalid.field.as_str();
        let position = loop {
            if let Some(found) = position::find_field(text, format, field) {
                break Some(found);
            }
            match field.rfind(['.', '[']) {
                Some(i) => field = &field[..i],
                None => break None,
            }
        };
        diagnose::Failure { field: invalid.field, message: invalid.message, position }.into_error(label)
    })
}

fn deserialize(text: &str, format: Format) -> Result<schema::Friendly, diagnose::Failure> {
    match format {
        Format::Toml => {
            let deserializer =
                toml::de::Deserializer::parse(text).map_err(|err| diagnose::from_toml_syntax(text, &err))?;
            serde_path_to_error::deserialize(deserializer).map_err(|err| diagnose::from_toml(text, err))
        }
        Format::Json => {
            let mut deserializer = serde_json::Deserializer::from_str(text);
            let friendly = serde_path_to_error::deserialize(&mut deserializer)
                .map_err(|err| diagnose::from_json(Some(err.path()), err.inner()))?;
            // Trailing garbage after the object is an error, not something to ignore.
            deserializer.end().map_err(|err| diagnose::from_json(None, &err))?;
            Ok(friendly)
        }
    }
}

/// Helpers shared by the test modules of this directory.
#[cfg(test)]
pub(crate) mod test_support {
    use std::path::Path;

    use super::{ConfigError, Format, parse_str};
    use crate::plan::Plan;

    /// The one required key, to build test configs on.
    pub const ARGS: &str = "[process]\nargs = [\"/bin/sh\"]\n";

    pub fn toml_plan(text: &str) -> Plan {
        parse_str(text, Format::Toml, Path::new("configy.toml"), Path::new("/bundle")).unwrap()
    }

    pub fn json_plan(text: &str) -> Plan {
        parse_str(text, Format::Json, Path::new("configy.json"), Path::new("/bundle")).unwrap()
    }

    /// The error for a TOML config, as the user sees it.
    pub fn toml_error(text: &str) -> String {
        let err = parse_str(text, Format::Toml, Path::new("bundle/configy.toml"), Path::new("bundle")).unwrap_err();
        assert!(matches!(err, ConfigError::Invalid { .. } | ConfigError::Several(_)), "{err:?}");
        err.to_string()
    }

    pub fn json_error(text: &str) -> String {
        let err = parse_str(text, Format::Json, Path::new("bundle/configy.json"), Path::new("bundle")).unwrap_err();
        assert!(matches!(err, ConfigError::Invalid { .. } | ConfigError::Several(_)), "{err:?}");
        err.to_string()
    }

    /// Checks the `file:line:col: field: message` prefix and that each hint appears.
    pub fn check(message: &str, prefix: &str, hints: &[&str]) {
        assert!(message.starts_with(prefix), "expected prefix {prefix:?} in {message:?}");
        for hint in hints {
            assert!(message.contains(hint), "expected {hint:?} in {message:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locate_prefers_configy_toml_then_json_then_oci() {
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path();
        let err = locate(bundle).unwrap_err();
        assert!(matches!(err, ConfigError::NotFound { .. }));
        let msg = err.to_string();
        assert!(msg.contains(&bundle.display().to_string()), "{msg}");
        assert!(msg.contains("configy.toml, configy.json and config.json"), "{msg}");

        std::fs::write(bundle.join("config.json"), "{}").unwrap();
        assert_eq!(locate(bundle).unwrap(), ConfigFile::Oci(bundle.join("config.json")));
        std::fs::write(bundle.join("configy.json"), "{}").unwrap();
        assert_eq!(locate(bundle).unwrap(), ConfigFile::Friendly(bundle.join("configy.json"), Format::Json));
        std::fs::write(bundle.join("configy.toml"), "").unwrap();
        assert_eq!(locate(bundle).unwrap(), ConfigFile::Friendly(bundle.join("configy.toml"), Format::Toml));
    }

    #[test]
    fn load_reads_the_file_and_resolves_paths_against_the_bundle() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("configy.toml");
        std::fs::write(
            &path,
            "[process]\nargs = [\"/bin/true\"]\n[[mounts]]\nsource = \"data\"\ndestination = \"/d\"\n",
        )
        .unwrap();
        let plan = load(&path, Format::Toml, dir.path()).unwrap();
        assert_eq!(plan.bundle, dir.path());
        assert_eq!(plan.mounts.last().unwrap().source, dir.path().join("data"));
        assert_eq!(plan.rootfs.source, crate::plan::RootfsSource::Directory(dir.path().join("rootfs")));
    }

    #[test]
    fn a_relative_bundle_is_made_absolute() {
        let plan = parse_str("[process]\nargs = [\"sh\"]\n", Format::Toml, Path::new("c"), Path::new("b")).unwrap();
        assert_eq!(plan.bundle, std::env::current_dir().unwrap().join("b"));
    }

    #[test]
    fn unreadable_file_names_its_path() {
        let err = load(Path::new("/nonexistent/configy.toml"), Format::Toml, Path::new("/nonexistent")).unwrap_err();
        assert!(matches!(&err, ConfigError::Io(e) if e.path == Path::new("/nonexistent/configy.toml")));
        assert_eq!(err.to_string(), "cannot read /nonexistent/configy.toml");
        assert!(std::error::Error::source(&err).is_some());
    }

    #[test]
    fn error_fields_are_kept_apart() {
        let err = parse_str("[process]\nargs = []\n", Format::Toml, Path::new("x.toml"), Path::new("/b")).unwrap_err();
        let ConfigError::Invalid { file, line, column, field, message } = err else { panic!("{err:?}") };
        assert_eq!(
            (file.as_path(), line, column, field.as_str()),
            (Path::new("x.toml"), Some(2), Some(8), "process.args")
        );
        assert!(message.starts_with("the command is empty"));
    }

    #[test]
    fn the_shipped_bundle_config_parses() {
        let bundle = Path::new(env!("CARGO_MANIFEST_DIR")).join("bundle");
        let Ok(ConfigFile::Friendly(path, Format::Toml)) = locate(&bundle) else {
            panic!("no configy.toml in {bundle:?}")
        };
        let plan = load(&path, Format::Toml, &bundle).unwrap();
        assert_eq!(plan.hostname.as_deref(), Some("containy"));
        assert_eq!(plan.process.args, ["/bin/bash"]);
        assert!(plan.process.terminal);
        assert!(plan.process.env.contains(&"TERM=xterm".to_string()));
        assert!(plan.process.env.contains(&"HOME=/root".to_string()));
        assert!(plan.process.env.iter().any(|var| var.starts_with("PS1=") && var.contains("\\h")));
        assert_eq!(plan.rootfs.source, crate::plan::RootfsSource::Tarball(bundle.join("debian.tar.gz")));
        assert_eq!(plan.rootfs.mode, crate::plan::RootfsMode::Overlay);
        assert_eq!(plan.network, crate::plan::Network::None);
        assert_eq!((plan.resources.memory, plan.resources.pids), (Some(512 << 20), Some(256)));
        let lines = std::fs::read_to_string(&path).unwrap().lines().count();
        assert!(lines <= 40, "the shipped config should stay short: {lines} lines");
    }
}
