//! `--format table|json`: how `list`, `ps`, `stats` and `inspect` print — one checked value, the same flag on
//! each verb (`--json` is short for `--format json`). A table is for people; JSON, clean and nothing else on
//! stdout, is for programs.

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Aligned columns for a person.
    Table,
    /// JSON for a program.
    Json,
}

#[derive(Debug, Clone, clap::Args)]
pub struct FormatArg {
    /// Print a table (for people) or JSON (for programs).
    #[arg(short, long, value_enum, default_value_t = OutputFormat::Table, value_name = "FORMAT")]
    pub format: OutputFormat,
    /// Short for --format json.
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
}

impl FormatArg {
    pub fn json(&self) -> bool {
        self.json || self.format == OutputFormat::Json
    }
}
