//! The dashboard's pages and assets, served over real HTTP: every answer (a missing asset
//! included) carries the strict Content-Security-Policy and `nosniff`, scripts are typed as
//! JavaScript (a module with another type would not run under `nosniff`), and every page path
//! answers the same shell.

use axum::Router;

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

async fn serve() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let router: Router = fluoro_ui::dashboard_router();
    tokio::spawn(async move { axum::serve(listener, router).await });
    address
}

#[tokio::test]
async fn every_dashboard_answer_carries_the_policy() {
    let address = serve().await;
    assert_eq!(fluoro_ui::CONTENT_SECURITY_POLICY_VALUE, CSP);
    let cases = [
        ("/", 200, "text/html; charset=utf-8"),
        ("/traces", 200, "text/html; charset=utf-8"),
        ("/traces/1-5759e988-bd862e3fe1be46a994272793", 200, "text/html; charset=utf-8"),
        ("/analytics", 200, "text/html; charset=utf-8"),
        ("/groups", 200, "text/html; charset=utf-8"),
        ("/sampling", 200, "text/html; charset=utf-8"),
        ("/assets/app.js", 200, "text/javascript; charset=utf-8"),
        ("/assets/vendor/dagre.esm.js", 200, "text/javascript; charset=utf-8"),
        ("/assets/dashboard.css", 200, "text/css; charset=utf-8"),
        ("/assets/no-such-file.js", 404, "text/plain; charset=utf-8"),
    ];
    let mut shell = None;
    for (path, status, content_type) in cases {
        let response = reqwest::get(format!("http://{address}{path}")).await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{path}");
        let headers = response.headers().clone();
        assert_eq!(headers["content-security-policy"], CSP, "{path}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["content-type"], content_type, "{path}");
        let body = response.text().await.unwrap();
        if content_type.starts_with("text/html") {
            // The shell loads its code as files only: nothing inline for the policy to refuse.
            assert!(body.contains(r#"<script type="module" src="/assets/app.js"></script>"#), "{path}");
            assert!(!body.contains("<style") && !body.contains("style=") && !body.contains("onclick"), "{path}");
            assert_eq!(shell.get_or_insert_with(|| body.clone()), &body, "{path} answers the same shell");
        }
    }
}

#[tokio::test]
async fn no_script_builds_markup_from_strings() {
    // The rule of dom.js, checked over every served module: no innerHTML, outerHTML,
    // insertAdjacentHTML or document.write anywhere.
    let assets = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
    for entry in std::fs::read_dir(&assets).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|extension| extension == "js") {
            let text = std::fs::read_to_string(&path).unwrap();
            for sink in ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write"] {
                assert!(!text.contains(sink), "{} uses {sink}", path.display());
            }
        }
    }
}
