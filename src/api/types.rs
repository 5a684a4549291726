//! Wire types shared by the API modules.

use std::borrow::Cow;

use chrono::{DateTime, SecondsFormat, Utc};
use poem_openapi::{
    registry::{MetaSchema, MetaSchemaRef},
    types::{ParseError, ParseFromJSON, ParseFromParameter, ParseResult, ToJSON, Type},
    validation::Validator,
};
use serde_json::Value;

/// An RFC 3339 UTC timestamp with milliseconds, e.g. `2026-11-24T08:30:00.000Z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(pub DateTime<Utc>);

impl From<DateTime<Utc>> for Timestamp {
    fn from(value: DateTime<Utc>) -> Self {
        Self(value)
    }
}

impl Type for Timestamp {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "string_date-time".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema::new_with_format("string", "date-time")))
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(self)
    }

    fn raw_element_iter<'a>(
        &'a self,
    ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }
}

fn parse(value: &str) -> ParseResult<Timestamp> {
    DateTime::parse_from_rfc3339(value)
        .map(|t| Timestamp(t.with_timezone(&Utc)))
        .map_err(|_| {
            ParseError::custom("expected an RFC 3339 timestamp such as 2026-11-24T08:30:00Z")
        })
}

impl ParseFromJSON for Timestamp {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value.unwrap_or_default() {
            Value::String(s) => parse(&s),
            other => Err(ParseError::expected_type(other)),
        }
    }
}

impl ParseFromParameter for Timestamp {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        parse(value)
    }
}

impl ToJSON for Timestamp {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(
            self.0.to_rfc3339_opts(SecondsFormat::Millis, true),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_serialize_in_utc_with_milliseconds() {
        let t = Timestamp(DateTime::from_timestamp_millis(1_764_000_000_000).unwrap());
        assert_eq!(
            t.to_json(),
            Some(Value::String("2025-11-24T16:00:00.000Z".into()))
        );
    }

    #[test]
    fn timestamps_parse_with_any_offset() {
        let t = Timestamp::parse_from_parameter("2025-11-25T00:00:00+08:00").unwrap();
        assert_eq!(t.0.timestamp_millis(), 1_764_000_000_000);
        assert!(Timestamp::parse_from_parameter("yesterday").is_err());
    }
}

/// A request string of at most `MAX` characters that must be a JSON string. (poem-openapi's
/// `String` also accepts numbers and booleans, turning `{"title": 42}` into "42"; request
/// bodies are strict.) `MAX` is the owning service's limit, so the schema's `maxLength` is
/// the number the server enforces; the field's `WithinMax` validator refuses a longer value
/// at the edge, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Text<const MAX: usize>(pub String);

impl<const MAX: usize> From<Text<MAX>> for String {
    fn from(value: Text<MAX>) -> Self {
        value.0
    }
}

impl<const MAX: usize> Type for Text<MAX> {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        format!("string_max_{MAX}").into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            max_length: Some(MAX),
            ..MetaSchema::new("string")
        }))
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(self)
    }

    fn raw_element_iter<'a>(
        &'a self,
    ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }
}

impl<const MAX: usize> ParseFromJSON for Text<MAX> {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value.unwrap_or_default() {
            Value::String(s) => Ok(Self(s)),
            other => Err(ParseError::expected_type(other)),
        }
    }
}

impl<const MAX: usize> ToJSON for Text<MAX> {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.0.clone()))
    }
}

/// A request list of at most `MAX` items: the schema says `maxItems: MAX`, and the field's
/// `WithinMax` validator refuses a longer list, naming the field. (The validator sees the
/// list as one value, so a list's own items are checked by the service.)
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct List<T, const MAX: usize>(pub Vec<T>);

impl<T, const MAX: usize> std::ops::Deref for List<T, MAX> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        &self.0
    }
}

impl<T, const MAX: usize> IntoIterator for List<T, MAX> {
    type Item = T;
    type IntoIter = std::vec::IntoIter<T>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<T: Type, const MAX: usize> Type for List<T, MAX> {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        format!("list_{}_max_{MAX}", T::name()).into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            items: Some(Box::new(T::schema_ref())),
            max_items: Some(MAX),
            ..MetaSchema::new("array")
        }))
    }

    fn register(registry: &mut poem_openapi::registry::Registry) {
        T::register(registry);
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(self)
    }

    fn raw_element_iter<'a>(
        &'a self,
    ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(std::iter::once(self))
    }
}

impl<T: ParseFromJSON, const MAX: usize> ParseFromJSON for List<T, MAX> {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value.unwrap_or_default() {
            Value::Array(items) => items
                .into_iter()
                .map(|item| T::parse_from_json(Some(item)).map_err(ParseError::propagate))
                .collect::<Result<_, _>>()
                .map(Self),
            other => Err(ParseError::expected_type(other)),
        }
    }
}

impl<T: ToJSON, const MAX: usize> ToJSON for List<T, MAX> {
    fn to_json(&self) -> Option<Value> {
        Some(Value::Array(
            self.0.iter().filter_map(ToJSON::to_json).collect(),
        ))
    }
}

/// The validator of every `Text` and `List` request field: within the `MAX` of its type.
/// (poem-openapi's own `max_length` takes only a literal, which would be a second home for
/// the number.) A refusal reads "field `name` verification failed", which the error mapping
/// turns into `invalid_input` on that field.
pub struct WithinMax;

impl std::fmt::Display for WithinMax {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The error mapping recognises this text (`api::error`).
        f.write_str("longer than the maxLength or maxItems its schema declares")
    }
}

impl<const MAX: usize> Validator<Text<MAX>> for WithinMax {
    fn check(&self, value: &Text<MAX>) -> bool {
        value.0.chars().nth(MAX).is_none()
    }
}

impl<T, const MAX: usize> Validator<List<T, MAX>> for WithinMax {
    fn check(&self, value: &List<T, MAX>) -> bool {
        value.0.len() <= MAX
    }
}

#[cfg(test)]
mod text_tests {
    use super::*;

    #[test]
    fn text_accepts_only_json_strings() {
        assert_eq!(
            Text::<4>::parse_from_json(Some(Value::String("a".into()))).unwrap(),
            Text("a".into())
        );
        assert!(Text::<4>::parse_from_json(Some(serde_json::json!(42))).is_err());
        assert!(Text::<4>::parse_from_json(Some(serde_json::json!(true))).is_err());
        assert!(Text::<4>::parse_from_json(None).is_err());
    }

    #[test]
    fn text_counts_characters_not_bytes_against_its_maximum() {
        assert!(WithinMax.check(&Text::<4>("优质分享".into())));
        assert!(!WithinMax.check(&Text::<4>("优质分享!".into())));
    }

    #[test]
    fn a_list_longer_than_its_maximum_is_refused() {
        let three = List::<i64, 3>::parse_from_json(Some(serde_json::json!([1, 2, 3]))).unwrap();
        assert_eq!(three.0, [1, 2, 3]);
        assert!(WithinMax.check(&three));
        assert!(!WithinMax.check(&List::<i64, 2>(vec![1, 2, 3])));
        assert!(List::<i64, 2>::parse_from_json(Some(serde_json::json!([1, "x"]))).is_err());
    }
}
