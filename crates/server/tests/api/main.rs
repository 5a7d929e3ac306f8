//! The server's integration tests, one module per area, in one test binary: each former test file
//! linked the whole stack on its own, and they share the harness in [`common`]. Every test starts
//! its own node on ephemeral loopback ports, so they run in parallel in one process.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "../../../store/tests/support/postgres.rs"]
mod postgres_support;

mod concurrent_limits;
mod connections;
mod console;
mod hardening;
mod identity;
mod inference;
mod messages;
mod models;
mod openapi;
mod policies;
mod postgres;
mod responses;
mod server;
mod shared_limits;
mod spend;
mod store_outage;
mod tidy;
mod translation;
mod usage;
mod usage_spool;
