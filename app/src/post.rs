//! Posting to the partner page. Only ever to the origin the server checked,
//! never `*`.

use protocol::PageMessage;

#[cfg(feature = "hydrate")]
pub fn to_parent(message: &PageMessage, target_origin: &str) {
    // serde_json is already in the bundle for server functions; going through
    // JSON.parse gives the partner a plain object, like StepPay's messages.
    let Ok(json) = serde_json::to_string(message) else {
        return;
    };
    let Ok(value) = js_sys::JSON::parse(&json) else {
        return;
    };
    let Some(window) = web_sys::window() else {
        return;
    };
    if let Ok(Some(parent)) = window.parent() {
        // Fails only if the origin string is malformed, which the server rules out.
        let _ = parent.post_message(&value, target_origin);
    }
}

/// Rendering on the server never posts anything.
#[cfg(not(feature = "hydrate"))]
pub fn to_parent(_message: &PageMessage, _target_origin: &str) {}
