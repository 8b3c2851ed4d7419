"""moto's request handlers called without Flask: installed in the emulator process.

moto's server wraps every service in a Flask application: per request Flask pushes an
application and a request context, matches the URL against the service's rules, runs its
debug helpers and flask-cors, and builds a werkzeug response, all around a handler
(``convert_to_flask_response``) that re-reads the request and calls moto's
``BaseResponse.dispatch``. Measured in the emulator (py-spy, the pipeline's calls): a fifth of
its busy time was that wrapping.

``DirectDispatch`` does what the wrapper does and nothing else: it finds the service's
application as moto's dispatcher does, matches the URL once per method and path (remembered),
builds moto's own ``Request`` from the WSGI environ and calls the handler the rule names with
the arguments ``convert_to_flask_response`` passes. Its answer carries the same status, headers
and body, with the one header flask-cors adds to every answer (``Access-Control-Allow-Origin:
*``) and werkzeug's default content type where moto gave none. Requests where Flask does more
(``OPTIONS`` and any request with an ``Origin``, which flask-cors answers; ``HEAD``, whose
length Flask adjusts; paths Flask redirects; rules that are not moto handlers) go through
Flask as before.

Also cached: the list of a response class's method names, which moto builds with
``inspect.getmembers`` on every request to check that the action exists.

Written against moto 5.2.5 (``local.aws.sqs_indexes.check_moto_version`` guards every fix module).
"""

import functools
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any

import moto.core.responses
from botocore.exceptions import ClientError
from moto.core.request import (
    PRESERVED_HEADER_NAMES_ENVIRON_KEY,
    Request,
    environ_key_for_header,
)
from moto.core.utils import convert_to_flask_response, method_names_from_class
from moto.moto_api import recorder
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RequestRedirect
from werkzeug.sansio.utils import get_current_url

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

MAX_REMEMBERED_ROUTES = 512
DEFAULT_CONTENT_TYPE = "text/html; charset=utf-8"  # werkzeug's, when moto names none
CORS_HEADERS = (("Access-Control-Allow-Origin", "*"),)  # flask-cors' defaults, on every answer

Handler = Callable[[Request, str, dict[str, str]], Any]
Answer = tuple[int, list[tuple[str, str]], bytes]


class DirectRequest(Request):
    """moto's request as its server builds it (it tells moto a real server received it).

    Its root URL (``http://host:port/``, part of the URL moto reads) is werkzeug's, remembered
    per scheme, host and root path: werkzeug converts it to an IRI on every request.
    """

    from_wsgi_server = True

    @cached_property
    def root_url(self) -> str:
        return _root_url(self.scheme, self.host, self.root_path)


@functools.lru_cache(maxsize=MAX_REMEMBERED_ROUTES)
def _root_url(scheme: str, host: str, root_path: str) -> str:
    return get_current_url(scheme, host, root_path)


def header_dict(environ: "WSGIEnvironment") -> dict[str, str]:
    """``dict(request.headers)``: moto's and werkzeug's ``EnvironHeaders.__iter__`` in one
    pass (the ``dict`` of the headers object asks for its keys, then looks each one up again)."""
    headers: dict[str, str] = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            if key not in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
                headers[key[5:].replace("_", "-").title()] = value
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
            headers[key.replace("_", "-").title()] = value
    preserved = environ.get(PRESERVED_HEADER_NAMES_ENVIRON_KEY)
    if preserved:  # names whose underscores S3 keeps, as moto's headers report them
        return {preserved.get(environ_key_for_header(k), k): v for k, v in headers.items()}
    return headers


class DirectDispatch:
    """Answers a WSGI environ with moto's handler, or ``None`` where Flask must answer."""

    def __init__(self, dispatcher: "DomainDispatcherApplication"):
        self._dispatcher = dispatcher
        self._routes: dict[tuple[int, str, str], Handler | None] = {}

    def _handler(self, environ: "WSGIEnvironment") -> Handler | None:
        app = self._dispatcher.get_application(environ)  # may re-wind wsgi.input: the same dict
        route = (id(app), environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""))
        if route in self._routes:
            return self._routes[route]
        try:
            endpoint, _ = app.url_map.bind_to_environ(environ).match()
        except (HTTPException, RequestRedirect):
            handler = None  # Flask answers (404, 405, a redirect) as before
        else:
            view = app.view_functions.get(endpoint)
            handler = view.callback if isinstance(view, convert_to_flask_response) else None
        if len(self._routes) < MAX_REMEMBERED_ROUTES:
            self._routes[route] = handler
        return handler

    def __call__(self, environ: "WSGIEnvironment") -> Answer | None:
        method = environ["REQUEST_METHOD"]
        if method in ("HEAD", "OPTIONS") or "HTTP_ORIGIN" in environ:
            return None
        handler = self._handler(environ)
        if handler is None:
            return None
        request = DirectRequest(environ)
        recorder._record_request(request)
        try:
            result = handler(request, request.raw_url, header_dict(environ))
        except ClientError as exc:
            result = 400, {}, exc.response["Error"]["Message"]
        finally:
            # werkzeug keeps the request in its environ: a cycle, which only the collector
            # frees, and never once the emulator has frozen it (local.aws.server). Without
            # the cycle, the request goes when its last reference does.
            environ.pop("werkzeug.request", None)
        status, headers, content = result if len(result) == 3 else (200, {}, result)
        return _answer(status, headers, content)


def _answer(status: Any, headers: dict[str, Any], content: Any) -> Answer:
    """What werkzeug's ``Response(content, status, headers)`` and flask-cors would send."""
    pairs = [
        (str(name), str(one))
        for name, value in headers.items()
        for one in (value if isinstance(value, list | tuple) else [value])
    ]
    if not any(name.lower() == "content-type" for name, _ in pairs):
        pairs.insert(0, ("Content-Type", DEFAULT_CONTENT_TYPE))
    pairs.extend(CORS_HEADERS)
    if content is None:
        body = b""
    elif isinstance(content, bytes | str):
        body = content.encode() if isinstance(content, str) else content
    else:  # an iterable of chunks, as werkzeug accepts
        body = b"".join(c.encode() if isinstance(c, str) else c for c in content)
    return int(str(status).split(" ", 1)[0]), pairs, body


@functools.cache
def _method_names(response_class: type) -> list[str]:
    return method_names_from_class(response_class)


_moto_own = moto.core.responses.method_names_from_class  # type: ignore[attr-defined]


def install(on: bool = True) -> None:
    """``on=False`` puts moto's own back (a benchmark's baseline)."""
    names = _method_names if on else _moto_own
    moto.core.responses.method_names_from_class = names  # type: ignore[attr-defined]
