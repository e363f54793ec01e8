"""Which answer fields official sources guarantee: wechatpay-go's models, written to the spec.

    python scripts/go_answer_required.py <wechatpay-go checkout or bare git dir>

wechatpay-go is generated from WeChat Pay's own API descriptions; a field whose json tag has no
``omitempty`` is required there. This script reads the answer structs of the cash-coupon and
certificate operations and writes ``wxpay_async/spec/answer_required.json`` (committed; CI does
not need the Go repository). Only these fields are typed as present in our answer models; every
other answer field is optional. Answers stay lenient either way (see wxpay_async/_converter.py).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "wxpay_async" / "spec" / "answer_required.json"
FILES = {
    "cashcoupons": "services/cashcoupons/models.go",
    "certificates": "services/certificates/models.go",
    "fileuploader": "services/fileuploader/marketing_image_uploader.go",
}
#: operation key -> (models file, root answer struct); from the services' api_*.go methods.
ROOTS = {
    "GET /v3/certificates": ("certificates", "DownloadCertificatesResponse"),
    "POST /v3/marketing/favor/coupon-stocks": ("cashcoupons", "CreateCouponStockResponse"),
    "GET /v3/marketing/favor/callbacks": ("cashcoupons", "Callback"),
    "POST /v3/marketing/favor/callbacks": ("cashcoupons", "SetCallbackResponse"),
    "GET /v3/marketing/favor/stocks/{stock_id}/refund-flow": ("cashcoupons", "RefundFlowResponse"),
    "GET /v3/marketing/favor/stocks/{stock_id}/use-flow": ("cashcoupons", "UseFlowResponse"),
    "GET /v3/marketing/favor/stocks/{stock_id}": ("cashcoupons", "Stock"),
    "GET /v3/marketing/favor/stocks": ("cashcoupons", "StockCollection"),
    "GET /v3/marketing/favor/stocks/{stock_id}/items": ("cashcoupons", "AvailableSingleitemCollection"),
    "GET /v3/marketing/favor/stocks/{stock_id}/merchants": ("cashcoupons", "AvailableMerchantCollection"),
    "POST /v3/marketing/favor/stocks/{stock_id}/modify-goods-id": ("cashcoupons", "ModifyAvailableSingleitemResponse"),
    "POST /v3/marketing/favor/stocks/{stock_id}/start": ("cashcoupons", "StartStockResponse"),
    "POST /v3/marketing/favor/stocks/{stock_id}/pause": ("cashcoupons", "PauseStockResponse"),
    "POST /v3/marketing/favor/stocks/{stock_id}/restart": ("cashcoupons", "RestartStockResponse"),
    "POST /v3/marketing/favor/stocks/{stock_id}/stop": ("cashcoupons", "StopStockResponse"),
    "POST /v3/marketing/favor/users/{openid}/coupons": ("cashcoupons", "SendCouponResponse"),
    "GET /v3/marketing/favor/users/{openid}/coupons": ("cashcoupons", "CouponCollection"),
    "GET /v3/marketing/favor/users/{openid}/coupons/{coupon_id}": ("cashcoupons", "Coupon"),
    "POST /v3/marketing/favor/media/image-upload": ("fileuploader", "MarketingImageUploadResponse"),
}
FIELD = re.compile(r"^\s+\w+\s+(\[\])?\*?(\w+(?:\.\w+)?)\s+`json:\"([^,\"]+)(,omitempty)?\"")


def structs(text: str) -> dict[str, list[tuple[str, str, bool]]]:
    """struct name -> [(json name, Go type, required)]."""
    out: dict[str, list[tuple[str, str, bool]]] = {}
    current = None
    for line in text.splitlines():
        if m := re.match(r"^type (\w+) struct \{", line):
            current = out.setdefault(m.group(1), [])
        elif line.startswith("}"):
            current = None
        elif current is not None and (f := FIELD.match(line)):
            current.append((f.group(3), f.group(2), not f.group(4)))
    return out


def walk(types: dict[str, list[tuple[str, str, bool]]], name: str, path: str, out: dict[str, list[str]]) -> None:
    fields = types[name]
    out[path] = sorted(json_name for json_name, _, required in fields if required)
    for json_name, go_type, _ in fields:
        if go_type in types:
            walk(types, go_type, f"{path}.{json_name}".lstrip("."), out)


def main() -> int:
    repo = sys.argv[1]
    commit = subprocess.run(["git", "-C", repo, "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
    sha = commit.stdout.strip()
    texts = {
        k: subprocess.run(["git", "-C", repo, "show", f"HEAD:{v}"], capture_output=True, text=True, check=True).stdout
        for k, v in FILES.items()
    }
    result = {}
    for key, (file, root) in ROOTS.items():
        required: dict[str, list[str]] = {}
        walk(structs(texts[file]), root, "", required)
        result[key] = {"source": f"wechatpay-apiv3/wechatpay-go@{sha}:{FILES[file]}#{root}", "required": required}
    note = "Answer fields official sources guarantee (wechatpay-go json tags without omitempty); written by scripts/go_answer_required.py."
    TARGET.write_text(json.dumps({"note": note, "operations": result}, ensure_ascii=False, indent=1) + "\n")
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
