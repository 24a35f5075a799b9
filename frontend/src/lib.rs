//! The recovery page's WASM entry point. Only islands hydrate; the rest of the
//! page is plain server-rendered HTML.

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    // Link the app so its islands are registered with the hydrator.
    #[allow(unused_imports)]
    use app::PendingForm as _;
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_islands();
}
