"""Running the emulator on a socket: ``run_emulator`` for tests and benchmarks, ``serve`` for the CLI."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import attrs
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

from ._admin import ADMIN_TOKEN_KEY, apply_faults
from ._app import create_app
from ._emulator import Emulator
from ._keys import EmulatorKeys, load_keys_dir, write_keys_dir
from ._types import BrandClientKwargs, ClientKwargs, CouponRefunded, CouponUsed, LedgerSnapshot

logger = logging.getLogger("wxpay_async.emulator")


@attrs.define(kw_only=True)
class RunningEmulator:
    """A listening emulator: where it is, the merchant credentials to use, and the emulator itself."""

    base_url: str
    emulator: Emulator
    host: str
    port: int

    @property
    def keys(self) -> EmulatorKeys:
        return self.emulator.keys

    @property
    def mchid(self) -> str:
        return self.keys.mchid

    @property
    def merchant_serial(self) -> str:
        return self.keys.merchant.serial

    @property
    def merchant_private_key(self) -> rsa.RSAPrivateKey:
        return self.keys.merchant.private_key

    @property
    def merchant_private_key_pem(self) -> bytes:
        return self.keys.merchant.private_pem()

    @property
    def apiv3_key(self) -> str:
        return self.keys.apiv3_key

    @property
    def platform_certificates_pem(self) -> list[bytes]:
        """Every listed platform certificate (PEM), newest last."""
        return [p.pair.certificate_pem() for p in self.emulator.listed_certificates()]

    @property
    def platform_serial(self) -> str:
        """The serial of the certificate currently used for signing in certificate mode."""
        return self.emulator.signing_key(None, for_certificates=True)[0]

    @property
    def public_key_id(self) -> str:
        return self.keys.public_key_id

    @property
    def public_key_pem(self) -> bytes:
        return self.keys.public_key.public_pem()

    @property
    def public_key(self) -> rsa.RSAPublicKey:
        return self.keys.public_key.public_key

    def client_kwargs(self, *, mode: str = "public_key") -> ClientKwargs:
        """Keyword arguments for ``wxpay_async.Client`` pointed at this emulator."""
        return self.keys.client_kwargs(self.base_url, mode=mode)

    def brand_client_kwargs(self) -> BrandClientKwargs:
        """Keyword arguments for a brand ``wxpay_async.Client`` (品牌直连) pointed at this emulator."""
        return self.keys.brand_client_kwargs(self.base_url)

    @property
    def brand_id(self) -> str:
        return self.keys.brand_id

    # admin shortcuts, in-process ------------------------------------------------------------
    def push_faults(self, *faults: dict[str, Any]) -> None:
        """Script faults for the next matching requests, e.g. ``{"kind": "drop_after", "path_prefix": ...}``."""
        apply_faults(self.emulator, {"push": list(faults)})

    def set_fault_rates(self, *rates: dict[str, Any], seed: int | None = None) -> None:
        data: dict[str, Any] = {"rates": list(rates)}
        if seed is not None:
            data["seed"] = seed
        apply_faults(self.emulator, data)

    def clear_faults(self) -> None:
        apply_faults(self.emulator, {"clear": True})

    def ledger(self) -> LedgerSnapshot:
        """Every coupon issued and every send request number, with how often each was accepted."""
        return cast(LedgerSnapshot, self.emulator.ledger.snapshot())

    def use_coupon(
        self,
        coupon_id: str,
        *,
        transaction_id: str | None = None,
        order_amount: int | None = None,
        consume_mchid: str | None = None,
    ) -> CouponUsed:
        """The user paid with cash coupon ``coupon_id``: SENDED → USED, then COUPON.USE to the callback URL."""
        from ._favor import use_coupon

        used = use_coupon(
            self.emulator,
            coupon_id,
            transaction_id=transaction_id,
            order_amount=order_amount,
            consume_mchid=consume_mchid,
        )
        return cast(CouponUsed, used)

    def refund_coupon(self, coupon_id: str, *, refund_amount: int | None = None) -> CouponRefunded:
        """The order paid with ``coupon_id`` was refunded: the coupon returns to the user."""
        from ._favor import refund_coupon

        return cast(CouponRefunded, refund_coupon(self.emulator, coupon_id, refund_amount=refund_amount))


def _runner(app: web.Application) -> web.AppRunner:
    return web.AppRunner(app, access_log=None, shutdown_timeout=1.0, handle_signals=False)


@contextlib.asynccontextmanager
async def run_emulator(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    emulator: Emulator | None = None,
    keys: EmulatorKeys | None = None,
    admin_token: str | None = None,
    **options: Any,
) -> AsyncIterator[RunningEmulator]:
    """Serve an emulator on ``host:port`` (0 = a free port) for the duration of the block.

    ``options`` are :class:`EmulatorConfig` fields (``mode``, ``send_rate``, ``notify_retry_interval``,
    ``db_path``, ``benchmark``, ``seed``...) plus ``clock``. ``admin_token``: the admin API then
    also requires the ``X-Emulator-Admin-Token`` header.
    """
    emu = emulator or Emulator(keys, **options)
    app = create_app(emu)
    if admin_token:
        app[ADMIN_TOKEN_KEY] = admin_token
    runner = _runner(app)
    await runner.setup()
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    site = web.SockSite(runner, sock)
    await site.start()
    bound_port = sock.getsockname()[1]
    url_host = f"[{host}]" if ":" in host else host
    try:
        yield RunningEmulator(base_url=f"http://{url_host}:{bound_port}", emulator=emu, host=host, port=bound_port)
    finally:
        await runner.cleanup()
        emu.store.close()


def emulator_env(running: RunningEmulator, keys_dir: Path) -> dict[str, str]:
    """The ``WXPAY_*`` variables that make ``Client.from_env()`` talk to this emulator."""
    keys_dir = keys_dir.resolve()
    return {
        "WXPAY_MCHID": running.mchid,
        "WXPAY_MERCHANT_SERIAL": running.merchant_serial,
        "WXPAY_PRIVATE_KEY_PATH": str(keys_dir / "apiclient_key.pem"),
        "WXPAY_APIV3_KEY": running.apiv3_key,
        "WXPAY_PUBLIC_KEY_PATH": str(keys_dir / "pub_key.pem"),
        "WXPAY_PUBLIC_KEY_ID": running.public_key_id,
        "WXPAY_BASE_URL": running.base_url,
    }


async def serve(host: str, port: int, keys_dir: Path | str, *, admin_token: str | None = None, **options: Any) -> None:
    """Run until interrupted (the ``wxpay-async emulator`` command).

    Creates ``keys_dir`` (dev keys + ``merchant.json``) when absent, records the base URL in it,
    and keeps state in ``keys_dir/emulator.db`` unless ``db_path`` is given (``db_path=None``:
    memory only).
    """
    keys_dir = Path(keys_dir)
    keys = write_keys_dir(keys_dir) if not (keys_dir / "merchant.json").exists() else load_keys_dir(keys_dir)
    options.setdefault("db_path", keys_dir / "emulator.db")
    async with run_emulator(host, port, keys=keys, admin_token=admin_token, **options) as running:
        write_keys_dir(keys_dir, running.base_url)
        print(f"wxpay_async emulator listening on {running.base_url}")
        print(f"  merchant {running.mchid}, keys and merchant.json in {keys_dir}")
        guard = "loopback only, JSON, token required" if admin_token else "loopback only, JSON"
        print(f"  admin API: {running.base_url}/_emulator/config ({guard})")
        print("  point a client at it (Client.from_env(), the CLI's --keys-dir alternative):")
        for name, value in emulator_env(running, keys_dir).items():
            print(f"    export {name}={value}")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.remove_signal_handler(sig)
