//! Static assets are served by name from the embedded list only: no request path, however
//! encoded, reaches a file on disk. No answer allows another origin (CORS is closed): a page
//! elsewhere cannot read the API or the dashboard from a user's browser.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn serve() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let router: axum::Router = fluoro_ui::dashboard_router();
    tokio::spawn(async move { axum::serve(listener, router).await });
    address
}

/// One raw HTTP/1.1 request, sent byte for byte (an HTTP client would normalise `..`).
async fn raw_request(address: std::net::SocketAddr, head: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn traversal_paths_never_reach_a_file() {
    let address = serve().await;
    let paths = [
        "/assets/../Cargo.toml",
        "/assets/../../Cargo.toml",
        "/assets/..%2f..%2fCargo.toml",
        "/assets/%2e%2e/%2e%2e/Cargo.toml",
        "/assets/vendor/../../src/lib.rs",
        "/assets//etc/passwd",
        "/assets/..\\..\\Cargo.toml",
    ];
    for path in paths {
        let head = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
        let answer = raw_request(address, &head).await;
        let status = answer.split(' ').nth(1).unwrap_or_default();
        assert!(status == "404" || status == "400", "{path}: {answer}");
        assert!(!answer.contains("[package]") && !answer.contains("root:"), "{path} leaked a file: {answer}");
    }
}

#[tokio::test]
async fn no_answer_allows_another_origin() {
    let address = serve().await;
    let preflight = format!(
        "OPTIONS /assets/app.js HTTP/1.1\r\nHost: {address}\r\nOrigin: https://evil.example\r\n\
         Access-Control-Request-Method: GET\r\nConnection: close\r\n\r\n"
    );
    let get = format!("GET / HTTP/1.1\r\nHost: {address}\r\nOrigin: https://evil.example\r\nConnection: close\r\n\r\n");
    for head in [preflight, get] {
        let answer = raw_request(address, &head).await.to_ascii_lowercase();
        assert!(!answer.contains("access-control-allow-origin"), "{answer}");
    }
}
