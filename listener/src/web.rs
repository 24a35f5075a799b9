//! The wasm-bindgen surface: binds one [`Policy`] to one iframe.

use js_sys::{Function, Object, Reflect};
use protocol::{Fields, Value};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{HtmlIFrameElement, MessageEvent, Window};

use crate::policy::Policy;

/// Reads a message's fields straight off the posted JS object.
struct JsFields<'a>(&'a JsValue);

impl Fields for JsFields<'_> {
    fn get(&self, name: &str) -> Option<Value> {
        let v = Reflect::get(self.0, &JsValue::from_str(name)).ok()?;
        if v.is_undefined() || v.is_null() {
            None
        } else if let Some(s) = v.as_string() {
            Some(Value::Text(s))
        } else if let Some(n) = v.as_f64() {
            Some(Value::Number(n))
        } else {
            Some(Value::Other)
        }
    }
}

/// Listens for one recovery iframe's messages.
///
/// ```js
/// const listener = new RecoveryListener(iframe, {
///   host: "https://pay.rebound.example",   // exact origin of the recovery page
///   embedId,                                // the nonce put in the iframe URL
///   onMessage(message) { ... },             // plain object, flat StepPay fields
///   onDrop(reason) { ... },                 // optional, for debugging
/// });
/// listener.destroy();
/// ```
#[wasm_bindgen]
pub struct RecoveryListener {
    window: Window,
    handler: Option<Closure<dyn FnMut(MessageEvent)>>,
}

#[wasm_bindgen]
impl RecoveryListener {
    #[wasm_bindgen(constructor)]
    pub fn new(iframe: HtmlIFrameElement, options: &Object) -> Result<RecoveryListener, JsError> {
        let host = string_option(options, "host").unwrap_or_default();
        let embed_id = string_option(options, "embedId");
        let policy = Policy::new(&host, embed_id).map_err(|e| JsError::new(e.message()))?;
        let on_message: Function = Reflect::get(options, &"onMessage".into())
            .ok()
            .and_then(|f| f.dyn_into().ok())
            .ok_or_else(|| JsError::new("onMessage must be a function"))?;
        let on_drop: Option<Function> = Reflect::get(options, &"onDrop".into())
            .ok()
            .and_then(|f| f.dyn_into().ok());
        let window = web_sys::window().ok_or_else(|| JsError::new("no window"))?;

        let handler = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            // Compared at event time, not bind time: the iframe's window proxy
            // stays the same across reloads, and binding before the iframe
            // loads means no early message is missed.
            let from_frame = match (event.source(), iframe.content_window()) {
                (Some(source), Some(frame)) => Object::is(&source, &frame),
                _ => false,
            };
            let data = event.data();
            let result = if data.is_object() {
                policy.check(&event.origin(), from_frame, &JsFields(&data))
            } else if event.origin() != policy.host() {
                Err(crate::policy::Drop::WrongOrigin)
            } else {
                Err(crate::policy::Drop::Invalid(
                    protocol::Rejection::NotAnObject,
                ))
            };
            match result {
                Ok(message) => {
                    let out = Object::new();
                    message.write(|name, value| {
                        let v = match value {
                            Value::Text(s) => JsValue::from_str(&s),
                            Value::Number(n) => JsValue::from_f64(n),
                            Value::Other => return,
                        };
                        let _ = Reflect::set(&out, &JsValue::from_str(name), &v);
                    });
                    let _ = on_message.call1(&JsValue::NULL, &out);
                }
                Err(drop) => {
                    if let Some(f) = &on_drop {
                        let _ = f.call1(&JsValue::NULL, &JsValue::from_str(&drop.code()));
                    }
                }
            }
        });
        window
            .add_event_listener_with_callback("message", handler.as_ref().unchecked_ref())
            .map_err(|_| JsError::new("could not listen for messages"))?;
        Ok(RecoveryListener {
            window,
            handler: Some(handler),
        })
    }

    /// Removes the message handler. Safe to call twice.
    pub fn destroy(&mut self) {
        if let Some(handler) = self.handler.take() {
            let _ = self
                .window
                .remove_event_listener_with_callback("message", handler.as_ref().unchecked_ref());
        }
    }
}

impl Drop for RecoveryListener {
    /// `listener.free()` from JS must not leave a handler pointing at freed memory.
    fn drop(&mut self) {
        self.destroy();
    }
}

fn string_option(options: &Object, name: &str) -> Option<String> {
    Reflect::get(options, &JsValue::from_str(name))
        .ok()?
        .as_string()
}
