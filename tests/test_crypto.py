"""Crypto primitives against known answers and real keys."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from wxpay_async.crypto import (
    Verifier,
    aead_decrypt,
    aead_encrypt,
    load_certificate,
    load_private_key,
    load_public_key,
    oaep_decrypt,
    oaep_encrypt,
    request_message,
    rsa_sign,
    rsa_verify,
)
from wxpay_async.devkeys import KeyPair
from wxpay_async.errors import ConfigurationError, DecryptionError

# protocol.md §4: the public vector from wechatpay-java's AeadAesGcmCipherTest.
KAT_KEY = "a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb"
KAT_NONCE = "uluk4a9R25RW"
KAT_AAD = "associatedData"
KAT_CIPHERTEXT = "ulwSiIajGClcvcOYvOQ7+l+0PAbzzwI="


def test_aead_known_answer_encrypt() -> None:
    assert aead_encrypt(KAT_KEY, KAT_NONCE, KAT_AAD, "message") == KAT_CIPHERTEXT


def test_aead_known_answer_decrypt_str_and_bytes() -> None:
    assert aead_decrypt(KAT_KEY, KAT_NONCE, KAT_AAD, KAT_CIPHERTEXT) == b"message"
    assert aead_decrypt(KAT_KEY.encode(), KAT_NONCE.encode(), KAT_AAD.encode(), KAT_CIPHERTEXT.encode()) == b"message"


@pytest.mark.parametrize(
    ("key", "nonce", "aad"),
    [
        ("b" * 32, KAT_NONCE, KAT_AAD),  # wrong key
        (KAT_KEY, KAT_NONCE, "other"),  # wrong associated data
        (KAT_KEY, "uluk4a9R25RX", KAT_AAD),  # wrong nonce
    ],
)
def test_aead_wrong_inputs_raise_decryption_error(key: str, nonce: str, aad: str) -> None:
    with pytest.raises(DecryptionError, match="authentication failed"):
        aead_decrypt(key, nonce, aad, KAT_CIPHERTEXT)


def test_aead_error_never_contains_key() -> None:
    with pytest.raises(DecryptionError) as info:
        aead_decrypt("x" * 31, KAT_NONCE, KAT_AAD, KAT_CIPHERTEXT)
    assert "x" * 31 not in str(info.value)
    assert "31" in str(info.value)


def test_aead_accepts_16_and_24_byte_keys() -> None:
    for size in (16, 24):
        ct = aead_encrypt("k" * size, "n" * 12, "", "hi")
        assert aead_decrypt("k" * size, "n" * 12, "", ct) == b"hi"


def test_aead_garbage_ciphertext() -> None:
    with pytest.raises(DecryptionError, match="base64"):
        aead_decrypt(KAT_KEY, KAT_NONCE, KAT_AAD, "not base64!!")
    with pytest.raises(DecryptionError, match="shorter"):
        aead_decrypt(KAT_KEY, KAT_NONCE, KAT_AAD, base64.b64encode(b"short").decode())


@given(st.binary(max_size=2048), st.text(max_size=40))
@settings(max_examples=50, deadline=None)
def test_aead_round_trip(plaintext: bytes, aad: str) -> None:
    ct = aead_encrypt(KAT_KEY, "0123456789ab", aad, plaintext)
    assert aead_decrypt(KAT_KEY, "0123456789ab", aad, ct) == plaintext


def test_sign_verify_with_certificate_and_public_key(merchant_keys: KeyPair) -> None:
    sig = rsa_sign(merchant_keys.private_key, b"hello")
    assert rsa_verify(merchant_keys.certificate, b"hello", sig)
    assert rsa_verify(merchant_keys.public_key, b"hello", sig)
    assert not rsa_verify(merchant_keys.public_key, b"hellO", sig)
    assert not rsa_verify(merchant_keys.public_key, b"hello", "@@not-base64@@")
    assert not rsa_verify(merchant_keys.public_key, b"hello", base64.b64encode(b"short").decode())


def test_signature_is_deterministic_pkcs1v15(merchant_keys: KeyPair) -> None:
    # PKCS#1 v1.5 is deterministic: the same message gives the same signature (PSS would not).
    assert rsa_sign(merchant_keys.private_key, b"m") == rsa_sign(merchant_keys.private_key, b"m")


@given(
    body=st.text(max_size=300),
    query=st.dictionaries(st.text(min_size=1, max_size=10), st.text(max_size=20), max_size=4),
)
@settings(max_examples=30, deadline=None)
def test_request_message_sign_round_trip_non_ascii(merchant_keys: KeyPair, body: str, query: dict[str, str]) -> None:
    from wxpay_async._request import encode_query

    target = "/v3/marketing/favor/users/o%E4%B8%AD/coupons" + encode_query(query)
    message = request_message("POST", target, "1700000000", "n" * 32, body.encode())
    assert message.endswith(body.encode() + b"\n")
    assert target.isascii()
    sig = rsa_sign(merchant_keys.private_key, message)
    assert rsa_verify(merchant_keys.certificate, message, sig)


def test_oaep_round_trip(merchant_keys: KeyPair) -> None:
    ct = oaep_encrypt(merchant_keys.certificate, "张三")
    assert ct != oaep_encrypt(merchant_keys.certificate, "张三")  # randomised padding
    assert oaep_decrypt(merchant_keys.private_key, ct) == "张三"
    with pytest.raises(DecryptionError):
        oaep_decrypt(merchant_keys.private_key, base64.b64encode(b"x" * 256).decode())


def test_load_keys_from_str_bytes_and_path(tmp_path: Path, merchant_keys: KeyPair) -> None:
    pem = merchant_keys.private_pem()
    (tmp_path / "k.pem").write_bytes(pem)
    for src in (pem, pem.decode(), tmp_path / "k.pem"):
        assert load_private_key(src).key_size == 2048
    (tmp_path / "c.pem").write_bytes(merchant_keys.certificate_pem())
    assert load_certificate(tmp_path / "c.pem").serial_number == merchant_keys.certificate.serial_number
    assert load_public_key(merchant_keys.public_pem()).public_numbers() == merchant_keys.public_key.public_numbers()
    # A certificate is accepted where a public key is expected.
    assert load_public_key(merchant_keys.certificate_pem()).key_size == 2048


def test_load_errors_are_clear(tmp_path: Path, merchant_keys: KeyPair) -> None:
    with pytest.raises(ConfigurationError, match=r"pathlib\.Path"):
        load_private_key("apiclient_key.pem")
    with pytest.raises(ConfigurationError, match="cannot read"):
        load_private_key(tmp_path / "missing.pem")
    with pytest.raises(ConfigurationError, match="not int"):
        load_private_key(42)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="could not be parsed"):
        load_private_key(b"-----BEGIN PRIVATE KEY-----\ngarbage\n-----END PRIVATE KEY-----\n")
    encrypted = merchant_keys.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"pw")
    )
    with pytest.raises(ConfigurationError, match="password"):
        load_private_key(encrypted)
    assert load_private_key(encrypted, password=b"pw").key_size == 2048
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(ConfigurationError, match="RSA-1024"):
        load_private_key(small)
    ec_key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(ConfigurationError, match="must be RSA"):
        load_private_key(ec_key)


def test_verifier_picks_key_by_serial(
    merchant_keys: KeyPair, platform_keys: KeyPair, public_key_pair: KeyPair, public_key_id: str
) -> None:
    verifier = Verifier([platform_keys.certificate], public_key=public_key_pair.public_key, public_key_id=public_key_id)
    msg = b"1700000000\nnonce\n{}\n"
    by_cert = rsa_sign(platform_keys.private_key, msg)
    by_pub = rsa_sign(public_key_pair.private_key, msg)
    assert verifier.verify(platform_keys.serial, msg, by_cert)
    assert verifier.verify(public_key_id, msg, by_pub)
    assert not verifier.verify(public_key_id, msg, by_cert)  # right signature, wrong key
    assert not verifier.verify("UNKNOWN", msg, by_cert)
    assert not verifier.verify(platform_keys.serial, msg, "WECHATPAY/SIGNTEST/" + by_cert)
    assert verifier.knows(platform_keys.serial) and not verifier.knows("UNKNOWN")


def test_verifier_config_errors(public_key_pair: KeyPair) -> None:
    with pytest.raises(ConfigurationError, match="go together"):
        Verifier(public_key=public_key_pair.public_key)
    with pytest.raises(ConfigurationError, match="PUB_KEY_ID_"):
        Verifier(public_key=public_key_pair.public_key, public_key_id="123")
