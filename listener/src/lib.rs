//! The partner-side listener (design section 5).
//!
//! [`policy`] (which messages are accepted) and [`intent`] (what each one
//! means for the partner page) are plain Rust, unit-tested natively; `web` is
//! the thin wasm-bindgen shell that feeds them browser events.

#![cfg_attr(target_arch = "wasm32", no_std)]

extern crate alloc;

pub mod intent;
pub mod policy;
#[cfg(target_arch = "wasm32")]
mod web;

#[cfg(target_arch = "wasm32")]
#[global_allocator]
// SAFETY: wasm32-unknown-unknown without atomics is single-threaded.
static ALLOCATOR: lol_alloc::AssumeSingleThreaded<lol_alloc::FreeListAllocator> =
    unsafe { lol_alloc::AssumeSingleThreaded::new(lol_alloc::FreeListAllocator::new()) };

/// A panic can only come from a bug; trap instead of formatting a message
/// nobody would see (std's panic machinery is most of a small module's size).
#[cfg(target_arch = "wasm32")]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}
