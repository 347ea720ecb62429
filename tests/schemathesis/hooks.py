"""schemathesis hooks for tests/api/schemathesis.rs (loaded with
SCHEMATHESIS_HOOKS=hooks from this directory).

One check, `no_internal_error`, instead of schemathesis's
`not_a_server_error`: that one also fails on every GraphQL error, and in
Wayfarer's contract (CONTRACT.md) most errors a generated request earns are
correct business answers with their code — UNAUTHENTICATED, BAD_USER_INPUT,
NOT_FOUND, OFFER_EXPIRED. What must never happen is what this check fails
on: an HTTP 5xx, a body that is not a GraphQL JSON response, an error
without `extensions.code`, or one whose code is `INTERNAL` (an unexpected
failure the server masked).
"""
import datetime
import json

import schemathesis
from hypothesis import strategies as st
from schemathesis.graphql import nodes

# The schema's own scalars. Mostly valid values (dates from yesterday to a
# year ahead, so a search can pass validation and reach the providers), some
# arbitrary text, which must be a BAD_USER_INPUT and never more.
_today = datetime.date.today()
_dates = st.integers(min_value=-1, max_value=365).map(lambda d: (_today + datetime.timedelta(days=d)).isoformat())
schemathesis.graphql.scalar("Date", st.one_of(*[_dates] * 7, st.text(max_size=12)).map(nodes.String))
_times = st.datetimes(min_value=datetime.datetime(2020, 1, 1), max_value=datetime.datetime(2030, 1, 1)).map(
    lambda t: t.replace(microsecond=0).isoformat() + "Z"
)
schemathesis.graphql.scalar("DateTime", st.one_of(*[_times] * 7, st.text(max_size=12)).map(nodes.String))


def _errors(body):
    if isinstance(body, list):
        for item in body:
            yield from _errors(item)
    elif isinstance(body, dict):
        yield from body.get("errors") or []


@schemathesis.check
def no_internal_error(ctx, response, case):
    """No 5xx, and every GraphQL error has a contract code that is not INTERNAL."""
    if response.status_code >= 500:
        raise AssertionError(f"HTTP {response.status_code}: {response.text[:500]}")
    try:
        body = json.loads(response.text)
    except ValueError:
        raise AssertionError(f"HTTP {response.status_code} with a body that is not JSON: {response.text[:500]}")
    if not isinstance(body, (dict, list)):
        raise AssertionError(f"not a GraphQL response: {response.text[:500]}")
    for error in _errors(body):
        code = (error.get("extensions") or {}).get("code") if isinstance(error, dict) else None
        if code is None:
            raise AssertionError(f"an error without extensions.code: {json.dumps(error)[:500]}")
        if code == "INTERNAL":
            raise AssertionError(f"an INTERNAL error: {json.dumps(error)[:500]}")
    return None
