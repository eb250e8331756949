from http import HTTPStatus
from typing import Any, cast
from urllib.parse import quote

import httpx

from ...client import AuthenticatedClient, Client
from ...models.error import Error
from ...models.post_raw_provider_path_provider import PostRawProviderPathProvider
from ...types import Response


def _get_kwargs(
    provider: PostRawProviderPathProvider,
    path: str,
) -> dict[str, Any]:

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/raw/{provider}/{path}".format(
            provider=quote(str(provider), safe=""),
            path=quote(str(path), safe=""),
        ),
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Any | Error:
    if response.status_code == 404:
        response_404 = Error.from_dict(response.json())

        return response_404

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

    response_default = cast(Any, None)
    return response_default


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[Any | Error]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    provider: PostRawProviderPathProvider,
    path: str,
    *,
    client: AuthenticatedClient | Client,
) -> Response[Any | Error]:
    """Raw passthrough to the provider named in the path

     Forwarded with the provider's API key, host rotation, circuit breakers and budgets; the answer is
    the provider's own, not normalized.

    Args:
        provider (PostRawProviderPathProvider):
        path (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Any | Error]
    """

    kwargs = _get_kwargs(
        provider=provider,
        path=path,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    provider: PostRawProviderPathProvider,
    path: str,
    *,
    client: AuthenticatedClient | Client,
) -> Any | Error | None:
    """Raw passthrough to the provider named in the path

     Forwarded with the provider's API key, host rotation, circuit breakers and budgets; the answer is
    the provider's own, not normalized.

    Args:
        provider (PostRawProviderPathProvider):
        path (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Any | Error
    """

    return sync_detailed(
        provider=provider,
        path=path,
        client=client,
    ).parsed


async def asyncio_detailed(
    provider: PostRawProviderPathProvider,
    path: str,
    *,
    client: AuthenticatedClient | Client,
) -> Response[Any | Error]:
    """Raw passthrough to the provider named in the path

     Forwarded with the provider's API key, host rotation, circuit breakers and budgets; the answer is
    the provider's own, not normalized.

    Args:
        provider (PostRawProviderPathProvider):
        path (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Any | Error]
    """

    kwargs = _get_kwargs(
        provider=provider,
        path=path,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    provider: PostRawProviderPathProvider,
    path: str,
    *,
    client: AuthenticatedClient | Client,
) -> Any | Error | None:
    """Raw passthrough to the provider named in the path

     Forwarded with the provider's API key, host rotation, circuit breakers and budgets; the answer is
    the provider's own, not normalized.

    Args:
        provider (PostRawProviderPathProvider):
        path (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Any | Error
    """

    return (
        await asyncio_detailed(
            provider=provider,
            path=path,
            client=client,
        )
    ).parsed
