//! TLS for the REST pool and the CometD transports (`https`, `wss`): rustls client configurations built once per process
//! and shared by every agent (a root store per agent would cost far more than the 64 KiB an idle
//! agent may use), one verifying against the webpki roots and one accepting any certificate for
//! test deployments with self-signed certificates.

use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::NetError;

type Shared = Result<Arc<ClientConfig>, String>;

static VERIFYING: OnceLock<Shared> = OnceLock::new();
static ACCEPT_ANY: OnceLock<Shared> = OnceLock::new();

/// The shared client configuration; `accept_invalid_certs` skips certificate verification.
pub(crate) fn client_config(accept_invalid_certs: bool) -> Result<Arc<ClientConfig>, NetError> {
    let cell = if accept_invalid_certs { &ACCEPT_ANY } else { &VERIFYING };
    cell.get_or_init(|| build(accept_invalid_certs).map(Arc::new))
        .clone()
        .map_err(|e| NetError::Config(format!("tls: {e}")))
}

fn build(accept_invalid_certs: bool) -> Result<ClientConfig, String> {
    // The provider is named explicitly: rustls' implicit process default panics when it cannot
    // pick one, and this crate must not panic on configuration.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let config = if accept_invalid_certs {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCert {
                algorithms: provider.signature_verification_algorithms,
            }))
            .with_no_client_auth()
    } else {
        let roots = RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    Ok(config)
}

/// Accepts any server certificate but still checks handshake signatures, like reqwest's
/// `danger_accept_invalid_certs`.
#[derive(Debug)]
struct AcceptAnyCert {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_configurations_build_once_and_are_shared() {
        let verifying = client_config(false).expect("verifying config");
        let again = client_config(false).expect("verifying config");
        assert!(Arc::ptr_eq(&verifying, &again), "one config per process");
        let insecure = client_config(true).expect("insecure config");
        assert!(!Arc::ptr_eq(&verifying, &insecure));
    }
}
