//! The wasm-bindgen surface: binds one [`Policy`] to one iframe and turns
//! accepted messages into the partner's callbacks or endpoint calls.
//!
//! Browser objects are reached through `js_sys::Reflect` rather than web-sys
//! types: every web-sys method used adds generated glue, and the listener has a
//! 15 KB budget.

use alloc::string::String;
use alloc::vec::Vec;

use js_sys::{Function, JSON, Object, Reflect};
use protocol::{Fields, Value};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

use crate::intent::{Intent, Sizer};
use crate::policy::{Drop, Policy};

/// Reads a message's fields straight off the posted JS object.
struct JsFields<'a>(&'a JsValue);

impl Fields for JsFields<'_> {
    fn get(&self, name: &str) -> Option<Value> {
        let v = get(self.0, name);
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

fn get(target: &JsValue, name: &str) -> JsValue {
    Reflect::get(target, &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED)
}

fn set(target: &JsValue, name: &str, value: &JsValue) {
    let _ = Reflect::set(target, &JsValue::from_str(name), value);
}

fn function(target: &JsValue, name: &str) -> Option<Function> {
    get(target, name).dyn_into().ok()
}

/// `123` -> "123" without `core::fmt` (size budget).
fn decimal(mut n: u32) -> String {
    let mut digits = Vec::new();
    loop {
        digits.push(b'0' + (n % 10) as u8);
        n /= 10;
        if n == 0 {
            break;
        }
    }
    digits.iter().rev().map(|&d| d as char).collect()
}

/// What to do with accepted messages: the partner's callbacks, or its own
/// backend endpoints.
struct Handlers {
    options: Object,
    /// `endpoints` object, when given: intent name -> same-origin URL.
    endpoints: Option<JsValue>,
    /// Extra request header for the endpoints (a CSRF token).
    csrf: Option<(JsValue, JsValue)>,
    on_drop: Option<Function>,
}

impl Handlers {
    fn dispatch(&self, intent: &Intent, message: &Object) {
        if let Some(f) = function(&self.options, "onMessage") {
            let _ = f.call1(&JsValue::NULL, message);
        }
        if let Some(f) = function(&self.options, intent.callback()) {
            let _ = f.call1(&JsValue::NULL, message);
        }
        if let Some(url) = self
            .endpoints
            .as_ref()
            .map(|e| get(e, intent.name()))
            .filter(JsValue::is_string)
        {
            self.post(&url, intent, message);
        }
    }

    /// `fetch(url, {method: "POST", credentials: "same-origin", ...})` with
    /// the message and its intent as JSON. The partner's backend must still
    /// confirm with our API: a message is a hint, never proof.
    fn post(&self, url: &JsValue, intent: &Intent, message: &Object) {
        let Some(fetch) = function(&js_sys::global(), "fetch") else {
            return;
        };
        let body = Object::assign(&Object::new(), message);
        set(&body, "intent", &JsValue::from_str(intent.name()));
        let headers = Object::new();
        set(
            &headers,
            "Content-Type",
            &JsValue::from_str("application/json"),
        );
        if let Some((name, value)) = &self.csrf
            && let Some(name) = name.as_string()
        {
            set(&headers, &name, value);
        }
        let init = Object::new();
        set(&init, "method", &JsValue::from_str("POST"));
        set(&init, "credentials", &JsValue::from_str("same-origin"));
        set(&init, "headers", &headers);
        if let Ok(json) = JSON::stringify(&body) {
            set(&init, "body", &json);
        }
        let _ = fetch.call2(&JsValue::NULL, url, &init);
    }

    fn dropped(&self, reason: &str) {
        if let Some(f) = &self.on_drop {
            let _ = f.call1(&JsValue::NULL, &JsValue::from_str(reason));
        }
    }
}

/// Listens for one recovery iframe's messages.
///
/// ```js
/// const listener = new RecoveryListener(iframe, {
///   host: "https://pay.rebound.example",  // exact origin of the recovery page
///   embedId,                               // the nonce put in the iframe URL
///   onReactivate(m) {}, onReschedule(m) {}, onUpdateIdKey(m) {},
///   onNotice(m) {}, onHome(m) {}, onConnected(m) {}, onMessage(m) {},
///   // or: endpoints: { reactivate: "/recovery/reactivate", ... },
///   //     csrf: { header: "X-CSRF-Token", token },
///   onDrop(reason) {},                     // optional, for debugging
/// });
/// listener.destroy();
/// ```
#[wasm_bindgen]
pub struct RecoveryListener {
    target: JsValue,
    handler: Option<Closure<dyn FnMut(JsValue)>>,
}

/// A same-origin URL (relative, or absolute on this page's origin).
fn same_origin(url: &JsValue) -> bool {
    let Some(url) = url.as_string() else {
        return false;
    };
    let global = js_sys::global();
    let location = get(&global, "location");
    let here = get(&location, "origin");
    let Some(ctor) = function(&global, "URL") else {
        return false;
    };
    let args = js_sys::Array::of2(&JsValue::from_str(&url), &get(&location, "href"));
    match Reflect::construct(&ctor, &args) {
        Ok(parsed) => get(&parsed, "origin") == here,
        Err(_) => false,
    }
}

#[wasm_bindgen]
impl RecoveryListener {
    #[wasm_bindgen(constructor)]
    pub fn new(iframe: Object, options: Object) -> Result<RecoveryListener, JsError> {
        let host = get(&options, "host").as_string().unwrap_or_default();
        let embed_id = get(&options, "embedId").as_string();
        let policy = Policy::new(&host, embed_id).map_err(|e| JsError::new(e.message()))?;

        let endpoints = Some(get(&options, "endpoints")).filter(JsValue::is_object);
        if let Some(e) = &endpoints {
            for url in Object::values(e.unchecked_ref::<Object>()).iter() {
                if !same_origin(&url) {
                    return Err(JsError::new(
                        "endpoints must be URLs on this page's own origin",
                    ));
                }
            }
        }
        let has_callback = [
            "onMessage",
            "onReactivate",
            "onReschedule",
            "onUpdateIdKey",
            "onNotice",
            "onHome",
            "onConnected",
        ]
        .iter()
        .any(|name| function(&options, name).is_some());
        if endpoints.is_none() && !has_callback {
            return Err(JsError::new(
                "give callbacks (onReactivate, ...) or endpoints",
            ));
        }
        let csrf = Some(get(&options, "csrf"))
            .filter(JsValue::is_object)
            .map(|c| (get(&c, "header"), get(&c, "token")));
        let min = get(&options, "minHeight")
            .as_f64()
            .map_or(Sizer::DEFAULT_MIN, |v| v as u32);
        let max = get(&options, "maxHeight")
            .as_f64()
            .map_or(Sizer::DEFAULT_MAX, |v| v as u32);
        let auto_resize = get(&options, "autoResize") != JsValue::FALSE;
        let mut sizer = Sizer::new(min, max);
        let handlers = Handlers {
            on_drop: function(&options, "onDrop"),
            options,
            endpoints,
            csrf,
        };

        let frame = JsValue::from(iframe);
        let handler = Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
            let origin = get(&event, "origin").as_string().unwrap_or_default();
            // Compared at event time, not bind time: the iframe's window proxy
            // stays the same across reloads, and binding before the iframe
            // loads means no early message is missed.
            let from_frame = Object::is(&get(&event, "source"), &get(&frame, "contentWindow"));
            let data = get(&event, "data");
            let result = if data.is_object() {
                let count = Object::keys(data.unchecked_ref::<Object>()).length();
                policy.check(&origin, from_frame, count, &JsFields(&data))
            } else if origin != policy.host() {
                Err(Drop::WrongOrigin)
            } else if !from_frame {
                Err(Drop::WrongSource)
            } else {
                Err(Drop::Invalid(protocol::Rejection::NotAnObject))
            };
            let message = match result {
                Ok(message) => message,
                Err(drop) => return handlers.dropped(&drop.code()),
            };
            let out = Object::new();
            message.write(|name, value| match value {
                Value::Text(s) => set(&out, name, &JsValue::from_str(&s)),
                Value::Number(n) => set(&out, name, &JsValue::from_f64(n)),
                Value::Other => {}
            });
            let intent = Intent::of(&message.action);
            if let Intent::Resize(height) = intent
                && auto_resize
                && let Some(h) = sizer.next(height)
            {
                let mut px = decimal(h);
                px.push_str("px");
                set(&get(&frame, "style"), "height", &JsValue::from_str(&px));
            }
            handlers.dispatch(&intent, &out);
        });
        let target = js_sys::global().into();
        let add = function(&target, "addEventListener")
            .ok_or_else(|| JsError::new("no window to listen on"))?;
        add.call2(&target, &JsValue::from_str("message"), handler.as_ref())
            .map_err(|_| JsError::new("could not listen for messages"))?;
        Ok(RecoveryListener {
            target,
            handler: Some(handler),
        })
    }

    /// Removes the message handler. Safe to call twice.
    pub fn destroy(&mut self) {
        if let Some(handler) = self.handler.take()
            && let Some(remove) = function(&self.target, "removeEventListener")
        {
            let _ = remove.call2(
                &self.target,
                &JsValue::from_str("message"),
                handler.as_ref(),
            );
        }
    }
}

impl core::ops::Drop for RecoveryListener {
    /// Runs when JS calls `free()` or garbage-collects a listener the page
    /// kept no reference to. Only `destroy()` stops listening: a partner who
    /// wrote `new RecoveryListener(...)` without keeping it must not lose
    /// the payment message at the next GC, so the handler is leaked, still
    /// registered, instead of being freed under the browser.
    fn drop(&mut self) {
        if let Some(handler) = self.handler.take() {
            handler.forget();
        }
    }
}
