"""``ClientKwargs``: a merchant's credentials as ``Client`` keyword arguments, for type checkers.

No ``from __future__ import annotations`` here: a TypedDict's ``NotRequired`` keys are read from
its evaluated annotations at run time (``__optional_keys__``), which string annotations defeat
on Python 3.11.
"""

from typing import NotRequired, TypedDict

from cryptography.hazmat.primitives.asymmetric import rsa

from .crypto import PEMSource


class ClientKwargs(TypedDict):
    """A merchant's credentials as :class:`wxpay_async.Client` keyword arguments: ``Client(**kwargs)``.

    What ``RunningEmulator.client_kwargs()`` returns; also handy for a per-merchant config table.
    """

    mchid: str
    merchant_serial: str
    private_key: PEMSource | rsa.RSAPrivateKey
    apiv3_key: str
    base_url: str
    #: Public-key mode (``PUB_KEY_ID_...``); left out in certificate mode.
    platform_public_key: NotRequired[PEMSource | rsa.RSAPublicKey]
    platform_public_key_id: NotRequired[str]


class BrandClientKwargs(TypedDict):
    """A brand's credentials (品牌直连) as :class:`wxpay_async.Client` keyword arguments.

    What ``RunningEmulator.brand_client_kwargs()`` returns.
    """

    brand_id: str
    brand_serial: str
    private_key: PEMSource | rsa.RSAPrivateKey
    brand_api_key: str
    platform_public_key: PEMSource | rsa.RSAPublicKey
    platform_public_key_id: str
    base_url: str
