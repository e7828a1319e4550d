//! (placeholder until the image module lands)
use std::path::{Path, PathBuf};
#[derive(Debug, thiserror::Error)]
#[error("image: {0}")]
pub struct ImageError(String);
pub const DEFAULT_CACHE: &str = "/var/lib/containy/base";
pub fn ensure_base(tarball: &Path, _cache: &Path) -> Result<PathBuf, ImageError> {
    Err(ImageError(format!("not yet: {}", tarball.display())))
}
