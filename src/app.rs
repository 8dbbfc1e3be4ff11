//! Wires modules together for each subcommand; the only place that uses `anyhow`.
