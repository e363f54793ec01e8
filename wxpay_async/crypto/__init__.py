"""The cryptography WeChat Pay APIv3 needs, with names users and tests rely on."""

from ._aead import aead_decrypt, aead_encrypt
from ._keys import PEMSource, certificate_serial, load_certificate, load_private_key, load_public_key
from ._rsa import oaep_decrypt, oaep_encrypt, rsa_sign, rsa_verify
from ._schemes import BRAND_AUTH_SCHEMA, BRAND_SCHEME, MERCHANT_SCHEME, AuthScheme, parse_any_authorization
from ._signing import (
    AUTH_SCHEMA,
    authorization_header,
    make_nonce,
    parse_authorization,
    request_message,
    response_message,
)
from ._verifier import (
    MAX_SKEW_SECONDS,
    PUBLIC_KEY_ID_PREFIX,
    SIGNATURE_HEADERS,
    SIGNTEST_PREFIX,
    SignatureHeaders,
    Verifier,
    missing_signature_headers,
    validate_signed_message,
)

__all__ = [
    "AUTH_SCHEMA",
    "BRAND_AUTH_SCHEMA",
    "BRAND_SCHEME",
    "MAX_SKEW_SECONDS",
    "MERCHANT_SCHEME",
    "PUBLIC_KEY_ID_PREFIX",
    "SIGNATURE_HEADERS",
    "SIGNTEST_PREFIX",
    "AuthScheme",
    "PEMSource",
    "SignatureHeaders",
    "Verifier",
    "aead_decrypt",
    "aead_encrypt",
    "authorization_header",
    "certificate_serial",
    "load_certificate",
    "load_private_key",
    "load_public_key",
    "make_nonce",
    "missing_signature_headers",
    "oaep_decrypt",
    "oaep_encrypt",
    "parse_any_authorization",
    "parse_authorization",
    "request_message",
    "response_message",
    "rsa_sign",
    "rsa_verify",
    "validate_signed_message",
]
