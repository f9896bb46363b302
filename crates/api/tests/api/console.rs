//! The web console's files: served at `/console` with a strict Content-Security-Policy,
//! revalidated by `ETag`, open without a key (the page signs in itself), and gone with
//! `console: false`.

use reqwest::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, IF_NONE_MATCH, REFERRER_POLICY,
};
use reqwest::{Method, StatusCode};

use crate::helpers::TestApp;

#[tokio::test]
async fn the_page_and_its_assets_are_served_with_a_strict_policy() {
    let mut app = TestApp::builder().require_keys().spawn().await;
    // The page loads before anyone signs in: no key is needed, and none is sent.
    app.use_key(None);
    for path in ["/console", "/console/"] {
        let page = app.request(Method::GET, path).await;
        assert_eq!(page.status(), StatusCode::OK, "{path}");
        assert_eq!(page.headers()[CONTENT_TYPE], "text/html; charset=utf-8");
        let policy = page.headers()[CONTENT_SECURITY_POLICY]
            .to_str()
            .expect("text");
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "connect-src 'self'",
            "frame-ancestors 'none'",
        ] {
            assert!(policy.contains(directive), "{policy}");
        }
        assert!(!policy.contains("unsafe"), "{policy}");
        assert_eq!(page.headers()[REFERRER_POLICY], "no-referrer");
        assert_eq!(page.headers()[CACHE_CONTROL], "no-cache");
        let html = page.text().await.expect("the page");
        assert!(html.contains("/console/assets/"), "{html}");
        assert!(!html.contains("<script>"), "no inline script: {html}");
    }

    let client = app.request(Method::GET, "/console/assets/herald.js").await;
    assert_eq!(client.status(), StatusCode::OK);
    assert_eq!(
        client.headers()[CONTENT_TYPE],
        "text/javascript; charset=utf-8"
    );
    assert!(client.headers().contains_key(CONTENT_SECURITY_POLICY));
    let tag = client.headers()[ETAG].clone();
    assert!(
        client
            .text()
            .await
            .expect("the client")
            .contains("class Herald")
    );

    // Revalidation: the same tag answers 304 without a body.
    let again = app
        .client
        .get(app.url("/console/assets/herald.js"))
        .header(IF_NONE_MATCH, tag.clone())
        .send()
        .await
        .expect("GET");
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(again.headers()[ETAG], tag);
    assert!(again.bytes().await.expect("body").is_empty());

    let missing = app.request(Method::GET, "/console/assets/nope.js").await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(missing.headers()[CONTENT_TYPE], "application/problem+json");
    let post = app.request(Method::POST, "/console").await;
    assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn the_console_can_be_turned_off() {
    let app = TestApp::builder()
        .configure(|config| config.console = false)
        .spawn()
        .await;
    for path in ["/console", "/console/assets/herald.js"] {
        assert_eq!(
            app.request(Method::GET, path).await.status(),
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    // The API itself is untouched.
    assert_eq!(
        app.request(Method::GET, "/healthz").await.status(),
        StatusCode::OK
    );
}
