"""A merchant-coupon (商家券) lifecycle: stock, uploaded codes, sends, use, return, subsidy, deactivation.

    python examples/merchant_coupons.py --emulator     # self-contained, against the built-in emulator

Every call is a typed coroutine of ``client.merchant_coupon``; request numbers (``out_request_no``,
``use_request_no``, ``return_request_no``...) are filled by the SDK when omitted and kept identical on
retries. The mini-program plugin needs a server-side ``sign``: ``miniprogram_send_params`` makes it.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

from wxpay_async import Client
from wxpay_async.emulator import rfc3339, run_emulator
from wxpay_async.merchant_coupon_sign import miniprogram_send_params

APPID = "wx233544546545989"


def new_stock(belong_merchant: str) -> dict[str, Any]:
    now = time.time()
    return {
        "stock_name": "满100减10元",
        "belong_merchant": belong_merchant,
        "goods_name": "全场通用",
        "stock_type": "NORMAL",
        "coupon_code_mode": "MERCHANT_UPLOAD",  # our own codes, dispatched in upload order
        "coupon_use_rule": {
            "coupon_available_time": {
                "available_begin_time": rfc3339(now),
                "available_end_time": rfc3339(now + 30 * 86400),
            },
            "fixed_normal_coupon": {"discount_amount": 1000, "transaction_minimum": 10000},
            "use_method": "OFF_LINE",
        },
        "stock_send_rule": {"max_coupons": 100, "max_coupons_per_user": 1},
        "subsidy": True,
    }


async def lifecycle(wx: Client) -> bool:
    mc = wx.merchant_coupon
    stock = await mc.create_stock(**new_stock(wx.mchid))
    print(f"stock {stock.stock_id} created (request number {stock.out_request_no})")
    upload = await mc.upload_coupon_codes(stock.stock_id, coupon_code_list=["VIP-0001", "VIP-0002", "VIP-0003"])
    print(f"uploaded {upload.success_count} codes")

    sent = await mc.send_coupon(openid="user-1", appid=APPID, stock_id=stock.stock_id)
    code = sent.send_coupon_result.coupon_code if sent.send_coupon_result else None
    assert code is not None
    print(f"sent {code} to user-1")

    await mc.associate_order(stock_id=stock.stock_id, coupon_code=code, out_trade_no="ORDER-1")
    used = await mc.use_coupon(coupon_code=code, stock_id=stock.stock_id, appid=APPID, use_time=rfc3339(time.time()))
    print(f"used at {used.wechatpay_use_time}")
    receipt = await mc.create_subsidy_pay_receipt(
        stock_id=stock.stock_id,
        coupon_code=code,
        transaction_id="4200000000000000000000000001",
        payer_merchant=wx.mchid,
        payee_merchant="1900000002",
        amount=500,
        description="门店补差",
    )
    print(f"subsidy {receipt.subsidy_receipt_id}: {receipt.status}")
    await mc.return_coupon(coupon_code=code, stock_id=stock.stock_id)
    await mc.deactivate_coupon(coupon_code=code, stock_id=stock.stock_id, deactivate_reason="demo")
    final = await mc.get_user_coupon("user-1", code, APPID)
    print(f"{code} is now {final.coupon_state}")

    # The mini-program plugin sends the next code itself; the server only signs its parameters.
    plugin = miniprogram_send_params(
        [{"stock_id": stock.stock_id, "out_request_no": "PLUGIN-0001"}],
        send_coupon_merchant=wx.mchid,
        apiv2_key="0123456789abcdef0123456789abcdef",  # the merchant's APIv2 key (API密钥), not the APIv3 key
    )
    print(f"plugin sign {plugin['sign'][:8]}...")
    return final.coupon_state == "DEACTIVATED" and receipt.status == "PAY_RECEIPT_SUCCESS"


async def main(*, use_emulator: bool = False) -> int:
    if not use_emulator:
        async with Client.from_env() as wx:
            return 0 if await lifecycle(wx) else 1
    async with run_emulator() as emu, Client(**emu.client_kwargs()) as wx:
        return 0 if await lifecycle(wx) else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(use_emulator="--emulator" in sys.argv)))
