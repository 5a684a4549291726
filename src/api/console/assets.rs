//! The console's static files, embedded in the binary and served under a name carrying a
//! hash of their content, so that they can be cached for a year and a new build is fetched
//! at once.

use std::sync::LazyLock;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use poem::{
    Request, Response, handler,
    http::{StatusCode, header},
    web::Path,
};
use sha2::{Digest, Sha256};

struct Asset {
    stem: &'static str,
    ext: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

const FILES: [Asset; 3] = [
    Asset {
        stem: "htmx",
        ext: "js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../../assets/console/htmx-2.0.11.min.js"),
    },
    Asset {
        stem: "console",
        ext: "js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../../assets/console/console.js"),
    },
    Asset {
        stem: "console",
        ext: "css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../../../assets/console/console.css"),
    },
];

/// The hashed URLs the layout links.
pub struct Urls {
    pub htmx: String,
    pub js: String,
    pub css: String,
}

struct Served {
    name: String,
    asset: &'static Asset,
    gzipped: Vec<u8>,
}

static SERVED: LazyLock<Vec<Served>> = LazyLock::new(|| {
    FILES
        .iter()
        .map(|asset| {
            let digest = Sha256::digest(asset.bytes);
            let hash = URL_SAFE_NO_PAD.encode(&digest[..9]);
            let gzipped = super::web::gzip(asset.bytes);
            Served {
                name: format!("{}.{hash}.{}", asset.stem, asset.ext),
                asset,
                gzipped,
            }
        })
        .collect()
});

static URLS: LazyLock<Urls> = LazyLock::new(|| {
    let url = |i: usize| format!("/admin/assets/{}", SERVED[i].name);
    Urls {
        htmx: url(0),
        js: url(1),
        css: url(2),
    }
});

pub fn urls() -> &'static Urls {
    &URLS
}

#[handler]
pub fn serve(req: &Request, Path(name): Path<String>) -> Response {
    let Some(file) = SERVED.iter().find(|s| s.name == name) else {
        return Response::builder()
            .status(StatusCode::NOT_FOUND)
            .content_type("text/plain")
            .body("not found");
    };
    let resp = Response::builder()
        .content_type(file.asset.content_type)
        .header(header::CACHE_CONTROL, "public, max-age=31536000, immutable")
        .header(header::VARY, "Accept-Encoding");
    if super::web::accepts_gzip(req) {
        resp.header(header::CONTENT_ENCODING, "gzip")
            .body(file.gzipped.clone())
    } else {
        resp.body(file.asset.bytes)
    }
}
