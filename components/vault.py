"""Reading Vault for the spec's `vault:` references: one login per run, KV v1 and v2, every fault named.

A `VaultSession` is made once per run, from the spec's `vault` block (components/spec/vault.py)
and the environment: the address from `VAULT_ADDR`, the namespace from the spec or
`VAULT_NAMESPACE`, TLS overrides from `VAULT_CACERT` / `VAULT_CAPATH` / `VAULT_SKIP_VERIFY`
only where the spec allows them. It logs in on the first read (token, AppRole, JWT or
Kubernetes), keeps the token in memory only, and answers every later read with that login.

Each mount's KV version is asked of Vault, as the Vault CLI does before every `kv` command
(command/kv_helpers.go `kvPreflightVersionRequest`: GET `sys/internal/ui/mounts/<path>`, whose
`options.version` is "1" or "2" and `type` "kv"), so a reference is the same for both versions.

Every failure is a `SecretUnavailableError` whose message says what went wrong and never holds
a value (a secret, a token, a reply's body). Transient failures (a connection refused or reset,
a timeout, a 5xx other than a sealed Vault's) are retried `RETRY_ATTEMPTS` times in all, waiting
`RETRY_DELAYS` between attempts; the rest fail at once.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .secrets import SecretUnavailableError

if TYPE_CHECKING:  # the spec package imports components.secrets, which imports this module lazily
    from .spec.vault import VaultAuthSpec, VaultSpec

#: Attempts per request, and the waits between them (seconds): 4 attempts within 3.5 s.
RETRY_ATTEMPTS = 4
RETRY_DELAYS = (0.5, 1.0, 2.0)
#: Seconds before a request to Vault (or GitHub's token endpoint) gives up.
TIMEOUT_SECONDS = 10


class _TransientError(Exception):
    """A failure worth another attempt; carries the message for when attempts run out."""

    def __init__(self, message: str, *, never_sent: bool = False) -> None:
        super().__init__(message)
        #: The request never reached the server (no connection was made): safe to send again.
        self.never_sent = never_sent


def _truthy(value: str | None) -> bool:
    # The Vault CLI reads VAULT_SKIP_VERIFY with strconv.ParseBool (api/client.go ReadEnvironment).
    return value is not None and value.strip().lower() in ("1", "t", "true")


class VaultSession:
    """One run's access to Vault (see the module docstring)."""

    def __init__(
        self,
        spec: VaultSpec | None = None,
        environ: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        from .spec.vault import VaultSpec

        self.spec = spec or VaultSpec()
        self.environ = dict(os.environ if environ is None else environ)
        self.sleep = sleep
        self._client: Any = None
        self._login_failure: str | None = None
        self._located: dict[str, tuple[str, str, str]] = {}
        self.address = self.environ.get("VAULT_ADDR", "")

    # -- the client ----------------------------------------------------------------------------------

    def _verify(self) -> bool | str:
        tls = self.spec.tls
        # VAULT_CACERT_BYTES and VAULT_TLS_SERVER_NAME: read by the Vault provider of write-back
        # (terraform-provider-vault meta.go), the same kind of override.
        for variable in ("VAULT_CACERT", "VAULT_CAPATH", "VAULT_CACERT_BYTES", "VAULT_TLS_SERVER_NAME"):
            if self.environ.get(variable) and not tls.allow_ca_from_environment:
                raise SecretUnavailableError(
                    f"{variable} is set but the stack does not allow a CA from the environment "
                    "(vault.tls.allow_ca_from_environment)"
                )
        if _truthy(self.environ.get("VAULT_SKIP_VERIFY")):
            if not tls.allow_skip_verify:
                raise SecretUnavailableError(
                    "VAULT_SKIP_VERIFY is set but the stack does not allow skipping certificate checks "
                    "(vault.tls.allow_skip_verify)"
                )
            import urllib3

            # The stack asked for it: urllib3's warning on every request would only bury the plan.
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
            return False
        # VAULT_CACERT before VAULT_CAPATH, as the Vault CLI and hvac take them (api/client.go
        # ReadEnvironment; hvac/v1/__init__.py). Without either, the bundle requests ships (certifi)
        # by path: requests swaps a verify=True for REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE
        # (requests/sessions.py merge_environment_settings), variables a runner sets for other
        # tools, which must not decide whom the run trusts with its Vault credentials.
        import certifi

        return self.environ.get("VAULT_CACERT") or self.environ.get("VAULT_CAPATH") or certifi.where()

    def tls_problem(self) -> str | None:
        """What is wrong with the environment's TLS overrides for this stack, if anything."""
        try:
            self._verify()
        except SecretUnavailableError as error:
            return str(error)
        return None

    def client(self) -> Any:
        """The logged-in hvac client (logging in on first use; a failed login fails every later call)."""
        if self._client is not None:
            return self._client
        if self._login_failure is not None:
            raise SecretUnavailableError(self._login_failure)
        try:
            self._client = self._login()
        except SecretUnavailableError as error:
            self._login_failure = str(error)
            raise
        return self._client

    def _login(self) -> Any:
        import hvac  # imported here: only stacks that use Vault pay for it

        if not self.address:
            raise SecretUnavailableError("VAULT_ADDR is not set")
        namespace = self.spec.namespace or self.environ.get("VAULT_NAMESPACE") or None
        # token="": hvac would otherwise take VAULT_TOKEN / ~/.vault-token from the real environment
        # and send it along with another method's login.
        client = hvac.Client(
            url=self.address,
            # Any other text would do as well: login endpoints ignore a token sent along (OpenBao, tests/test_vault.py).
            token="",  # pragma: no mutate - equivalent, see above
            verify=self._verify(),
            namespace=namespace,
            timeout=TIMEOUT_SECONDS,
        )
        auth = self.spec.auth
        where = f"{auth.method} login at auth/{auth.mount_path}"
        if auth.method == "token":
            token = self.environ.get("VAULT_TOKEN") or _token_file(self.environ)
            if not token:
                raise SecretUnavailableError("no Vault token: set VAULT_TOKEN, or log in first (~/.vault-token)")
            client.token = token
            # A token is checked here, once, so that an expired or revoked one is named as such.
            self._call(lambda: client.auth.token.lookup_self(), "token lookup", token_check=True)
            return client
        if auth.method == "approle":
            role_id = self._required_env(auth.role_id_env, "the AppRole role ID")
            secret_id = self._secret_id(auth)
            # Not retried once sent: AppRole spends a single-use secret ID before it issues the token
            # (approle path_login.go), so a retry after a lost reply would be refused.
            self._call(
                lambda: client.auth.approle.login(role_id=role_id, secret_id=secret_id, mount_point=auth.mount_path),
                where,
                login=True,
                idempotent=False,  # pragma: no mutate - `_call` reads it as a truth value: None alike
            )
            return client
        assert auth.role is not None  # VaultAuthSpec requires it for jwt and kubernetes
        role = auth.role
        if auth.method == "jwt":
            jwt = self._identity_token(auth)
            self._call(lambda: client.auth.jwt.jwt_login(role=role, jwt=jwt, path=auth.mount_path), where, login=True)
            return client
        jwt = _read_file(auth.token_file, "the Kubernetes service account token")
        self._call(
            lambda: client.auth.kubernetes.login(role=role, jwt=jwt, mount_point=auth.mount_path), where, login=True
        )
        return client

    def _required_env(self, variable: str, what: str) -> str:
        value = self.environ.get(variable)
        if not value:
            raise SecretUnavailableError(f"{variable} is not set ({what})")
        return value

    def _secret_id(self, auth: VaultAuthSpec) -> str:
        if auth.secret_id_file is not None:
            return _read_file(auth.secret_id_file, "the AppRole secret ID")
        return self._required_env(auth.secret_id_env, "the AppRole secret ID")

    def _identity_token(self, auth: VaultAuthSpec) -> str:
        if auth.token_source == "env":
            return self._required_env(auth.token_env, "the CI job's identity token")
        # GitHub Actions: GET $ACTIONS_ID_TOKEN_REQUEST_URL&audience=<aud> with the request token as
        # a bearer token answers {"value": <JWT>} (GitHub docs, "About security hardening with
        # OpenID Connect", requesting the token; actions/toolkit core getIDToken).
        import requests

        url = self._required_env("ACTIONS_ID_TOKEN_REQUEST_URL", "GitHub Actions' OIDC endpoint: `id-token: write`")
        bearer = self._required_env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "GitHub Actions' OIDC request token")

        def fetch() -> str:
            try:
                reply = requests.get(
                    url,
                    params={"audience": auth.audience},
                    # HTTP header names are case-insensitive (RFC 9110, 5.1): any spelling is the same header.
                    headers={"Authorization": f"Bearer {bearer}"},  # pragma: no mutate - equivalent, see above
                    timeout=TIMEOUT_SECONDS,
                )
            except requests.exceptions.RequestException as error:
                problem = type(error).__name__
                raise _TransientError(f"GitHub's OIDC token endpoint could not be reached ({problem})") from None
            if reply.status_code >= 500:
                raise _TransientError(f"GitHub's OIDC token endpoint answered HTTP {reply.status_code}")
            if reply.status_code != 200:
                status = reply.status_code
                raise SecretUnavailableError(f"GitHub's OIDC token endpoint refused the request (HTTP {status})")
            try:
                value = reply.json()["value"]
            except (ValueError, KeyError, TypeError):
                value = None  # pragma: no mutate - "" fails the check below alike
            if not isinstance(value, str) or not value:
                raise SecretUnavailableError("GitHub's OIDC token endpoint answered without a token")
            return value

        token: str = self._retry(fetch)
        return token

    # -- requests --------------------------------------------------------------------------------------

    def _retry(self, attempt: Callable[[], Any]) -> Any:
        for number in range(RETRY_ATTEMPTS):
            try:
                return attempt()
            except _TransientError as transient:
                if number == RETRY_ATTEMPTS - 1:
                    raise SecretUnavailableError(f"{transient} (after {RETRY_ATTEMPTS} attempts)") from None
                self.sleep(RETRY_DELAYS[number])
        raise AssertionError("unreachable")  # pragma: no cover, no mutate - the loop returns or raises

    def _call(
        self,
        request: Callable[[], Any],
        what: str,
        *,
        login: bool = False,
        token_check: bool = False,
        handled: tuple[type[Exception], ...] = (),
        idempotent: bool = True,
    ) -> Any:
        """Run one hvac request with retries, turning every failure into a message without values.

        :param handled: hvac exceptions the caller turns into its own message (403, 404 of a read).
        :param idempotent: whether a request Vault may have received can be sent again; if not, only
            a request that never left (no connection) is retried.
        """
        import hvac
        import requests

        def attempt() -> Any:
            try:
                return checked()
            except _TransientError as transient:
                if idempotent or transient.never_sent:
                    raise
                raise SecretUnavailableError(
                    f"{transient} during the {what}; not retried, since Vault may have received it (an AppRole "
                    "secret ID may be single-use: check that it is still valid)"
                ) from None

        def checked() -> Any:
            try:
                reply = request()
            except requests.exceptions.SSLError:
                raise SecretUnavailableError(
                    f"TLS with Vault at {self.address} failed: its certificate is not trusted or does not match "
                    "(a private CA: VAULT_CACERT with vault.tls.allow_ca_from_environment)"
                ) from None
            except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as error:
                raise _TransientError(
                    f"Vault at {self.address} is unreachable ({type(error).__name__})", never_sent=_never_sent(error)
                ) from None
            except OSError as error:  # a CA file or directory that cannot be read
                raise SecretUnavailableError(
                    f"TLS with Vault at {self.address} could not be set up ({type(error).__name__}: check the CA path)"
                ) from None
            except hvac.exceptions.VaultDown as error:
                if _sealed(error):
                    raise SecretUnavailableError(f"Vault at {self.address} is sealed") from None
                if _locked(error):
                    raise SecretUnavailableError(f"Vault at {self.address} has its API locked") from None
                raise _TransientError(f"Vault at {self.address} is unavailable (HTTP 503)") from None
            except (hvac.exceptions.InternalServerError, hvac.exceptions.BadGateway) as error:
                raise _TransientError(f"Vault at {self.address} answered HTTP {_status(error)}") from None
            except handled:
                raise
            except hvac.exceptions.Forbidden:
                if token_check:
                    raise SecretUnavailableError("the Vault token is invalid, expired or revoked") from None
                # Only a login gets here: the mount lookup and reads handle their 403 (`handled`). A
                # login at a mount that does not exist is refused the same way: the request carries
                # no token, and Vault answers 403 to any unauthenticated unknown path.
                raise SecretUnavailableError(
                    f"Vault refused the {what} (check the role, its credentials and that the auth method is enabled "
                    "at that mount)"
                ) from None
            except hvac.exceptions.InvalidPath:
                if login:
                    raise SecretUnavailableError(f"Vault has no {what} (is the auth method enabled there?)") from None
                raise SecretUnavailableError(
                    f"{self.address} has no {what} (HTTP 404): is VAULT_ADDR a Vault server?"
                ) from None
            except (hvac.exceptions.InvalidRequest, hvac.exceptions.Unauthorized) as error:
                advice = "check the role and its credentials" if login else "check the reference"
                raise SecretUnavailableError(f"Vault refused the {what} (HTTP {_status(error)}: {advice})") from None
            except hvac.exceptions.VaultError as error:
                raise SecretUnavailableError(
                    f"Vault at {self.address} answered the {what} with an unexpected reply (HTTP {_status(error)})"
                ) from None
            except ValueError:  # a body announced as JSON that is not
                raise self._not_vault(what) from None
            except (TypeError, KeyError):  # hvac's login reading `auth` from a reply that is not Vault's
                raise self._not_vault(what) from None
            # hvac hands back the raw response when a 200's body is not JSON (hvac/adapters.py
            # JSONAdapter.request): a proxy's sign-in page, an empty body. Vault's replies are JSON.
            if isinstance(reply, requests.Response):
                raise self._not_vault(what)
            return reply

        return self._retry(attempt)

    def _not_vault(self, what: str) -> SecretUnavailableError:
        return SecretUnavailableError(
            f"the reply from {self.address} to the {what} is not Vault's (not JSON: a proxy or another server?)"
        )

    # -- reading ---------------------------------------------------------------------------------------

    def locate(self, mount: str, path: str) -> tuple[str, str, str]:
        """Where the secret `mount`/`path` lives: (its mount, its path inside the mount, the KV version).

        Asked as the Vault CLI asks before every `kv` command (command/kv_helpers.go
        kvPreflightVersionRequest): `sys/internal/ui/mounts/<full path>` answers with the longest
        mount that holds the path (`data.path`), its `type` and `options.version` (none: version 1),
        so a mount below another (`kv/prod`) is found whatever the reference's first segment is.
        """
        import hvac

        client = self.client()
        # Neither part starts or ends with "/" (secrets.py VAULT_REF, the spec's reference pattern).
        full = f"{mount}/{path}"
        if full not in self._located:
            try:
                reply = self._call(
                    lambda: client.adapter.get(f"/v1/sys/internal/ui/mounts/{full}"),
                    "mount lookup",
                    handled=(hvac.exceptions.Forbidden, hvac.exceptions.InvalidPath),
                )
            except (hvac.exceptions.Forbidden, hvac.exceptions.InvalidPath):
                # The server answers 403 alike for a mount that does not exist (even to a root token)
                # and for one the token may not see: tests/test_vault.py shows both on OpenBao.
                message = f"no mount {mount} this token may read in Vault (missing, or its policies deny it)"
                raise SecretUnavailableError(message) from None
            data = reply.get("data") if isinstance(reply, dict) else None
            data = data if isinstance(data, dict) else {}
            # Whatever text stands for "no path" here, no mount's path equals it: the check below fails alike.
            answered = data.get("path") or ""  # pragma: no mutate - equivalent, see above
            found = str(answered).strip("/")
            if not found or not (full == found or full.startswith(f"{found}/")):
                raise SecretUnavailableError(f"the reply from {self.address} about mount {mount} is not Vault's")
            kind = data.get("type")
            if kind not in ("kv", "generic"):
                raise SecretUnavailableError(f"mount {found} is a {kind} secrets engine, not KV")
            version = str((data.get("options") or {}).get("version") or "1")
            if version not in ("1", "2"):
                raise SecretUnavailableError(f"mount {found} is KV version {version}, which Meridian cannot read")
            self._located[full] = (found, full[len(found) :].strip("/"), version)
        return self._located[full]

    def read(self, mount: str, path: str, field: str) -> str:
        """The value of `field` in the secret at `mount`/`path` (KV v1 or v2)."""
        import hvac

        client = self.client()
        mount, path, version = self.locate(mount, path)
        where = f"{mount}/{path}"
        denied_or_missing = (hvac.exceptions.Forbidden, hvac.exceptions.InvalidPath)
        try:
            if version == "2":
                # Explicit True: the default (None) means True today with a DeprecationWarning in the
                # user's output, and False from hvac 3 (a deleted latest version would then be read as
                # metadata without data instead of an error).
                reply = self._call(
                    lambda: client.secrets.kv.v2.read_secret_version(
                        path=path, mount_point=mount, raise_on_deleted_version=True
                    ),
                    f"read of {where}",
                    handled=denied_or_missing,
                )
                data = reply["data"]["data"]  # KV v2: {"data": {"data": {...}, "metadata": {...}}}
            else:
                reply = self._call(
                    lambda: client.secrets.kv.v1.read_secret(path=path, mount_point=mount),
                    f"read of {where}",
                    handled=denied_or_missing,
                )
                data = reply["data"]  # KV v1: {"data": {...}}
        except hvac.exceptions.Forbidden:
            raise SecretUnavailableError(f"Vault denied reading {where} (check the token's policies)") from None
        except hvac.exceptions.InvalidPath:
            raise SecretUnavailableError(f"no secret at {where} in Vault (KV version {version})") from None
        except (KeyError, TypeError):
            raise SecretUnavailableError(f"the reply from {self.address} for {where} is not Vault's") from None
        if not isinstance(data, dict) or field not in data:
            raise SecretUnavailableError(f"secret {where} in Vault has no field '{field}'")
        return str(data[field])


def _token_file(environ: Mapping[str, str]) -> str | None:
    # ~/.vault-token, as `vault login` (and `bao login`) writes it (hvac utils.get_token_from_env).
    home = environ.get("HOME") or os.path.expanduser("~")
    path = os.path.join(home, ".vault-token")
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as handle:  # pragma: no mutate - an ASCII token reads alike in any encoding
        return handle.read().strip() or None


def _read_file(path: str, what: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:  # pragma: no mutate - ASCII credentials read alike in any encoding
            value = handle.read().strip()
    except OSError as error:
        raise SecretUnavailableError(f"{what} could not be read from {path} ({type(error).__name__})") from None
    if not value:
        raise SecretUnavailableError(f"{what} file {path} is empty")
    return value


def _status(error: Exception) -> str:
    """The HTTP status an hvac exception stands for (hvac/exceptions.py VaultError.from_status)."""
    import hvac

    statuses = {
        hvac.exceptions.InvalidRequest: "400",
        hvac.exceptions.Unauthorized: "401",
        hvac.exceptions.Forbidden: "403",
        hvac.exceptions.InvalidPath: "404",
        hvac.exceptions.RateLimitExceeded: "429",
        hvac.exceptions.InternalServerError: "500",
        hvac.exceptions.VaultNotInitialized: "501",
        hvac.exceptions.BadGateway: "502",
        hvac.exceptions.VaultDown: "503",
    }
    return statuses.get(type(error), "other than 2xx")


def _never_sent(error: Exception) -> bool:
    """Whether a requests error means no connection was made (so the server saw nothing)."""
    import requests
    import urllib3

    if isinstance(error, requests.exceptions.ConnectTimeout):
        return True
    reason = getattr(error.args[0], "reason", None) if error.args else None
    return isinstance(reason, urllib3.exceptions.NewConnectionError)


def _locked(error: Exception) -> bool:
    # OpenBao/Vault answer 503 "API access to this namespace has been locked by an administrator"
    # (sdk/helper/consts ErrAPILocked): an operator's decision, not worth retrying.
    errors = getattr(error, "errors", None) or []
    return any("locked" in str(message).lower() for message in errors)


def _sealed(error: Exception) -> bool:
    # A sealed Vault answers 503 with the error "Vault is sealed" (vault/http/handler.go respondError
    # with consts.ErrSealed), which hvac keeps in `errors`.
    errors = getattr(error, "errors", None) or []
    return any("sealed" in str(message).lower() for message in errors)
