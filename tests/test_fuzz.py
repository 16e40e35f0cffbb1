"""Property-based fuzzing of the core's parsers and verifier (hypothesis, bounded): every
target of :mod:`sigv4_testsupport.fuzzing` (its strategies and checks, shared with
scripts/fuzz_long.py, which runs them for many more cases), here limited to 200 examples
each."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from sigv4_testsupport.fuzzing import BY_NAME, Ctx, build_ctx

FUZZ = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# -- the tests --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory) -> Ctx:
    return build_ctx(tmp_path_factory.mktemp("fuzz-home"))


def _run(name: str) -> Callable[[Ctx], None]:
    target = BY_NAME[name]

    @FUZZ
    @given(x=target.strategy)
    def run(ctx: Ctx, x: Any) -> None:
        target.check(ctx, x)

    return run


test_parse_auth = _run("parse_auth")
test_canonicaliser = _run("canonical")
test_chunked_random_bytes = _run("chunked_random")
test_chunked_valid_bodies_any_slicing = _run("chunked_valid")
test_verify_session_any_slicing = _run("verify_slicing")
test_verify_mutated_signed_requests = _run("verify_mutated")
test_parse_error_response = _run("server_error")
test_learn_from_response = _run("learn")


@settings(
    max_examples=25,  # each case floods: up to 20,000 headers or echo lines
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(x=BY_NAME["floods"].strategy)
def test_structural_floods_stay_bounded_and_secret_free(ctx: Ctx, x: Any) -> None:
    BY_NAME["floods"].check(ctx, x)


def test_targets_are_all_tested() -> None:
    tested = {
        "parse_auth", "canonical", "chunked_random", "chunked_valid", "verify_slicing",
        "verify_mutated", "server_error", "learn", "floods",
    }  # fmt: skip
    assert tested == set(BY_NAME)
