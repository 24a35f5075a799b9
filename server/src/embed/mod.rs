//! Hosting the recovery page: response headers for framing, and the
//! [`app::backend::RecoveryBackend`] the page's server functions call.

pub mod backend;
pub mod headers;

pub use backend::StoreBackend;
