//! `containy image …` and `containy build`: clap structures and one function per verb; the work is in
//! `crate::image`.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};

use crate::image::{self, Store};

#[derive(Debug, Args)]
pub struct ImageArgs {
    /// The image store (layers, images, the name index).
    #[arg(long, global = true, default_value_os_t = crate::paths::store(), value_name = "DIR", env = "CONTAINY_STORE")]
    pub store: PathBuf,
    #[command(subcommand)]
    pub command: ImageCommand,
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Import a root filesystem tarball (.tar, .tar.gz, .tar.zst), a `docker save` archive or an OCI
    /// image-layout archive; `-` reads standard input.
    Import {
        /// NAME[:TAG] (default: the name the archive gives, or the file's name).
        #[arg(value_name = "NAME[:TAG]")]
        name_or_file: String,
        /// The archive to import; `-` reads standard input. (Given alone, the first argument is the file.)
        #[arg(value_name = "FILE|-")]
        file: Option<PathBuf>,
    },
    /// List images.
    #[command(alias = "list")]
    Ls {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show an image's record (layers and config) as JSON.
    Inspect {
        /// The image, NAME[:TAG].
        name: String,
    },
    /// Remove image names (the image goes with its last name; layers stay until `prune`).
    Rm {
        /// The names to remove, NAME[:TAG] each.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove unnamed images, unused layers and leftovers of interrupted imports.
    Prune,
    /// Write an image as an OCI image-layout tar archive (`podman load -i FILE` reads it); `-`: stdout.
    Export {
        /// The image, NAME[:TAG].
        name: String,
        /// The archive to write; `-` writes to standard output.
        #[arg(value_name = "FILE|-")]
        file: PathBuf,
    },
    /// Push an image to a registry: `containy image push NAME HOST[:PORT]/REPO[:TAG]`; prints the digest.
    Push {
        /// The image in the store (name or id).
        name: String,
        /// Where to push it.
        #[arg(value_name = "REF")]
        reference: String,
        /// How layer blobs are compressed: gzip (default), zstd or none.
        #[arg(long, default_value = "gzip", value_name = "KIND")]
        compression: String,
        #[command(flatten)]
        conn: super::registry::ConnArgs,
    },
    /// Pull an image from a registry (the same as `containy pull`).
    Pull(super::registry::PullArgs),
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The name (NAME[:TAG]) the built image gets.
    #[arg(short, long, value_name = "NAME[:TAG]")]
    pub tag: String,
    /// The build file (default: CONTEXT/Containyfile).
    #[arg(short, long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Run every step, ignoring cached layers.
    #[arg(long)]
    pub no_cache: bool,
    /// `none` (default: RUN steps have only a loopback) or `host`.
    #[arg(long, default_value = "none", value_name = "MODE")]
    pub network: String,
    /// The image store (layers, images, the name index).
    #[arg(long, default_value_os_t = crate::paths::store(), value_name = "DIR", env = "CONTAINY_STORE")]
    pub store: PathBuf,
    /// The build context: COPY sources are taken from (and confined to) this directory.
    pub context: PathBuf,
}

impl ImageCommand {
    /// `push` and `pull` need the registry client: `containy-engine` does them (`crate::handover`).
    pub fn is_network(&self) -> bool {
        matches!(self, ImageCommand::Push { .. } | ImageCommand::Pull(_))
    }
}

/// `image push` and `image pull`: linked into `containy-engine` only (`super::engine::verb`).
pub(super) fn network(args: ImageArgs) -> Result<i32> {
    match args.command {
        ImageCommand::Push { name, reference, compression, conn } => {
            let store = Store::open(&args.store)?;
            super::registry::push(&store, &name, &reference, &conn, &compression)
        }
        ImageCommand::Pull(pull) => super::registry::pull(pull),
        _ => anyhow::bail!("not a registry verb: `image` runs it"),
    }
}

pub fn image(args: ImageArgs) -> Result<i32> {
    let store = Store::open(&args.store)?;
    match args.command {
        // `dispatch` gives these to the engine (`network` above) before they come here.
        ImageCommand::Push { .. } | ImageCommand::Pull(_) => anyhow::bail!("image push and pull are containy-engine's"),
        ImageCommand::Import { name_or_file, file } => {
            let (name, file) = match file {
                Some(file) => (Some(name_or_file), file),
                None => (None, PathBuf::from(name_or_file)),
            };
            let started = std::time::Instant::now();
            let done = image::import(&store, name.as_deref(), &file)?;
            eprintln!(
                "imported {} ({} layer{}, {} new; {} files, {} MiB) in {:.1} s",
                done.name,
                done.layers,
                if done.layers == 1 { "" } else { "s" },
                done.new_layers,
                done.stats.files,
                done.stats.bytes >> 20,
                started.elapsed().as_secs_f64()
            );
            println!("sha256:{}", done.id);
        }
        ImageCommand::Ls { json } => {
            let index = store.index()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&index)?);
            } else {
                println!("{:<40} {:<14} {:<7} CREATED", "NAME", "ID", "LAYERS");
                for (name, id) in &index {
                    let record = store.record(id)?;
                    println!("{name:<40} {:<14} {:<7} {}", &id[..12], record.layers.len(), record.created);
                }
            }
        }
        ImageCommand::Inspect { name } => {
            let image = store.find(&name)?;
            let value = serde_json::json!({
                "id": format!("sha256:{}", image.id),
                "layers": image.record.layers,
                "lowerdirs": store.lowerdirs(&image),
                "config": image.record.config,
                "architecture": image.record.architecture,
                "os": image.record.os,
                "variant": image.record.variant,
                "digest": image.record.digest,
                "created": image.record.created,
            });
            println!("{}", serde_json::to_string_pretty(&value)?);
        }
        ImageCommand::Rm { names } => {
            for name in names {
                for removed in store.remove(&name)? {
                    println!("untagged {removed}");
                }
            }
        }
        ImageCommand::Prune => {
            image::build::reap_orphans(&store);
            let (images, layers) = store.prune()?;
            println!("removed {images} image{} and {layers} layer{}", plural(images), plural(layers));
        }
        ImageCommand::Export { name, file } => {
            if file.as_os_str() == "-" {
                image::export(&store, &name, std::io::stdout().lock())?;
            } else {
                let tmp = file.with_extension("containy-tmp");
                let out = std::fs::File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
                let result = image::export(&store, &name, std::io::BufWriter::new(out));
                if result.is_err() {
                    let _ = std::fs::remove_file(&tmp);
                }
                result?;
                std::fs::rename(&tmp, &file).with_context(|| format!("cannot write {}", file.display()))?;
            }
        }
    }
    Ok(0)
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

pub fn build(root: &std::path::Path, args: BuildArgs) -> Result<i32> {
    let store = Store::open(&args.store)?;
    // Absolute: a build may chdir (to mount many layers by short names).
    let context = std::path::absolute(&args.context).with_context(|| format!("{}", args.context.display()))?;
    let file = match &args.file {
        Some(file) => std::path::absolute(file).with_context(|| format!("{}", file.display()))?,
        None => context.join("Containyfile"),
    };
    let network = match args.network.as_str() {
        "none" => crate::plan::Network::None,
        "host" => crate::plan::Network::Host,
        other => anyhow::bail!("--network {other:?}: use none or host"),
    };
    let opts = image::build::BuildOptions {
        tag: args.tag,
        file,
        context,
        no_cache: args.no_cache,
        network,
        state_root: root.to_path_buf(),
        color: std::io::stdout().is_terminal(),
        base_plan: crate::request::default_plan(&std::env::current_dir()?)?,
    };
    let id = image::build::build(&store, &opts)?;
    println!("sha256:{id}");
    Ok(0)
}
