//! Hosting the recovery page: response headers for framing, the
//! [`app::backend::RecoveryBackend`] the page renders from, the page's
//! actions (form posts), the card page outside the iframe, and the sandbox
//! gateway's card window.

pub mod actions;
pub mod backend;
pub mod card;
pub mod headers;
pub mod sandbox_page;

pub use backend::StoreBackend;
