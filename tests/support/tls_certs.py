"""Certificates for the https:// tests, made with Debian's python3-cryptography.

usage: tls_certs.py DIR  -- writes into DIR:
  ca.pem                       the test's certificate authority (what SSL_CERT_FILE points at)
  good.pem, good.key           for 127.0.0.1 and localhost, signed by the CA, valid now
  expired.pem, expired.key     for 127.0.0.1, signed by the CA, expired a year ago
  wrong_name.pem, wrong_name.key  for tracker.example only, signed by the CA
  unknown_ca.pem, unknown_ca.key  for 127.0.0.1, signed by another CA nobody trusts
"""
import datetime
import ipaddress
import os
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

NOW = datetime.datetime.now(datetime.timezone.utc)
DAY = datetime.timedelta(days=1)


def name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def authority(cn):
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name(cn))
        .issuer_name(name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - 10 * DAY)
        .not_valid_after(NOW + 3650 * DAY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return key, cert


def leaf(ca_key, ca_cert, sans, before, after):
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name("p2p test server"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(before)
        .not_valid_after(after)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def write(directory, stem, key, cert):
    with open(os.path.join(directory, stem + ".pem"), "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    if key is not None:
        with open(os.path.join(directory, stem + ".key"), "wb") as f:
            f.write(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )


def main():
    directory = sys.argv[1]
    ca_key, ca = authority("p2p test CA")
    other_key, other = authority("some other CA")
    local = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
    write(directory, "ca", None, ca)
    write(directory, "good", *leaf(ca_key, ca, local, NOW - DAY, NOW + 30 * DAY))
    write(directory, "expired", *leaf(ca_key, ca, local, NOW - 400 * DAY, NOW - 365 * DAY))
    write(
        directory,
        "wrong_name",
        *leaf(ca_key, ca, [x509.DNSName("tracker.example")], NOW - DAY, NOW + 30 * DAY),
    )
    write(directory, "unknown_ca", *leaf(other_key, other, local, NOW - DAY, NOW + 30 * DAY))


if __name__ == "__main__":
    main()
