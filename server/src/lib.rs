//! Rebound's server: the StepCover-compatible partner API, the recovery page
//! host, storage and payment gateways. `main.rs` is a thin CLI over this crate,
//! and integration tests drive it through [`startup::Application`].

pub mod api;
pub mod charging;
pub mod cli;
pub mod client_address;
pub mod clock;
pub mod config;
pub mod console;
pub mod demo;
pub mod dev;
pub mod domain;
pub mod embed;
pub mod engine;
pub mod gateway;
pub mod hashing;
pub mod html;
pub mod limits;
pub mod loadtest;
pub mod notify;
pub mod refunding;
pub mod rollup;
pub mod sdk;
pub mod sealing;
pub mod serve;
pub mod startup;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod worker;
