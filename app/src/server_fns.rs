//! Server functions: how the page reaches the server while rendering. On the
//! server they delegate to the [`RecoveryBackend`](crate::backend::RecoveryBackend)
//! in context. No island calls them, so none of their client code ships in
//! the WASM bundle.

use leptos::prelude::*;

use crate::model::{PageError, PageRequest, PageView};

#[cfg(feature = "ssr")]
fn backend() -> Result<crate::backend::SharedBackend, ServerFnError> {
    use_context::<crate::backend::SharedBackend>()
        .ok_or_else(|| ServerFnError::new("recovery backend missing from context"))
}

/// Loads a page's data; called while rendering on the server.
#[server(prefix = "/embed/fn", endpoint = "load")]
pub async fn load_page(req: PageRequest) -> Result<Result<PageView, PageError>, ServerFnError> {
    Ok(backend()?.load(req).await)
}
