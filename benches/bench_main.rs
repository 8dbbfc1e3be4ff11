//! Criterion entry point of `cargo bench --bench bench_main`: the state machine benchmarks and the
//! end-to-end (HTTP operation to CometD notification) benchmarks, one module each.

mod benchmarks;

criterion::criterion_group!(state, benchmarks::state::benches);
criterion::criterion_group!(e2e, benchmarks::e2e::benches);
criterion::criterion_main!(state, e2e);
