//! Wire types shared by the API modules.

use std::borrow::Cow;

use chrono::{DateTime, SecondsFormat, Utc};
use poem_openapi::{
    registry::{MetaSchema, MetaSchemaRef},
    types::{ParseError, ParseFromJSON, ParseFromParameter, ParseResult, ToJSON, Type},
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

/// A request string that must be a JSON string. (poem-openapi's `String` also accepts
/// numbers and booleans, turning `{"title": 42}` into "42"; request bodies are strict.)
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Text(pub String);

impl From<Text> for String {
    fn from(value: Text) -> Self {
        value.0
    }
}

impl Type for Text {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "string".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema::new("string")))
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

impl ParseFromJSON for Text {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value.unwrap_or_default() {
            Value::String(s) => Ok(Self(s)),
            other => Err(ParseError::expected_type(other)),
        }
    }
}

impl ToJSON for Text {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.0.clone()))
    }
}

#[cfg(test)]
mod text_tests {
    use super::*;

    #[test]
    fn text_accepts_only_json_strings() {
        assert_eq!(
            Text::parse_from_json(Some(Value::String("a".into()))).unwrap(),
            Text("a".into())
        );
        assert!(Text::parse_from_json(Some(serde_json::json!(42))).is_err());
        assert!(Text::parse_from_json(Some(serde_json::json!(true))).is_err());
        assert!(Text::parse_from_json(None).is_err());
    }
}
