//! A TLS acceptor with a self-signed certificate for 127.0.0.1, for tests of the clients over
//! https and wss (the REST pool's and the CometD transports').

use std::sync::Arc;

use base64::Engine as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A self-signed certificate for 127.0.0.1 and localhost (P-256, valid for a century), made with
/// `openssl req -x509 -newkey ec ...`; test-only.
const TEST_CERT_DER_B64: &str = "MIIBmzCCAUGgAwIBAgIUfh7GXpaetK2K4so7Bt/p2XGMXE4wCgYIKoZIzj0EAwIwFDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTEyMTEyMjQ0OFoYDzIxMjYxMDI4MTIyNDQ4WjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAARjCUD5c1TcirY8h1NJ/DX8wfRNP5lCoJNezaCnS9o8AGtRXsxKxeMpDYMRBZBheNojMedb9z8Cm/G828Qj/iQFo28wbTAdBgNVHQ4EFgQUE4c9t+AV4++ptI7Jxt2BF053decwHwYDVR0jBBgwFoAUE4c9t+AV4++ptI7Jxt2BF053decwDwYDVR0TAQH/BAUwAwEB/zAaBgNVHREEEzARhwR/AAABgglsb2NhbGhvc3QwCgYIKoZIzj0EAwIDSAAwRQIgH3lFiN3a+j4zmNCEJGaXEKX96lM9ubmCpJXgoTg8HpYCIQCTjeyG5DYUpkh3INe3kwWIBjSTGjbSMgNQZhrtbtEF8g==";
const TEST_KEY_PKCS8_B64: &str = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgqnTP9NOqsCAgIUAu77a6uI79TEVQYndJbrSsz2RB09ChRANCAARjCUD5c1TcirY8h1NJ/DX8wfRNP5lCoJNezaCnS9o8AGtRXsxKxeMpDYMRBZBheNojMedb9z8Cm/G828Qj/iQF";

/// An acceptor serving the certificate above.
pub(crate) fn acceptor() -> tokio_rustls::TlsAcceptor {
    let b64 = base64::engine::general_purpose::STANDARD;
    let cert = CertificateDer::from(b64.decode(TEST_CERT_DER_B64).expect("cert base64"));
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        b64.decode(TEST_KEY_PKCS8_B64).expect("key base64"),
    ));
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .with_no_client_auth()
    .with_single_cert(vec![cert], key)
    .expect("server config");
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}
