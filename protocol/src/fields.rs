use alloc::collections::BTreeMap;
use alloc::string::String;

/// A scalar field of a flat message. Messages have no nested values: StepPay's
/// shape is flat and ours keeps it so.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Text(String),
    Number(f64),
    /// Present but neither a string nor a number (object, boolean, array...).
    Other,
}

/// Read access to a message's flat fields, whatever holds them: a JS object in
/// the listener, a map after serde in the page and server.
///
/// Implementations return `None` for a field that is absent, `undefined` or `null`;
/// any other non-string, non-number value is `Some(Value::Other)` so the reader
/// rejects it as a wrong type instead of treating it as missing.
pub trait Fields {
    fn get(&self, name: &str) -> Option<Value>;
}

impl Fields for BTreeMap<String, Value> {
    fn get(&self, name: &str) -> Option<Value> {
        BTreeMap::get(self, name).cloned()
    }
}
