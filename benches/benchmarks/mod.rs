//! The benchmark modules of `bench_main`.

pub(crate) mod agent;
pub(crate) mod e2e;
pub(crate) mod state;
