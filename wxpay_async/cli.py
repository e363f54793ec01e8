"""The ``wxpay-async`` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _selfcheck(args: argparse.Namespace) -> int:
    from .crypto import Verifier, aead_decrypt, request_message, rsa_sign
    from .devkeys import generate_key_pair

    plain = aead_decrypt(
        "a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb", "uluk4a9R25RW", "associatedData", "ulwSiIajGClcvcOYvOQ7+l+0PAbzzwI="
    )
    print(f"AEAD_AES_256_GCM known answer (wechatpay-java vector): {plain!r}")
    pair = generate_key_pair("selfcheck")
    message = request_message("GET", "/v3/certificates", "1700000000", "n" * 32, b"")
    ok = Verifier([pair.certificate]).verify(pair.serial, message, rsa_sign(pair.private_key, message))
    print(f"SHA256withRSA sign/verify round trip with serial {pair.serial}: {'ok' if ok else 'FAILED'}")
    return 0 if ok and plain == b"message" else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wxpay-async", description="WeChat Pay APIv3 marketing coupons toolkit")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run the end-to-end demo against the built-in emulator")
    demo.set_defaults(func=_selfcheck)
    selfcheck = sub.add_parser("selfcheck", help="check the crypto primitives with known answers")
    selfcheck.set_defaults(func=_selfcheck)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
