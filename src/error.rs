//! containy's error type: one variant per module, each keeping its source, so `{:#}` prints the chain
//! `cannot run container web: mount overlay on …: EINVAL` from the top step down to the kernel's answer.

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Oci(#[from] crate::oci::OciError),
    #[error(transparent)]
    Image(#[from] crate::image::ImageError),
    #[error(transparent)]
    Registry(#[from] crate::image::registry::RegistryError),
    #[error(transparent)]
    Runtime(#[from] crate::runtime::RuntimeError),
}
