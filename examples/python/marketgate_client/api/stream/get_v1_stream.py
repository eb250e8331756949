from http import HTTPStatus
from typing import Any, cast

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.error import Error
from ...models.get_v1_stream_interval import GetV1StreamInterval
from ...models.stream_book import StreamBook
from ...models.stream_candle import StreamCandle
from ...models.stream_status import StreamStatus
from ...models.stream_ticker import StreamTicker
from ...models.stream_trade import StreamTrade
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    symbols: str,
    channels: str | Unset = "trades,ticker",
    vs: str | Unset = "USD",
    interval: GetV1StreamInterval | Unset = GetV1StreamInterval.VALUE_0,
    depth: int | Unset = 20,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    params["symbols"] = symbols

    params["channels"] = channels

    params["vs"] = vs

    json_interval: str | Unset = UNSET
    if not isinstance(interval, Unset):
        json_interval = interval.value

    params["interval"] = json_interval

    params["depth"] = depth

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/stream",
        "params": params,
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> (
    Any
    | Error
    | StreamBook
    | StreamCandle
    | StreamStatus
    | StreamTicker
    | StreamTrade
    | None
):
    if response.status_code == 101:
        response_101 = cast(Any, None)
        return response_101

    if response.status_code == 200:

        def _parse_response_200(
            data: object,
        ) -> StreamBook | StreamCandle | StreamStatus | StreamTicker | StreamTrade:
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_stream_message_type_0 = StreamTrade.from_dict(data)

                return componentsschemas_stream_message_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_stream_message_type_1 = StreamTicker.from_dict(data)

                return componentsschemas_stream_message_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_stream_message_type_2 = StreamCandle.from_dict(data)

                return componentsschemas_stream_message_type_2
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_stream_message_type_3 = StreamBook.from_dict(data)

                return componentsschemas_stream_message_type_3
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            if not isinstance(data, dict):
                raise TypeError()
            componentsschemas_stream_message_type_4 = StreamStatus.from_dict(data)

            return componentsschemas_stream_message_type_4

        response_200 = _parse_response_200(response.text)

        return response_200

    if response.status_code == 400:
        response_400 = Error.from_dict(response.json())

        return response_400

    if response.status_code == 405:
        response_405 = Error.from_dict(response.json())

        return response_405

    if response.status_code == 414:
        response_414 = Error.from_dict(response.json())

        return response_414

    if response.status_code == 429:
        response_429 = Error.from_dict(response.json())

        return response_429

    if response.status_code == 503:
        response_503 = Error.from_dict(response.json())

        return response_503

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[
    Any | Error | StreamBook | StreamCandle | StreamStatus | StreamTicker | StreamTrade
]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient | Client,
    symbols: str,
    channels: str | Unset = "trades,ticker",
    vs: str | Unset = "USD",
    interval: GetV1StreamInterval | Unset = GetV1StreamInterval.VALUE_0,
    depth: int | Unset = 20,
) -> Response[
    Any | Error | StreamBook | StreamCandle | StreamStatus | StreamTicker | StreamTrade
]:
    """Live trades, tickers, candles and order books from the binance stream

     One upstream connection carries every client's symbols. A client that reads too slowly loses
    messages and is told so with a `gap` status (a book client with `resync` and a fresh snapshot).
    While every binance stream host is refused or down, trades and tickers come from the next stream in
    turn (coinbase, kraken, okx), its messages naming that `provider`. While no stream host answers,
    tickers come from /v1/ticker every 2000 ms.

    Args:
        symbols (str):
        channels (str | Unset):  Default: 'trades,ticker'.
        vs (str | Unset):  Default: 'USD'.
        interval (GetV1StreamInterval | Unset):  Default: GetV1StreamInterval.VALUE_0.
        depth (int | Unset):  Default: 20.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Any | Error | StreamBook | StreamCandle | StreamStatus | StreamTicker | StreamTrade]
    """

    kwargs = _get_kwargs(
        symbols=symbols,
        channels=channels,
        vs=vs,
        interval=interval,
        depth=depth,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient | Client,
    symbols: str,
    channels: str | Unset = "trades,ticker",
    vs: str | Unset = "USD",
    interval: GetV1StreamInterval | Unset = GetV1StreamInterval.VALUE_0,
    depth: int | Unset = 20,
) -> (
    Any
    | Error
    | StreamBook
    | StreamCandle
    | StreamStatus
    | StreamTicker
    | StreamTrade
    | None
):
    """Live trades, tickers, candles and order books from the binance stream

     One upstream connection carries every client's symbols. A client that reads too slowly loses
    messages and is told so with a `gap` status (a book client with `resync` and a fresh snapshot).
    While every binance stream host is refused or down, trades and tickers come from the next stream in
    turn (coinbase, kraken, okx), its messages naming that `provider`. While no stream host answers,
    tickers come from /v1/ticker every 2000 ms.

    Args:
        symbols (str):
        channels (str | Unset):  Default: 'trades,ticker'.
        vs (str | Unset):  Default: 'USD'.
        interval (GetV1StreamInterval | Unset):  Default: GetV1StreamInterval.VALUE_0.
        depth (int | Unset):  Default: 20.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Any | Error | StreamBook | StreamCandle | StreamStatus | StreamTicker | StreamTrade
    """

    return sync_detailed(
        client=client,
        symbols=symbols,
        channels=channels,
        vs=vs,
        interval=interval,
        depth=depth,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient | Client,
    symbols: str,
    channels: str | Unset = "trades,ticker",
    vs: str | Unset = "USD",
    interval: GetV1StreamInterval | Unset = GetV1StreamInterval.VALUE_0,
    depth: int | Unset = 20,
) -> Response[
    Any | Error | StreamBook | StreamCandle | StreamStatus | StreamTicker | StreamTrade
]:
    """Live trades, tickers, candles and order books from the binance stream

     One upstream connection carries every client's symbols. A client that reads too slowly loses
    messages and is told so with a `gap` status (a book client with `resync` and a fresh snapshot).
    While every binance stream host is refused or down, trades and tickers come from the next stream in
    turn (coinbase, kraken, okx), its messages naming that `provider`. While no stream host answers,
    tickers come from /v1/ticker every 2000 ms.

    Args:
        symbols (str):
        channels (str | Unset):  Default: 'trades,ticker'.
        vs (str | Unset):  Default: 'USD'.
        interval (GetV1StreamInterval | Unset):  Default: GetV1StreamInterval.VALUE_0.
        depth (int | Unset):  Default: 20.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Any | Error | StreamBook | StreamCandle | StreamStatus | StreamTicker | StreamTrade]
    """

    kwargs = _get_kwargs(
        symbols=symbols,
        channels=channels,
        vs=vs,
        interval=interval,
        depth=depth,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient | Client,
    symbols: str,
    channels: str | Unset = "trades,ticker",
    vs: str | Unset = "USD",
    interval: GetV1StreamInterval | Unset = GetV1StreamInterval.VALUE_0,
    depth: int | Unset = 20,
) -> (
    Any
    | Error
    | StreamBook
    | StreamCandle
    | StreamStatus
    | StreamTicker
    | StreamTrade
    | None
):
    """Live trades, tickers, candles and order books from the binance stream

     One upstream connection carries every client's symbols. A client that reads too slowly loses
    messages and is told so with a `gap` status (a book client with `resync` and a fresh snapshot).
    While every binance stream host is refused or down, trades and tickers come from the next stream in
    turn (coinbase, kraken, okx), its messages naming that `provider`. While no stream host answers,
    tickers come from /v1/ticker every 2000 ms.

    Args:
        symbols (str):
        channels (str | Unset):  Default: 'trades,ticker'.
        vs (str | Unset):  Default: 'USD'.
        interval (GetV1StreamInterval | Unset):  Default: GetV1StreamInterval.VALUE_0.
        depth (int | Unset):  Default: 20.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Any | Error | StreamBook | StreamCandle | StreamStatus | StreamTicker | StreamTrade
    """

    return (
        await asyncio_detailed(
            client=client,
            symbols=symbols,
            channels=channels,
            vs=vs,
            interval=interval,
            depth=depth,
        )
    ).parsed
