//! Shared by the end-to-end tests (`tests/`) and the benchmarks (`bench/`): real protocol
//! peers that run inside the test process, so that no test needs a service of its own, and the
//! `TestApp` harness that starts Intake for a test.

pub mod app;
pub mod proxy;
pub mod s3;
pub mod smtp;
