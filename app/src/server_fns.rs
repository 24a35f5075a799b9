//! Server functions: the page's only way to reach the server. On the server they
//! delegate to the [`RecoveryBackend`](crate::backend::RecoveryBackend) in context.

use leptos::prelude::*;

use crate::model::{EmbedRequest, PageError, PayOutcome, RecoveryView};

#[cfg(feature = "ssr")]
fn backend() -> Result<crate::backend::SharedBackend, ServerFnError> {
    use_context::<crate::backend::SharedBackend>()
        .ok_or_else(|| ServerFnError::new("recovery backend missing from context"))
}

/// Loads the page's data; called while rendering on the server.
#[server(prefix = "/embed/fn", endpoint = "load")]
pub async fn load_recovery(
    req: EmbedRequest,
) -> Result<Result<RecoveryView, PageError>, ServerFnError> {
    Ok(backend()?.load(req).await)
}

/// Pays the case's outstanding amount with the stored payment method. The
/// amount is the server's, never the browser's: the form carries only the token.
#[server(prefix = "/embed/fn", endpoint = "pay")]
pub async fn pay_now(
    token: String,
    origin: Option<String>,
    embed_id: Option<String>,
) -> Result<Result<PayOutcome, PageError>, ServerFnError> {
    let req = EmbedRequest {
        token,
        origin,
        embed_id,
    };
    Ok(backend()?.pay_now(req).await)
}
