"""Compute the brand (品牌直连) known-answer vectors with WeChat Pay's official brand utility.

    python scripts/brand_vectors.py --utility PATH/WXPayBrandUtility.java [--out tests/official/vectors/brand.json]

``PATH`` is the official file of wechatpay-apiv3/wechatpay-skills (wechatpay-product-coupon/
references/1-品牌/代码示例/Java/9-SDK工具类/WXPayBrandUtility.java). Its own methods (key loading,
``createNonce``, ``sign``, ``verify``, ``aesAeadDecrypt``, ``buildAuthorization``) are copied at run
time, unchanged, into a throw-away class with a ``main`` of ours, compiled with ``javac`` and run:
this repository keeps none of the official code, only the values it computed. (The full file also
needs gson, okhttp and Bouncy Castle for parts the vectors do not use.)

Vectors written:
- ``authorization``: the official ``buildAuthorization`` header for requests (its nonce and
  timestamp are its own; the SDK must produce the same header from the same inputs);
- ``notification``: a brand notification (signed with the WeChat Pay public key's private half,
  encrypted with the brand API key by this SDK's test builder) that the official ``verify`` accepted
  and ``aesAeadDecrypt`` decrypted with the brand API key, with the plaintext it produced.
The keys are throw-away test keys made for the vectors (never used with WeChat Pay).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from wxpay_async.testing import build_notification

ROOT = Path(__file__).resolve().parent.parent
SOURCE = (
    "wechatpay-apiv3/wechatpay-skills@15f40d070c503be7f02c3ebeb8dfb6b8274f3291:"
    "wechatpay-product-coupon/references/1-品牌/代码示例/Java/9-SDK工具类/WXPayBrandUtility.java"
)
METHODS = (
    "readKeyStringFromPath",
    "loadPrivateKeyFromString",
    "loadPublicKeyFromString",
    "createNonce",
    "sign",
    "verify",
    "aesAeadDecrypt",
    "buildAuthorization",
)
#: Requests signed by the official code: the brand samples' own literals.
REQUESTS = [
    {
        "method": "POST",
        "uri": "/brand/marketing/product-coupon/users/oh-394z-6CGkNoJrsDLTTUKiAnp4/coupons",
        "body": json.dumps(
            {
                "product_coupon_id": "1000000013",
                "stock_id": "1000000013001",
                "appid": "wx233544546545989",
                "send_request_no": "MCHSEND202003101234",
                "attach": "any attach content",
            },
            ensure_ascii=False,
            separators=(",", ":"),
        ),
        "from": "1-品牌/代码示例/Go/3-商品券发放/SendUserProductCoupon.go (request literals)",
    },
    {
        "method": "GET",
        "uri": "/brand/marketing/product-coupon/product-coupons/1000000013/stocks?page_size=20",
        "body": "",
        "from": "1-品牌/代码示例/Go/2-商品券批次管理/ListStocks.go (path and page_size)",
    },
    {
        "method": "POST",
        "uri": "/brand/marketing/product-coupon/notify-configs",
        "body": json.dumps({"notify_url": "https://www.example.com/notify"}, separators=(",", ":")),
        "from": "1-品牌/代码示例/Go/7-商品券回调通知/SetNotifyConfig.go",
    },
]
MAIN = r"""
    public static void main(String[] args) throws Exception {
        String mode = args[0];
        if (mode.equals("auth")) {
            PrivateKey key = loadPrivateKeyFromString(readKeyStringFromPath(args[1]));
            String body = readKeyStringFromPath(args[6]);
            System.out.print(buildAuthorization(args[2], args[3], key, args[4], args[5], body));
        } else {
            PublicKey pub = loadPublicKeyFromString(readKeyStringFromPath(args[1]));
            String body = readKeyStringFromPath(args[2]);
            String message = String.format("%s\n%s\n%s\n", args[3], args[4], body);
            boolean ok = verify(message, args[5], "SHA256withRSA", pub);
            String plaintext = aesAeadDecrypt(args[6].getBytes(StandardCharsets.UTF_8),
                    args[7].getBytes(StandardCharsets.UTF_8), args[8].getBytes(StandardCharsets.UTF_8),
                    Base64.getDecoder().decode(args[9]));
            System.out.print((ok ? "VERIFIED\n" : "REJECTED\n") + plaintext);
        }
    }
"""
IMPORTS = """import javax.crypto.*;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;
import java.io.*;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.security.*;
import java.security.spec.InvalidKeySpecException;
import java.security.spec.PKCS8EncodedKeySpec;
import java.security.spec.X509EncodedKeySpec;
import java.time.Instant;
import java.util.Base64;
"""


def extract(source: str, name: str) -> str:
    """The official method ``name``, from its signature to its closing brace, verbatim."""
    match = re.search(r"\n    (public|private) static [\w<>\[\] ]+ " + name + r"\(", source)
    if match is None:
        raise SystemExit(f"{name} not found in the utility")
    start = match.start() + 1
    depth, i = 0, source.index("{", start)
    while True:
        if source[i] == "{":
            depth += 1
        elif source[i] == "}":
            depth -= 1
            if depth == 0:
                return source[start : i + 1]
        i += 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--utility", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=ROOT / "tests" / "official" / "vectors" / "brand.json")
    args = parser.parse_args()
    source = args.utility.read_text(encoding="utf-8")
    fields = re.findall(r"\n    private static final (?:char\[\] SYMBOLS|SecureRandom random)[^;]*;", source)
    body = "\n".join(f.strip("\n") for f in fields) + "\n" + "\n\n".join(extract(source, m) for m in METHODS)
    java = IMPORTS + "\npublic class OfficialBrandVectors {\n" + body + "\n" + MAIN + "}\n"

    brand_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    platform_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = serialization.Encoding.PEM
    brand_pem = brand_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    platform_private_pem = platform_key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    platform_public_pem = platform_key.public_key().public_bytes(pem, serialization.PublicFormat.SubjectPublicKeyInfo)
    brand_id, serial = "120344", "1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C"  # 品牌API证书与私钥.md serial literal
    public_key_id = "PUB_KEY_ID_0112345678202501010000000000"
    brand_api_key = "0123456789abcdefghijABCDEFGHIJ01"

    out: dict[str, object] = {
        "source": SOURCE,
        "generated_by": "scripts/brand_vectors.py (javac/java " + _java_version() + ")",
        "brand_id": brand_id,
        "brand_serial": serial,
        "brand_private_key_pem": brand_pem.decode(),
        "platform_public_key_id": public_key_id,
        "platform_public_key_pem": platform_public_pem.decode(),
        "brand_api_key": brand_api_key,
        "authorization": [],
    }
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "OfficialBrandVectors.java").write_text(java, encoding="utf-8")
        subprocess.run(["javac", "-encoding", "UTF-8", "OfficialBrandVectors.java"], cwd=tmp, check=True)
        (tmp / "brand.pem").write_bytes(brand_pem)
        (tmp / "pub.pem").write_bytes(platform_public_pem)
        auths = []
        for item in REQUESTS:
            (tmp / "body").write_text(item["body"], encoding="utf-8")
            header = _java(tmp, "auth", "brand.pem", brand_id, serial, item["method"], item["uri"], "body")
            auths.append({**item, "official_authorization": header})
        out["authorization"] = auths

        resource = {
            "coupon_code": "Code_123456",
            "coupon_state": "CONFIRMING",
            "product_coupon_id": "1000000013",
            "stock_id": "1000000013001",
            "openid": "oh-394z-6CGkNoJrsDLTTUKiAnp4",
            "send_request_no": "MCHSEND202003101234",
            "send_channel": "API",
            "receive_time": "2025-08-02T00:00:00+08:00",
            "valid_begin_time": "2025-08-02T00:00:00+08:00",
            "valid_end_time": "2025-09-02T00:00:00+08:00",
        }
        private = serialization.load_pem_private_key(platform_private_pem, None)
        assert isinstance(private, rsa.RSAPrivateKey)
        headers, note = build_notification(
            resource,
            apiv3_key=brand_api_key,
            private_key=private,
            serial=public_key_id,
            event_type="PRODUCT_COUPON.SEND",
            summary="商品券发放通知",
            original_type="product_coupon",
            associated_data="product_coupon",
            notification_id="EV-2018022511223320873",
            create_time="2025-08-02T00:00:01+08:00",
        )
        (tmp / "note").write_bytes(note)
        envelope = json.loads(note)
        res = envelope["resource"]
        verdict = _java(
            tmp,
            "notify",
            "pub.pem",
            "note",
            headers["Wechatpay-Timestamp"],
            headers["Wechatpay-Nonce"],
            headers["Wechatpay-Signature"],
            brand_api_key,
            res["associated_data"],
            res["nonce"],
            res["ciphertext"],
        )
        status, _, plaintext = verdict.partition("\n")
        if status != "VERIFIED":
            raise SystemExit(f"the official verify() rejected the notification: {status}")
        out["notification"] = {
            "headers": headers,
            "body": note.decode("utf-8"),
            "official_verify": status,
            "official_plaintext": plaintext,
        }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


def _java(tmp: Path, *argv: str) -> str:
    done = subprocess.run(
        ["java", "-cp", str(tmp), "OfficialBrandVectors", *argv], cwd=tmp, check=True, capture_output=True
    )
    return done.stdout.decode("utf-8")


def _java_version() -> str:
    done = subprocess.run(["java", "-version"], capture_output=True, check=False)
    return done.stderr.decode().splitlines()[0] if done.stderr else "unknown"


if __name__ == "__main__":
    sys.exit(main())
