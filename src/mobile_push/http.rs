//! The HTTP/2 client each provider uses: rustls (ring), HTTP/2 only (APNs speaks nothing
//! else; every request multiplexes over a few reused connections), an optional extra root
//! certificate (a local fake, a TLS-inspecting proxy).

use std::time::Duration;

pub fn client(ca_cert_path: Option<&str>, timeout: Duration) -> anyhow::Result<reqwest::Client> {
    crate::wechat::client::install_crypto_provider();
    let mut builder = reqwest::Client::builder()
        .http2_prior_knowledge()
        .http2_keep_alive_interval(Duration::from_secs(30))
        .http2_keep_alive_while_idle(true)
        .connect_timeout(Duration::from_secs(10).min(timeout))
        .timeout(timeout)
        .pool_idle_timeout(Duration::from_secs(300))
        .tcp_nodelay(true)
        .user_agent(concat!("qshare/", env!("CARGO_PKG_VERSION")));
    if let Some(path) = ca_cert_path.filter(|p| !p.is_empty()) {
        let pem = std::fs::read(path)
            .map_err(|e| anyhow::anyhow!("cannot read ca_cert_path {path}: {e}"))?;
        let cert = reqwest::Certificate::from_pem(&pem)
            .map_err(|e| anyhow::anyhow!("ca_cert_path {path} is not a PEM certificate: {e}"))?;
        builder = builder.add_root_certificate(cert);
    }
    Ok(builder.build()?)
}
