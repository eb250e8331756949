//! The integration tests that measure wall-clock time and need the machine to
//! themselves: the fault matrix (every provider fault answered within its budget on the
//! shipped config) and the stream fan-out benchmark (ignored; `bench/stream.sh` runs
//! it). Cargo runs test binaries one after the other, so nothing else competes for the
//! two cores while these measure; like tests/it they need only the Rust toolchain.
//! The profile-guided build's training workload (`scripts/pgo.sh`) is here too: it
//! loads the binary for a few seconds, so it runs where it slows no other test.

#[path = "../support/mod.rs"]
mod support;

mod fault_matrix;
mod pgo_workload;
mod stream_bench;
