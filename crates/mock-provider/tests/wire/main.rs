//! Wire tests: each provider family over real sockets, with reqwest.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod anthropic;
mod cohere;
mod common;
mod faults;
mod gemini;
mod mcp;
mod openai;
