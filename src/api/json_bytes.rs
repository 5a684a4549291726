//! `JsonBytes<T>`: a JSON body already serialized (e.g. from the read cache), documented in
//! OpenAPI exactly like `Json<T>`.

use std::{marker::PhantomData, sync::Arc};

use bytes::Bytes;
use poem::{IntoResponse, Response};
use poem_openapi::{
    ApiResponse,
    payload::Json,
    registry::{MetaResponses, Registry},
    types::ToJSON,
};

use crate::edge::PreparedBody;

enum Body {
    Raw(Bytes),
    /// From the read cache: its tag and compressed forms are reused (`api::edge`).
    Prepared(Arc<PreparedBody>),
}

pub struct JsonBytes<T> {
    body: Body,
    _schema: PhantomData<fn() -> T>,
}

impl<T: ToJSON> JsonBytes<T> {
    pub fn from_bytes(bytes: Bytes) -> Self {
        Self {
            body: Body::Raw(bytes),
            _schema: PhantomData,
        }
    }

    pub fn prepared(body: Arc<PreparedBody>) -> Self {
        Self {
            body: Body::Prepared(body),
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
        match self.body {
            Body::Raw(bytes) => Response::builder()
                .content_type(super::cached_reads::JSON)
                .body(bytes),
            Body::Prepared(body) => super::edge::prepared_response(body, super::cached_reads::JSON),
        }
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
