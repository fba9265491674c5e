"""Who is calling, and which namespaces they may touch.

Two kinds of caller: an API token (one namespace, scopes `ingest` and/or `read`) and a signed-in user
(memberships; a browser session may read). Every view asks `Access.of(request)` which namespaces it may use
and scopes its queries with `in_namespaces(access.readable)` before anything else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from rest_framework import authentication, exceptions, permissions
from rest_framework.request import Request

from jobs.choices import Role, Scope
from jobs.models import ApiToken, Membership, Namespace

_LAST_USED_RESOLUTION = timedelta(minutes=5)


def token_from_header(header: str | None) -> ApiToken | None:
    """Resolve `Bearer <token>` to a live token, or None when absent. Raises AuthenticationFailed when wrong."""
    if not header:
        return None
    scheme, _, raw = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    raw = raw.strip()
    if not raw:
        raise exceptions.AuthenticationFailed("The Authorization header has no token after 'Bearer'.")
    token = ApiToken.objects.select_related("namespace").filter(digest=ApiToken.digest_of(raw)).first()
    if token is None or token.revoked_at is not None:
        raise exceptions.AuthenticationFailed("The bearer token is not valid (unknown or revoked).")
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > _LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <token>`; request.user stays anonymous, request.auth is the ApiToken."""

    def authenticate(self, request: Request) -> tuple[Any, ApiToken] | None:
        token = token_from_header(request.META.get("HTTP_AUTHORIZATION"))
        if token is None:
            return None
        from django.contrib.auth.models import AnonymousUser

        return (AnonymousUser(), token)

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="jobtrace"'


@dataclass(frozen=True)
class Access:
    """The namespaces a caller may read and write. Built once per request."""

    readable: frozenset[int]
    writable: frozenset[int]
    token: ApiToken | None = None
    # Namespaces whose settings (retention) the caller may change: a user's admin memberships; never a token's.
    administered: frozenset[int] = frozenset()

    @classmethod
    def of(cls, request: HttpRequest | Request) -> Access:
        cached = getattr(request, "_jobtrace_access", None)
        if cached is not None:
            return cached
        token = getattr(request, "auth", None)
        if isinstance(token, ApiToken):
            ns = frozenset({token.namespace_id})
            access = cls(
                readable=ns if token.has_scope(Scope.READ) else frozenset(),
                writable=ns if token.has_scope(Scope.INGEST) else frozenset(),
                token=token,
            )
        else:
            user = getattr(request, "user", None)
            if user is None or not user.is_authenticated:
                access = cls(frozenset(), frozenset())
            elif user.is_superuser:
                ids = frozenset(Namespace.objects.values_list("id", flat=True))
                access = cls(ids, ids, administered=ids)
            else:
                rows = Membership.objects.filter(user=user).values_list("namespace_id", "role")
                readable = frozenset(ns for ns, _ in rows)
                writable = frozenset(ns for ns, role in rows if Role(role).can_edit)
                administered = frozenset(ns for ns, role in rows if role == Role.ADMIN)
                access = cls(readable, writable, administered=administered)
        request._jobtrace_access = access  # type: ignore[union-attr]
        return access

    def namespace_for_write(self, name: str | None) -> Namespace:
        """The namespace a body names (or the token's when it names none); 403 when the caller may not write it."""
        if self.token is not None:
            own = self.token.namespace
            if name in (None, "") or name == own.name:
                return own
            raise exceptions.PermissionDenied(
                f"This token belongs to namespace {own.name!r} and cannot write to namespace {name!r}."
            )
        if not name:
            raise exceptions.ValidationError({"namespace": ["This field is required for a signed-in user."]})
        namespace = Namespace.objects.filter(name=name, id__in=self.writable).first()
        if namespace is None:
            raise exceptions.PermissionDenied(f"You may not write to namespace {name!r}.")
        return namespace


class _ScopePermission(permissions.BasePermission):
    scope: str = ""

    def has_permission(self, request: Request, view: Any) -> bool:
        token = request.auth
        if isinstance(token, ApiToken):
            if not token.has_scope(self.scope):
                self.message = f"This token lacks the {str(self.scope)!r} scope."
                return False
            return True
        if request.user and request.user.is_authenticated:
            return self._session_allowed(request)
        return False

    def _session_allowed(self, request: Request) -> bool:
        return True


class ReadScope(_ScopePermission):
    """Tokens with `read`; signed-in users may read (what they see is scoped to their memberships)."""

    scope = Scope.READ


class IngestScope(_ScopePermission):
    """Tokens with `ingest`; signed-in users with an editor or admin role somewhere."""

    scope = Scope.INGEST

    def _session_allowed(self, request: Request) -> bool:
        return bool(Access.of(request).writable)
