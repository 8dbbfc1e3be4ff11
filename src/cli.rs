//! Command-line arguments (clap derive); low-level options only, no logic.
