//! The partner-side listener (design section 5).
//!
//! [`policy`] holds every rule and is plain Rust, unit-tested natively; [`web`]
//! is the thin wasm-bindgen shell that feeds it browser events.

pub mod policy;
#[cfg(target_arch = "wasm32")]
mod web;
