from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.error import Error
from ...models.get_v1_ohlcv_interval import GetV1OhlcvInterval
from ...models.get_v1_ohlcv_response_200 import GetV1OhlcvResponse200
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    symbol: str,
    vs: str | Unset = "USD",
    interval: GetV1OhlcvInterval | Unset = GetV1OhlcvInterval.VALUE_3,
    limit: int | Unset = 100,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    params["symbol"] = symbol

    params["vs"] = vs

    json_interval: str | Unset = UNSET
    if not isinstance(interval, Unset):
        json_interval = interval.value

    params["interval"] = json_interval

    params["limit"] = limit

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/ohlcv",
        "params": params,
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Error | GetV1OhlcvResponse200 | None:
    if response.status_code == 200:
        response_200 = GetV1OhlcvResponse200.from_dict(response.json())

        return response_200

    if response.status_code == 400:
        response_400 = Error.from_dict(response.json())

        return response_400

    if response.status_code == 405:
        response_405 = Error.from_dict(response.json())

        return response_405

    if response.status_code == 413:
        response_413 = Error.from_dict(response.json())

        return response_413

    if response.status_code == 414:
        response_414 = Error.from_dict(response.json())

        return response_414

    if response.status_code == 502:
        response_502 = Error.from_dict(response.json())

        return response_502

    if response.status_code == 503:
        response_503 = Error.from_dict(response.json())

        return response_503

    if response.status_code == 504:
        response_504 = Error.from_dict(response.json())

        return response_504

    if response.status_code == 508:
        response_508 = Error.from_dict(response.json())

        return response_508

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[Error | GetV1OhlcvResponse200]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient | Client,
    symbol: str,
    vs: str | Unset = "USD",
    interval: GetV1OhlcvInterval | Unset = GetV1OhlcvInterval.VALUE_3,
    limit: int | Unset = 100,
) -> Response[Error | GetV1OhlcvResponse200]:
    """Candles, oldest first

     Providers asked in order: binance → okx, coinbase, kraken → cryptocompare, coingecko → fallback.
    Answers are cached for 15s.

    Args:
        symbol (str):  Example: BTC.
        vs (str | Unset):  Default: 'USD'. Example: USD.
        interval (GetV1OhlcvInterval | Unset):  Default: GetV1OhlcvInterval.VALUE_3.
        limit (int | Unset):  Default: 100.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Error | GetV1OhlcvResponse200]
    """

    kwargs = _get_kwargs(
        symbol=symbol,
        vs=vs,
        interval=interval,
        limit=limit,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient | Client,
    symbol: str,
    vs: str | Unset = "USD",
    interval: GetV1OhlcvInterval | Unset = GetV1OhlcvInterval.VALUE_3,
    limit: int | Unset = 100,
) -> Error | GetV1OhlcvResponse200 | None:
    """Candles, oldest first

     Providers asked in order: binance → okx, coinbase, kraken → cryptocompare, coingecko → fallback.
    Answers are cached for 15s.

    Args:
        symbol (str):  Example: BTC.
        vs (str | Unset):  Default: 'USD'. Example: USD.
        interval (GetV1OhlcvInterval | Unset):  Default: GetV1OhlcvInterval.VALUE_3.
        limit (int | Unset):  Default: 100.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Error | GetV1OhlcvResponse200
    """

    return sync_detailed(
        client=client,
        symbol=symbol,
        vs=vs,
        interval=interval,
        limit=limit,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient | Client,
    symbol: str,
    vs: str | Unset = "USD",
    interval: GetV1OhlcvInterval | Unset = GetV1OhlcvInterval.VALUE_3,
    limit: int | Unset = 100,
) -> Response[Error | GetV1OhlcvResponse200]:
    """Candles, oldest first

     Providers asked in order: binance → okx, coinbase, kraken → cryptocompare, coingecko → fallback.
    Answers are cached for 15s.

    Args:
        symbol (str):  Example: BTC.
        vs (str | Unset):  Default: 'USD'. Example: USD.
        interval (GetV1OhlcvInterval | Unset):  Default: GetV1OhlcvInterval.VALUE_3.
        limit (int | Unset):  Default: 100.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Error | GetV1OhlcvResponse200]
    """

    kwargs = _get_kwargs(
        symbol=symbol,
        vs=vs,
        interval=interval,
        limit=limit,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient | Client,
    symbol: str,
    vs: str | Unset = "USD",
    interval: GetV1OhlcvInterval | Unset = GetV1OhlcvInterval.VALUE_3,
    limit: int | Unset = 100,
) -> Error | GetV1OhlcvResponse200 | None:
    """Candles, oldest first

     Providers asked in order: binance → okx, coinbase, kraken → cryptocompare, coingecko → fallback.
    Answers are cached for 15s.

    Args:
        symbol (str):  Example: BTC.
        vs (str | Unset):  Default: 'USD'. Example: USD.
        interval (GetV1OhlcvInterval | Unset):  Default: GetV1OhlcvInterval.VALUE_3.
        limit (int | Unset):  Default: 100.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Error | GetV1OhlcvResponse200
    """

    return (
        await asyncio_detailed(
            client=client,
            symbol=symbol,
            vs=vs,
            interval=interval,
            limit=limit,
        )
    ).parsed
