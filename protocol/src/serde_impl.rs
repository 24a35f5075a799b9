//! serde support: a message is a flat JSON object. Deserialization collects the
//! scalar fields and hands them to [`PageMessage::read`], the same validator the
//! listener uses.

use alloc::borrow::ToOwned;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{PageMessage, Value};

impl Serialize for PageMessage {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut entries: Vec<(&'static str, Value)> = Vec::with_capacity(12);
        self.write(|name, value| entries.push((name, value)));
        let mut map = serializer.serialize_map(Some(entries.len()))?;
        for (name, value) in &entries {
            match value {
                Value::Text(s) => map.serialize_entry(name, s)?,
                // Heights and versions are whole numbers; emit them as integers
                // so JS and Rust readers see `1`, not `1.0`.
                Value::Number(n) => map.serialize_entry(name, &(*n as i64))?,
                Value::Other => {}
            }
        }
        map.end()
    }
}

/// A field value as it came off the wire; `None` is JSON null.
struct Scalar(Option<Value>);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;
        impl<'de> Visitor<'de> for ScalarVisitor {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a message field")
            }
            fn visit_str<E>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(Some(Value::Text(v.to_owned()))))
            }
            fn visit_string<E>(self, v: String) -> Result<Scalar, E> {
                Ok(Scalar(Some(Value::Text(v))))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(Some(Value::Number(v as f64))))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(Some(Value::Number(v as f64))))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(Some(Value::Number(v))))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Scalar, E> {
                Ok(Scalar(Some(Value::Other)))
            }
            fn visit_unit<E>(self) -> Result<Scalar, E> {
                Ok(Scalar(None))
            }
            fn visit_none<E>(self) -> Result<Scalar, E> {
                Ok(Scalar(None))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Scalar, D::Error> {
                Scalar::deserialize(d)
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Scalar(Some(Value::Other)))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Scalar(Some(Value::Other)))
            }
        }
        deserializer.deserialize_any(ScalarVisitor)
    }
}

impl<'de> Deserialize<'de> for PageMessage {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MessageVisitor;
        impl<'de> Visitor<'de> for MessageVisitor {
            type Value = PageMessage;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a flat recovery page message object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PageMessage, A::Error> {
                let mut fields = BTreeMap::new();
                while let Some((name, Scalar(value))) = map.next_entry::<String, Scalar>()? {
                    if let Some(value) = value {
                        fields.insert(name, value);
                    }
                }
                PageMessage::read(&fields).map_err(|r| de::Error::custom(r.code()))
            }
        }
        deserializer.deserialize_map(MessageVisitor)
    }
}
