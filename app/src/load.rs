//! How a page gets its data while it renders on the server: from the
//! [`RecoveryBackend`](crate::backend::RecoveryBackend) in context. A plain
//! function, not a server function: nothing in the browser asks for page
//! data (every action is a form post), so an HTTP route for it would be
//! surface that nothing uses.

use crate::model::{PageError, PageRequest, PageView};

/// Loads a page's data; called while rendering on the server.
pub async fn load_page(req: PageRequest) -> Result<PageView, PageError> {
    #[cfg(feature = "ssr")]
    {
        match leptos::prelude::use_context::<crate::backend::SharedBackend>() {
            Some(backend) => backend.load(req).await,
            None => Err(PageError::Unavailable),
        }
    }
    // The browser never renders a page (islands hydrate only their own).
    #[cfg(not(feature = "ssr"))]
    {
        let _ = req;
        Err(PageError::Unavailable)
    }
}
