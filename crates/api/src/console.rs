//! The web console: a single-page app at `/console`, its files compiled into the binary.
//!
//! The page is built on the public API only: its script is the TypeScript client
//! (`clients/typescript`, served as `/console/assets/herald.js`) plus the console's own modules
//! (`crates/api/console`). Nothing here reads the store: the console signs in with an API key
//! like any client, so it can do exactly what the key may do.
//!
//! Every answer carries a strict Content-Security-Policy (scripts, styles and connections of
//! this origin only; no inline code), `Referrer-Policy: no-referrer` (a read-token link must
//! not leak through a referrer) and `X-Frame-Options: DENY`. Files are revalidated on each
//! load (`Cache-Control: no-cache` with a strong `ETag`), so an upgrade shows at once.

use std::collections::HashMap;
use std::sync::LazyLock;

use actix_web::http::header::{self, ContentType, EntityTag, Header as _, IfNoneMatch};
use actix_web::http::{StatusCode, header::HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use include_dir::{Dir, include_dir};
use sha2::{Digest, Sha256};

use crate::http::error::{ApiError, resource};

/// The console's own files: `index.html`, its stylesheet and its modules.
static FILES: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/console");

/// The TypeScript client, compiled to one module (its `dist/` is committed and checked against
/// the sources by the client's tests).
const CLIENT: &str = include_str!("../../../clients/typescript/dist/index.js");

/// What a page of the console may load and connect to.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// One file the console serves.
struct Asset {
    body: &'static [u8],
    content_type: &'static str,
    etag: EntityTag,
}

impl Asset {
    fn new(name: &str, body: &'static [u8]) -> Self {
        let digest = Sha256::digest(body);
        let tag: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
        Self {
            body,
            content_type: content_type(name),
            etag: EntityTag::new_strong(tag),
        }
    }
}

/// The page, and every other file by its name under `/console/assets/`.
static ASSETS: LazyLock<(Asset, HashMap<&'static str, Asset>)> = LazyLock::new(|| {
    let index = FILES
        .get_file("index.html")
        .expect("crates/api/console/index.html is compiled in");
    let mut assets: HashMap<&'static str, Asset> = FILES
        .files()
        .filter_map(|file| {
            let name = file.path().to_str()?;
            (name != "index.html").then(|| (name, Asset::new(name, file.contents())))
        })
        .collect();
    assets.insert("herald.js", Asset::new("herald.js", CLIENT.as_bytes()));
    (Asset::new("index.html", index.contents()), assets)
});

fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, extension)| extension) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

/// Registers `/console`, `/console/` and `/console/assets/{name}`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    for path in ["/console", "/console/"] {
        cfg.service(
            resource(path, "GET, HEAD")
                .route(web::get().to(page))
                .route(web::head().to(page)),
        );
    }
    cfg.service(
        resource("/console/assets/{name}", "GET, HEAD")
            .route(web::get().to(asset))
            .route(web::head().to(asset)),
    );
}

async fn page(req: HttpRequest) -> HttpResponse {
    serve(&req, &ASSETS.0)
}

async fn asset(req: HttpRequest, name: web::Path<String>) -> Result<HttpResponse, ApiError> {
    match ASSETS.1.get(name.as_str()) {
        Some(asset) => Ok(serve(&req, asset)),
        None => Err(ApiError::RouteNotFound {
            method: req.method().to_string(),
            path: req.path().to_owned(),
        }),
    }
}

/// `asset`, or `304 Not Modified` when the client holds it already.
fn serve(req: &HttpRequest, asset: &Asset) -> HttpResponse {
    let fresh = match IfNoneMatch::parse(req) {
        Ok(IfNoneMatch::Any) => true,
        Ok(IfNoneMatch::Items(tags)) => tags.iter().any(|tag| tag.weak_eq(&asset.etag)),
        Err(_) => false,
    };
    let mut answer = HttpResponse::build(if fresh {
        StatusCode::NOT_MODIFIED
    } else {
        StatusCode::OK
    });
    answer
        .insert_header(header::ETag(asset.etag.clone()))
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-cache")))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ))
        .insert_header((
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .insert_header((header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
        .insert_header((
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ));
    if fresh {
        answer.finish()
    } else {
        answer
            .insert_header(ContentType(
                asset.content_type.parse().expect("a valid media type"),
            ))
            .body(asset.body)
    }
}
