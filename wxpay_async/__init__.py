"""wxpay_async: asyncio SDK for WeChat Pay APIv3 marketing coupons."""
