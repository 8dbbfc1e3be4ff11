//! Unit tests of the seeded injector on synthetic batches (no server, no runtime).
