//! `JsonBytes<T>`: a JSON body already serialized (e.g. from the read cache), documented in
//! OpenAPI exactly like `Json<T>`.

use std::marker::PhantomData;

use bytes::Bytes;
use poem::{IntoResponse, Response};
use poem_openapi::{
    ApiResponse,
    payload::Json,
    registry::{MetaResponses, Registry},
    types::ToJSON,
};

pub struct JsonBytes<T> {
    bytes: Bytes,
    _schema: PhantomData<fn() -> T>,
}

impl<T: ToJSON> JsonBytes<T> {
    pub fn from_bytes(bytes: Bytes) -> Self {
        Self {
            bytes,
            _schema: PhantomData,
        }
    }

    /// Serializes `value` the way `Json<T>` would.
    pub fn encode(value: &T) -> Bytes {
        let json = value.to_json().unwrap_or(serde_json::Value::Null);
        Bytes::from(serde_json::to_vec(&json).unwrap_or_default())
    }
}

impl<T: ToJSON> IntoResponse for JsonBytes<T> {
    fn into_response(self) -> Response {
        Response::builder()
            .content_type("application/json; charset=utf-8")
            .body(self.bytes)
    }
}

impl<T: ToJSON> ApiResponse for JsonBytes<T> {
    fn meta() -> MetaResponses {
        <Json<T> as ApiResponse>::meta()
    }

    fn register(registry: &mut Registry) {
        <Json<T> as ApiResponse>::register(registry);
    }
}
