//! TLS for `https://` trackers and web seeds: rustls (ring provider) driven over our async
//! TCP stream, certificates checked against the system's CA store as OpenSSL finds it
//! (`SSL_CERT_FILE`, `SSL_CERT_DIR`, else Debian's, Fedora's and the BSDs' usual places).
//! Certificate and host-name verification are always on; SNI is sent for host names.

use async_std::io::{ReadExt, WriteExt};
use async_std::net::TcpStream;
use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// The CA bundles looked for when `SSL_CERT_FILE` is not set, first found wins.
const DEFAULT_FILES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];
/// The certificate directory used when `SSL_CERT_DIR` is not set.
const DEFAULT_DIR: &str = "/etc/ssl/certs";
/// A CA file read past this size is not a CA file.
const MAX_CA_FILE: u64 = 16 << 20;
/// Entries of a certificate directory looked at.
const MAX_DIR_ENTRIES: usize = 8192;

/// A TLS session over TCP: what is read comes out decrypted, what is written goes in encrypted.
pub struct TlsStream {
    tcp: TcpStream,
    tls: rustls::ClientConnection,
    /// Ciphertext read from the socket and not yet given to rustls, from `at`.
    incoming: Vec<u8>,
    at: usize,
    /// The socket reached its end.
    closed: bool,
}

impl TlsStream {
    /// The handshake with `host` (a name or an address, as in the URL) over `tcp`. The error
    /// says why a certificate was refused.
    pub async fn connect(tcp: TcpStream, host: &str) -> io::Result<TlsStream> {
        let config = config()?;
        let name = ServerName::try_from(host.to_string())
            .map_err(|_| invalid(format!("`{host}` is not a host name TLS can check")))?;
        let tls =
            rustls::ClientConnection::new(config, name).map_err(|e| invalid(describe(&e, host)))?;
        let mut s = TlsStream {
            tcp,
            tls,
            incoming: Vec::new(),
            at: 0,
            closed: false,
        };
        s.flush().await?;
        while s.tls.is_handshaking() {
            if s.closed {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the server closed the connection during the TLS handshake",
                ));
            }
            s.pull(host).await?;
        }
        Ok(s)
    }

    /// Sends whatever rustls has to send (handshake, records, alerts).
    async fn flush(&mut self) -> io::Result<()> {
        while self.tls.wants_write() {
            let mut out = Vec::new();
            self.tls.write_tls(&mut out)?;
            self.tcp.write_all(&out).await?;
        }
        Ok(())
    }

    /// Gives rustls the ciphertext it can take, reading the socket when none is buffered.
    async fn pull(&mut self, host: &str) -> io::Result<()> {
        if self.at == self.incoming.len() {
            self.incoming.resize(16 * 1024, 0);
            let n = self.tcp.read(&mut self.incoming).await?;
            self.incoming.truncate(n);
            self.at = 0;
            if n == 0 {
                self.closed = true;
                // An empty read tells rustls the stream ended.
                self.tls.read_tls(&mut &[][..])?;
            }
        }
        while self.at < self.incoming.len() && self.tls.wants_read() {
            let n = self.tls.read_tls(&mut &self.incoming[self.at..])?;
            self.at += n;
            if let Err(e) = self.tls.process_new_packets() {
                // Its alert goes out before the error does, as a server expects.
                let _ = self.flush().await;
                return Err(invalid(describe(&e, host)));
            }
        }
        if self.closed {
            self.tls
                .process_new_packets()
                .map_err(|e| invalid(describe(&e, host)))?;
        }
        self.flush().await
    }

    /// Decrypted bytes into `buf`; 0 at the end of the stream. A server that closes without
    /// `close_notify` (many do) ends the stream too: the HTTP framing decides whether what came
    /// was whole, as browsers and curl do.
    pub async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.tls.reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if self.closed && self.at == self.incoming.len() {
                        return Ok(0);
                    }
                    self.pull("").await?;
                }
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
        }
    }

    pub async fn write_all(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let n = self.tls.writer().write(data)?;
            data = &data[n..];
            self.flush().await?;
        }
        Ok(())
    }

    pub fn tcp(&self) -> &TcpStream {
        &self.tcp
    }
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

/// A rustls error as a user reads it: why the certificate was refused, in words.
fn describe(e: &rustls::Error, host: &str) -> String {
    use rustls::CertificateError as C;
    match e {
        rustls::Error::InvalidCertificate(c) => match c {
            C::UnknownIssuer => "TLS: the server's certificate is not signed by a known \
                 authority (none in the system's CA store, SSL_CERT_FILE or SSL_CERT_DIR)"
                .into(),
            C::Expired | C::ExpiredContext { .. } => {
                format!("TLS: the server's certificate has expired ({c})")
            }
            C::NotValidYet | C::NotValidYetContext { .. } => {
                format!("TLS: the server's certificate is not valid yet ({c})")
            }
            C::NotValidForName | C::NotValidForNameContext { .. } => {
                format!("TLS: the server's certificate is not valid for {host} ({c})")
            }
            other => format!("TLS: the server's certificate was refused: {other}"),
        },
        other => format!("TLS: {other}"),
    }
}

/// The client configuration, built once: the CA store is read at the first https:// request.
fn config() -> io::Result<Arc<rustls::ClientConfig>> {
    static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let roots = system_roots()?;
            // ring, not aws-lc-rs: it builds into the static binary with a C compiler alone
            // (aws-lc-rs needs cmake and a larger C build). rustls 0.23.48 marks it for
            // lacking post-quantum key exchange, which guards secrets meant to outlive
            // decades; an announce or a public file's bytes are not those.
            #[allow(deprecated)]
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .with_root_certificates(roots)
                .with_no_client_auth();
            Ok(Arc::new(config))
        })
        .clone()
        .map_err(io::Error::other)
}

/// The trusted authorities: `SSL_CERT_FILE` (or the first system bundle found) and every
/// certificate in `SSL_CERT_DIR` (a `:`-separated list, or /etc/ssl/certs), as OpenSSL reads
/// them. An error when none is found, naming where we looked.
fn system_roots() -> Result<rustls::RootCertStore, String> {
    let file = std::env::var_os("SSL_CERT_FILE")
        .map(PathBuf::from)
        .or_else(|| {
            DEFAULT_FILES
                .iter()
                .map(PathBuf::from)
                .find(|p| p.is_file())
        });
    let dirs: Vec<PathBuf> = match std::env::var_os("SSL_CERT_DIR") {
        Some(v) => std::env::split_paths(&v).collect(),
        None => vec![PathBuf::from(DEFAULT_DIR)],
    };
    let mut roots = rustls::RootCertStore::empty();
    let mut looked = Vec::new();
    if let Some(file) = &file {
        looked.push(file.display().to_string());
        add_pem(&mut roots, file);
    }
    for dir in &dirs {
        looked.push(dir.display().to_string());
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for entry in entries.flatten().take(MAX_DIR_ENTRIES) {
            add_pem(&mut roots, &entry.path());
        }
    }
    if roots.is_empty() {
        return Err(format!(
            "no CA certificate found for https:// (looked in {}; set SSL_CERT_FILE or \
             SSL_CERT_DIR)",
            looked.join(", ")
        ));
    }
    Ok(roots)
}

/// Adds the certificates of one PEM file (a bundle or one certificate); a file that is not
/// one adds nothing.
fn add_pem(roots: &mut rustls::RootCertStore, path: &Path) {
    let Ok(file) = std::fs::File::open(path) else {
        return;
    };
    if !file.metadata().is_ok_and(|m| m.is_file()) {
        return;
    }
    let mut text = Vec::new();
    if file.take(MAX_CA_FILE).read_to_end(&mut text).is_err() {
        return;
    }
    let certs = CertificateDer::pem_slice_iter(&text).filter_map(Result::ok);
    let (_, ignored) = roots.add_parsable_certificates(certs);
    if ignored > 0 {
        log::debug!("{}: {ignored} certificates not usable", path.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_read_as_reasons() {
        let unknown = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        assert!(describe(&unknown, "h").contains("not signed by a known authority"));
        let name = rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName);
        assert!(describe(&name, "tracker.example").contains("not valid for tracker.example"));
        let expired = rustls::Error::InvalidCertificate(rustls::CertificateError::Expired);
        assert!(describe(&expired, "h").contains("has expired"));
    }

    #[test]
    fn a_pem_bundle_is_read_and_junk_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "-----BEGIN CERTIFICATE-----\nnot base64 at all\n").unwrap();
        let mut roots = rustls::RootCertStore::empty();
        add_pem(&mut roots, &junk);
        add_pem(&mut roots, dir.path());
        add_pem(&mut roots, &dir.path().join("missing"));
        assert!(roots.is_empty());
    }
}
