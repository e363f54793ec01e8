"""Brands that connect directly (品牌直连): identity, signature scheme, emulator, notifications.

Sources: wechatpay-apiv3/wechatpay-skills@15f40d070c503be7f02c3ebeb8dfb6b8274f3291
wechatpay-product-coupon/references/1-品牌/ (签名验签/签名与验签规则.md, 品牌API密钥.md, the Go/Java
samples and the brand utility), and 3-品牌与服务商通用/接入规范/回调处理.md for the event types.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from wxpay_async import Client
from wxpay_async.crypto import BRAND_SCHEME, parse_any_authorization, request_message, rsa_verify
from wxpay_async.emulator import EmulatorKeys, rfc3339, run_emulator
from wxpay_async.errors import APIStatusError, ConfigurationError, WxPayError
from wxpay_async.middleware import NO_RETRY
from wxpay_async.notifications import Notification

from .conftest import brand_client_kwargs, client_kwargs
from .emulator_helpers import APPID, STOCK_DISPLAY, SigningClient, notify_endpoint, product_display, product_stock
from .fake_wechat import FakeWeChat, Reply

BRAND_ID = "120344"


@pytest.fixture(scope="module")
def keys() -> EmulatorKeys:
    return EmulatorKeys.generate()


# -- identity -------------------------------------------------------------------------------
def test_merchant_and_brand_arguments_are_never_mixed(fake: FakeWeChat, server: TestServer) -> None:
    merchant = client_kwargs(fake, server, mode="public_key")
    with pytest.raises(ConfigurationError, match="cannot be mixed"):
        Client(**merchant, brand_id=BRAND_ID)
    brand = brand_client_kwargs(fake, server)
    with pytest.raises(ConfigurationError, match="cannot be mixed"):
        Client(**brand, apiv3_key=fake.apiv3_key)
    with pytest.raises(ConfigurationError, match="brand_api_key"):
        Client(**{k: v for k, v in brand.items() if k != "brand_api_key"})
    with pytest.raises(ConfigurationError, match="WeChat Pay public key"):
        Client(**{k: v for k, v in brand.items() if not k.startswith("platform_public_key")})
    with pytest.raises(ConfigurationError, match="32-character brand API key"):
        Client(**{**brand, "brand_api_key": "x" * 31})
    with pytest.raises(ConfigurationError, match="32-character brand API key"):
        Client(**{**brand, "brand_api_key": "é" * 32})  # digits and letters only (品牌API密钥.md)
    with pytest.raises(ConfigurationError, match="brand_id"):
        Client(**{**brand, "brand_id": 'a"b'})  # would break out of the quoted header parameter
    with pytest.raises(ConfigurationError, match="no certificates"):
        Client(**brand, download_certificates=True)


async def test_brand_client_repr_and_errors_hide_secrets(fake: FakeWeChat, server: TestServer) -> None:
    async with Client(**brand_client_kwargs(fake, server)) as wx:
        text = repr(wx) + repr(wx.credentials)
        assert "120344" in text and fake.apiv3_key not in text and "PRIVATE" not in text
        assert wx.identity_id == BRAND_ID and wx.identity_key == "brand:120344" and wx.is_brand
        with pytest.raises(ConfigurationError, match="brand identity"):
            _ = wx.mchid


async def test_a_call_for_the_other_identity_is_refused_before_sending(fake: FakeWeChat, server: TestServer) -> None:
    async with Client(**brand_client_kwargs(fake, server)) as brand:
        with pytest.raises(ConfigurationError, match="merchant API") as refused:
            await brand.product_coupon.get_stock("1", "2", brand_id=BRAND_ID)
        assert isinstance(refused.value, WxPayError)
        with pytest.raises(ConfigurationError, match="merchant API"):
            await brand.request("GET", "/v3/certificates")
    async with Client(**client_kwargs(fake, server, mode="public_key")) as merchant:
        with pytest.raises(ConfigurationError, match="brand API"):
            await merchant.brand_product_coupon.get_stock("1", "2")
    assert fake.received == []  # nothing reached the wire


async def test_brand_request_is_signed_with_the_brand_scheme(fake: FakeWeChat, server: TestServer) -> None:
    fake.queue(Reply(body={"notify_url": "https://example.com/n", "update_time": "2025-08-01T00:00:00+08:00"}))
    async with Client(**brand_client_kwargs(fake, server)) as wx:
        got = await wx.brand_product_coupon.get_notify_config()
    assert got.notify_url == "https://example.com/n"
    sent = fake.received[-1]
    header = sent.headers["Authorization"]
    assert header.startswith('WECHATPAY-BRAND-SHA256-RSA2048 brand_id="120344",nonce_str="')
    scheme, auth = parse_any_authorization(header)
    assert scheme is BRAND_SCHEME
    assert [p.split("=")[0] for p in header.split(" ", 1)[1].split(",")] == list(BRAND_SCHEME.order)
    assert auth["serial_no"] == fake.merchant.serial
    message = request_message("GET", sent.target, auth["timestamp"], auth["nonce_str"], b"")
    assert rsa_verify(fake.merchant.certificate, message, auth["signature"])
    assert sent.headers["Wechatpay-Serial"] == fake.public_key_id
    assert sent.target == "/brand/marketing/product-coupon/notify-configs"


def test_from_env_builds_a_brand_client(tmp_path: Path, fake: FakeWeChat) -> None:
    assert fake.public_key is not None and fake.public_key_id is not None
    (tmp_path / "key.pem").write_bytes(fake.merchant.private_pem())
    (tmp_path / "pub.pem").write_bytes(fake.public_key.public_pem())
    env = {
        "WXPAY_BRAND_ID": BRAND_ID,
        "WXPAY_BRAND_SERIAL": fake.merchant.serial,
        "WXPAY_PRIVATE_KEY_PATH": str(tmp_path / "key.pem"),
        "WXPAY_BRAND_API_KEY": fake.apiv3_key,
        "WXPAY_PUBLIC_KEY_PATH": str(tmp_path / "pub.pem"),
        "WXPAY_PUBLIC_KEY_ID": fake.public_key_id,
    }
    wx = Client.from_env(env)
    assert wx.is_brand and wx.identity_id == BRAND_ID
    with pytest.raises(ConfigurationError, match="either a merchant or a brand"):
        Client.from_env({**env, "WXPAY_MCHID": "1900000001"})
    with pytest.raises(ConfigurationError, match="WXPAY_BRAND_API_KEY"):
        Client.from_env({k: v for k, v in env.items() if k != "WXPAY_BRAND_API_KEY"})


# -- the emulator ---------------------------------------------------------------------------
def _stock(max_count: int = 10) -> dict[str, Any]:
    return product_stock("brand", {"max_count": max_count, "max_count_per_user": 5}, {}, **STOCK_DISPLAY)


class _Inbox:
    def __init__(self, wx: Client) -> None:
        self.got: list[Notification] = []
        self.handler = wx.notification_handler()

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        notification = self.handler.parse(dict(request.headers), body)
        self.got.append(notification)
        return web.Response(status=204)


async def test_brand_lifecycle_against_the_emulator(keys: EmulatorKeys) -> None:
    """Create, add a stock, send, notification, confirm, use, query, return: all with the brand's identity."""
    async with (
        run_emulator(keys=keys, notify_retry_interval=0.05) as emu,
        Client(**emu.brand_client_kwargs(), retry=NO_RETRY) as wx,
    ):
        inbox = _Inbox(wx)
        async with notify_endpoint(inbox.handle) as url:
            bpc = wx.brand_product_coupon
            await bpc.set_notify_config(notify_url=url)
            assert (await bpc.get_notify_config()).notify_url == url
            product = await bpc.create_product_coupon(
                scope="ALL",
                type="NORMAL",
                usage_mode="SINGLE",
                single_usage_info={"normal_coupon": {"threshold": 10000, "discount_amount": 1000}},
                display_info=product_display(),
                stock=_stock(),
            )
            assert product.raw is not None and "brand_id" not in json.dumps(product.raw)
            pid = str(product.product_coupon_id)
            stock = await bpc.create_stock(pid, stock=_stock(max_count=3))
            sid = str(stock.stock_id)
            assert (await bpc.get_stock(pid, sid)).state == "SENDING"
            listed = await bpc.list_stocks(pid)
            assert {s.stock_id for s in listed.items} >= {sid}

            sent = await bpc.send_coupon("o-brand-1", appid=APPID, product_coupon_id=pid, stock_id=sid)
            assert sent.coupon_state == "CONFIRMING" and sent.send_request_no
            code = str(sent.coupon_code)
            for _ in range(200):
                if inbox.got:
                    break
                await asyncio.sleep(0.02)
            [note] = inbox.got
            assert note.event_type == "PRODUCT_COUPON.SEND"
            model = note.model
            assert model.coupon_code == code and model.stock_id == sid and model.openid == "o-brand-1"
            assert "brand_id" not in note.resource

            common = {"appid": APPID, "product_coupon_id": pid, "stock_id": sid}
            confirmed = await bpc.confirm_coupon("o-brand-1", code, **common)
            assert confirmed.coupon_state == "EFFECTIVE"
            used = await bpc.use_coupon(
                "o-brand-1",
                code,
                **common,
                use_time=rfc3339(time.time()),
                associated_order_info={"transaction_id": "4200000001"},
            )
            assert used.coupon_state == "USED"
            got = await bpc.get_user_coupon("o-brand-1", code, **common)
            assert got.coupon_state == "USED" and got.raw is not None and "brand_id" not in json.dumps(got.raw)
            page = await bpc.list_user_coupons("o-brand-1", appid=APPID)
            assert [c.coupon_code for c in page.items] == [code]
            returned = await bpc.return_coupon("o-brand-1", code, **common)
            assert returned.coupon_state == "EFFECTIVE"

            # The partner view of the same brand (an authorised service provider) sees the same coupon.
            async with Client(**emu.client_kwargs(), retry=NO_RETRY) as partner:
                seen = await partner.product_coupon.get_user_coupon("o-brand-1", code, brand_id=keys.brand_id, **common)
                assert seen.coupon_state == "EFFECTIVE" and seen.brand_id == keys.brand_id


async def test_emulator_refuses_the_wrong_scheme_for_the_path(keys: EmulatorKeys) -> None:
    async with run_emulator(keys=keys) as emu:
        import aiohttp

        async with aiohttp.ClientSession() as session:
            merchant = SigningClient(emu, session)
            reply = await merchant.request(
                "GET", "/brand/marketing/product-coupon/notify-configs", headers={"Wechatpay-Serial": emu.public_key_id}
            )
            assert reply.status == 401 and reply.json()["code"] == "SIGN_ERROR"
        # A brand signature on a merchant path: the SDK refuses it first, so sign by hand.
        async with Client(**emu.brand_client_kwargs(), retry=NO_RETRY) as wx:
            request = wx.build_request("GET", "/brand/marketing/product-coupon/notify-configs")
            signed = await wx.sign(request)
            header = signed.headers["Authorization"]
        async with aiohttp.ClientSession() as session:
            async with session.get(
                f"{emu.base_url}/v3/marketing/partner/product-coupon/notify-configs",
                headers={"Authorization": header, "Accept": "application/json"},
            ) as resp:
                assert resp.status == 401 and (await resp.json())["code"] == "SIGN_ERROR"
            # The brand path itself, signed for another path: the signature does not match.
            async with session.get(
                f"{emu.base_url}/brand/marketing/product-coupon/notify-configs?x=1",
                headers={"Authorization": header, "Wechatpay-Serial": keys.public_key_id},
            ) as resp:
                assert resp.status == 401 and (await resp.json())["code"] == "SIGN_ERROR"
            async with session.get(
                f"{emu.base_url}/brand/marketing/product-coupon/notify-configs",
                headers={"Authorization": header},
            ) as resp:
                assert resp.status == 400 and (await resp.json())["code"] == "PARAM_ERROR"  # Wechatpay-Serial


async def test_brand_validation_refuses_brand_id(keys: EmulatorKeys) -> None:
    async with run_emulator(keys=keys) as emu, Client(**emu.brand_client_kwargs(), retry=NO_RETRY) as wx:
        with pytest.raises(TypeError):
            await wx.brand_product_coupon.get_stock("1", "2", brand_id=keys.brand_id)  # type: ignore[call-arg]
        with pytest.raises(APIStatusError) as missing:
            await wx.brand_product_coupon.get_stock("1", "2")
        assert missing.value.status == 404


# -- testing kit ----------------------------------------------------------------------------
async def test_wechatpay_mock_in_brand_mode() -> None:
    from wxpay_async.testing import WeChatPayMock

    with WeChatPayMock(identity="brand") as mock:
        mock.add("brand_product_coupon.send_coupon")
        async with mock.client() as wx:
            assert wx.is_brand
            await wx.brand_product_coupon.send_coupon("o1", appid=APPID, product_coupon_id="1", stock_id="2")
        [call] = mock.calls
        assert call.signed and call.target == "/brand/marketing/product-coupon/users/o1/coupons"
        assert call.headers["Authorization"].startswith("WECHATPAY-BRAND-SHA256-RSA2048 ")
        # A merchant signature on a brand path: 401 SIGN_ERROR, recorded.
        merchant_header = 'WECHATPAY2-SHA256-RSA2048 mchid="1",nonce_str="n",timestamp="1",serial_no="AB",signature="x"'
        problem = mock.authorization_problem(
            "GET", "/brand/marketing/product-coupon/notify-configs", {"Authorization": merchant_header}, b""
        )
        assert problem == "WECHATPAY2-SHA256-RSA2048 is not accepted on brand APIs"
        note = mock.notification({"coupon_code": "C1"}, event_type="PRODUCT_COUPON.SEND")
        async with mock.client() as wx:
            parsed = wx.notification_handler().parse(note.headers, note.body)
        assert parsed.model.coupon_code == "C1"
    with pytest.raises(ConfigurationError, match="public key"):
        WeChatPayMock(identity="brand", mode="certificate")


@pytest.mark.parametrize("wxpay_identity", ["brand"])
async def test_plugin_fixtures_in_brand_mode(wxpay_client: Client, wxpay_emulator: Any) -> None:
    assert wxpay_client.is_brand and wxpay_client.identity_id == wxpay_emulator.brand_id
    await wxpay_client.brand_product_coupon.set_notify_config(notify_url="https://example.com/brand/notify")
    got = await wxpay_client.brand_product_coupon.get_notify_config()
    assert got.notify_url == "https://example.com/brand/notify"


# -- batch ----------------------------------------------------------------------------------
async def _brand_product(wx: Client, max_count: int) -> tuple[str, str]:
    product = await wx.brand_product_coupon.create_product_coupon(
        scope="ALL",
        type="NORMAL",
        usage_mode="SINGLE",
        single_usage_info={"normal_coupon": {"threshold": 10000, "discount_amount": 1000}},
        display_info=product_display(),
        stock=_stock(max_count=max_count),
    )
    assert product.stock is not None
    return str(product.product_coupon_id), str(product.stock.stock_id)


async def test_send_batch_product_with_a_brand_client(keys: EmulatorKeys, tmp_path: Path) -> None:
    """The batch builds nothing identity-specific: a brand client sends on the brand paths, exactly once."""
    import sys

    from wxpay_async import RetryPolicy
    from wxpay_async.emulator import write_keys_dir

    from .test_batch_emulator import send_product_batch_through_faults

    retry = RetryPolicy(max_attempts=6, backoff_base=0.01, backoff_max=0.1, deadline=20)
    async with run_emulator(keys=keys) as emu, Client(**emu.brand_client_kwargs(), retry=retry) as wx:
        product_id, stock_id = await _brand_product(wx, 500)
        openids = [f"brand-{i:03d}" for i in range(60)]
        summary = await send_product_batch_through_faults(
            emu,
            wx,
            tmp_path / "j.db",
            path_prefix="/brand/marketing/product-coupon/users/",
            drop_probability=0.05,
            seed=7,
            openids=openids,
            batch_id="brand",
            stock_id=stock_id,
            defaults={"product_coupon_id": product_id},
        )
        assert summary.sent == 60 and summary.failed == 0, summary.describe()
        issued = [c for c in emu.ledger()["coupons"] if c["kind"] == "product" and c["stock_id"] == stock_id]
        assert sorted(c["openid"] for c in issued) == openids  # each once, despite dropped answers

        # The same through the command line: --keys-dir with --brand, --kind product.
        keys_dir = tmp_path / "keys"
        write_keys_dir(keys_dir, emu.base_url, keys=keys)
        source = tmp_path / "users.csv"
        source.write_text("openid\n" + "\n".join(f"cli-{i}" for i in range(5)) + "\n")
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "wxpay_async.cli",
            "send-batch",
            str(source),
            "--keys-dir",
            str(keys_dir),
            "--brand",
            "--kind",
            "product",
            "--stock-id",
            stock_id,
            "--product-coupon-id",
            product_id,
            "--appid",
            APPID,
            "--journal",
            str(tmp_path / "cli.db"),
            "-q",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 120)
        assert proc.returncode == 0, (out + err).decode()
        issued = [c for c in emu.ledger()["coupons"] if c["kind"] == "product" and c["openid"].startswith("cli-")]
        assert len(issued) == 5


def test_keys_dir_keeps_the_brand(tmp_path: Path, keys: EmulatorKeys) -> None:
    from wxpay_async.emulator import load_keys_dir, write_keys_dir

    write_keys_dir(tmp_path, "http://127.0.0.1:1", keys=keys)
    loaded = load_keys_dir(tmp_path)
    assert loaded.brand is not None and keys.brand is not None
    assert (loaded.brand_id, loaded.brand.serial, loaded.brand_api_key) == (
        keys.brand_id,
        keys.brand.serial,
        keys.brand_api_key,
    )
    assert oct((tmp_path / "brand_apiclient_key.pem").stat().st_mode & 0o777) == "0o600"
    from wxpay_async import BRAND_ENV_VARS, IdentityMismatchError

    assert issubclass(IdentityMismatchError, ConfigurationError) and "WXPAY_BRAND_API_KEY" in BRAND_ENV_VARS
