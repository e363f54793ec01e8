"""A 2xx that cannot be trusted or read: the error says which keys, and that WeChat Pay may have acted."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestServer

from wxpay_async import Client, RetryPolicy
from wxpay_async.devkeys import generate_key_pair, generate_public_key_id
from wxpay_async.errors import ResponseDecodeError, SignatureVerificationError

from .conftest import MCHID, client_kwargs
from .fake_wechat import FakeWeChat, Reply

NO_RETRY = {"retry": RetryPolicy(max_attempts=1)}


async def send(wx: Client) -> None:
    await wx.favor.send_coupon(
        "oUser1", appid="wx233544546545989", stock_creator_mchid=MCHID, stock_id="9856000", out_request_no="n-42"
    )


@pytest.fixture
async def wrong_key_client(fake: FakeWeChat, server: TestServer) -> AsyncIterator[Client]:
    """A client configured with a platform public key and id that are not WeChat Pay's."""
    other = generate_key_pair("not the platform key")
    other_id = generate_public_key_id()
    kwargs = client_kwargs(fake, server, mode="public_key", **NO_RETRY)
    kwargs.update(platform_public_key=other.public_pem(), platform_public_key_id=other_id)
    async with Client(**kwargs) as wx:
        wx.__dict__["_test_key_id"] = other_id
        yield wx


async def test_wrong_key_id_names_both_ids_and_the_request_number(fake: FakeWeChat, wrong_key_client: Client) -> None:
    held = wrong_key_client.__dict__["_test_key_id"]
    assert fake.public_key_id is not None
    fake.queue(Reply(body={"coupon_id": "1"}, serial=fake.public_key_id))
    with pytest.raises(SignatureVerificationError) as caught:
        await send(wrong_key_client)
    text = str(caught.value)
    assert held in text and fake.public_key_id in text
    assert "may have acted" in text and "idempotency_key n-42" in text
    assert caught.value.serial == fake.public_key_id
    assert caught.value.known_serials == frozenset({held})
    assert caught.value.idempotency_key == "n-42"


async def test_wrong_key_under_the_right_id_says_the_server_may_have_acted(
    fake: FakeWeChat, server: TestServer
) -> None:
    assert fake.public_key_id is not None
    kwargs = client_kwargs(fake, server, mode="public_key", **NO_RETRY)
    kwargs["platform_public_key"] = generate_key_pair("wrong key, right id").public_pem()
    async with Client(**kwargs) as wx:
        with pytest.raises(SignatureVerificationError) as caught:
            await send(wx)
    text = str(caught.value)
    assert "signature does not match" in text
    assert text.count(fake.public_key_id) >= 2  # the key the answer named and the one held
    assert "idempotency_key n-42" in text


@pytest.mark.parametrize("signature", ["none", "signtest", "bad"])
async def test_other_unverifiable_2xx_answers_carry_the_hint(
    fake: FakeWeChat, server: TestServer, signature: str
) -> None:
    async with Client(**client_kwargs(fake, server, mode="public_key", **NO_RETRY)) as wx:
        fake.queue(Reply(body={"coupon_id": "1"}, signature=signature))
        with pytest.raises(SignatureVerificationError) as caught:
            await send(wx)
    assert "may have acted" in str(caught.value) and "n-42" in str(caught.value)


async def test_undecodable_2xx_says_the_server_may_have_acted(fake: FakeWeChat, server: TestServer) -> None:
    async with Client(**client_kwargs(fake, server, mode="public_key", **NO_RETRY)) as wx:
        fake.queue(Reply(body=b"<html>ok</html>"))
        with pytest.raises(ResponseDecodeError) as caught:
            await send(wx)
    text = str(caught.value)
    assert "is not JSON" in text and "may have acted" in text and "idempotency_key n-42" in text
    assert caught.value.idempotency_key == "n-42"


async def test_a_query_is_not_said_to_have_acted(fake: FakeWeChat, server: TestServer) -> None:
    async with Client(**client_kwargs(fake, server, mode="public_key", **NO_RETRY)) as wx:
        fake.queue(Reply(body=b"not json"))
        with pytest.raises(ResponseDecodeError) as caught:
            await wx.favor.get_stock("9856000", stock_creator_mchid=MCHID)
    assert "may have acted" not in str(caught.value)
