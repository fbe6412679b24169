"""The key registry: which user's key signed a message, and why a signature is refused."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from simulator.core.clock import ManualClock
from simulator.exchange import Exchange
from simulator.model.ledger import ApiKey
from simulator.risk.keys import KeyRegistry, VerificationError, VerificationFailure
from simulator.server import snapshots
from simulator.server.runtime import Runtime
from simulator.server.scenarios import FIXTURES_DIR, load_scenario
from tests.simulator.factories import make_exchange

DEMO_KEY_ID = "729aea2e-28da-532a-8351-72015c9673b0"
MESSAGE = b"1781481600000GET/trade-api/ws/v2/margin"
SALT_32 = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
SALT_MAX = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.MAX_LENGTH)


def _load_private(pem: bytes) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pem, None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


DEMO_KEY = _load_private((FIXTURES_DIR / "keys" / "demo_private.pem").read_bytes())


@pytest.fixture(scope="module")
def other_key() -> rsa.RSAPrivateKey:
    """A key that is not the demo user's: a fixed test key (fixtures/keys, test only)."""
    return _load_private((FIXTURES_DIR / "keys" / "test_user_1_private.pem").read_bytes())


def public_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def sign(key: rsa.RSAPrivateKey, message: bytes, pss: padding.PSS = SALT_32) -> bytes:
    return key.sign(message, pss, hashes.SHA256())


def exchange_with(pem: str | None, key_id: str = "key-1") -> Exchange:
    ex = make_exchange()
    ex.create_user(user_id="alice", api_key_id=key_id, public_key_pem=pem)
    return ex


def failure(registry: KeyRegistry, key_id: str, message: bytes, signature: bytes) -> str:
    with pytest.raises(VerificationError) as raised:
        registry.verify(key_id, message, signature)
    assert raised.value.key_id == key_id
    return raised.value.reason


def test_signature_of_a_registered_key_gives_its_user() -> None:
    ex = exchange_with(public_pem(DEMO_KEY))

    user = ex.key_registry.verify("key-1", MESSAGE, sign(DEMO_KEY, MESSAGE))

    assert user is ex.users["alice"]


def test_maximum_salt_length_is_accepted() -> None:
    ex = exchange_with(public_pem(DEMO_KEY))
    signature = sign(DEMO_KEY, MESSAGE, SALT_MAX)

    assert ex.key_registry.verify("key-1", MESSAGE, signature).user_id == "alice"


def test_signature_of_another_message_or_key_is_refused(other_key: rsa.RSAPrivateKey) -> None:
    registry = exchange_with(public_pem(DEMO_KEY)).key_registry

    reasons = [
        failure(registry, "key-1", MESSAGE + b"?", sign(DEMO_KEY, MESSAGE)),
        failure(registry, "key-1", MESSAGE, sign(other_key, MESSAGE)),
        failure(registry, "key-1", MESSAGE, b"not a signature"),
    ]

    assert reasons == [VerificationFailure.BAD_SIGNATURE] * 3


@pytest.mark.parametrize(
    ("pem", "reason"),
    [
        (None, VerificationFailure.NO_PUBLIC_KEY),
        ("", VerificationFailure.NO_PUBLIC_KEY),
        (
            "-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n",
            VerificationFailure.UNREADABLE_KEY,
        ),
        (public_pem(ec.generate_private_key(ec.SECP256R1())), VerificationFailure.NOT_RSA),
    ],
)
def test_unusable_registered_key_is_refused_before_the_signature(
    pem: str | None, reason: VerificationFailure
) -> None:
    registry = exchange_with(pem).key_registry
    signature = sign(DEMO_KEY, MESSAGE)

    assert failure(registry, "key-1", MESSAGE, signature) == reason
    with pytest.raises(VerificationError) as raised:
        registry.user("key-1")
    assert raised.value.reason == reason


def test_unknown_key_is_refused() -> None:
    registry = exchange_with(public_pem(DEMO_KEY)).key_registry

    assert failure(registry, "key-2", MESSAGE, sign(DEMO_KEY, MESSAGE)) == "unknown_key"
    with pytest.raises(VerificationError, match="unknown_key: API key 'key-2'"):
        registry.user("key-2")


def test_user_checks_the_key_without_a_signature() -> None:
    ex = exchange_with(public_pem(DEMO_KEY))

    assert ex.key_registry.user("key-1") is ex.users["alice"]


def test_verify_any_accepts_the_signature_of_any_candidate() -> None:
    registry = exchange_with(public_pem(DEMO_KEY)).key_registry
    candidates = [b"as sent/", b"as signed"]
    signature = sign(DEMO_KEY, b"as signed")

    assert registry.verify_any("key-1", iter(candidates), signature).user_id == "alice"
    with pytest.raises(VerificationError) as raised:
        registry.verify_any("key-1", candidates[:1], signature)
    assert raised.value.reason is VerificationFailure.BAD_SIGNATURE


def test_changed_public_key_is_loaded_again(other_key: rsa.RSAPrivateKey) -> None:
    ex = exchange_with(public_pem(DEMO_KEY))
    registry = ex.key_registry
    old_signature = sign(DEMO_KEY, MESSAGE)
    registry.verify("key-1", MESSAGE, old_signature)

    ex.users["alice"].api_keys[0] = ApiKey("key-1", public_pem(other_key))

    assert registry.verify("key-1", MESSAGE, sign(other_key, MESSAGE)).user_id == "alice"
    assert failure(registry, "key-1", MESSAGE, old_signature) == "bad_signature"


def test_each_user_key_is_checked_against_its_own_public_key(
    other_key: rsa.RSAPrivateKey,
) -> None:
    ex = exchange_with(public_pem(DEMO_KEY))
    ex.create_user(user_id="bob", api_key_id="key-2", public_key_pem=public_pem(other_key))
    registry = ex.key_registry

    assert registry.verify("key-2", MESSAGE, sign(other_key, MESSAGE)).user_id == "bob"
    assert registry.verify("key-1", MESSAGE, sign(DEMO_KEY, MESSAGE)).user_id == "alice"
    assert failure(registry, "key-2", MESSAGE, sign(DEMO_KEY, MESSAGE)) == "bad_signature"


def test_reset_and_import_give_the_registry_of_the_new_exchange(
    other_key: rsa.RSAPrivateKey,
) -> None:
    runtime = Runtime(load_scenario("bare"), clock_mode="manual")
    demo_signature = sign(DEMO_KEY, MESSAGE)
    runtime.exchange.create_user(
        user_id="bob", api_key_id="key-2", public_key_pem=public_pem(other_key)
    )
    other_signature = sign(other_key, MESSAGE)
    assert runtime.exchange.key_registry.verify("key-2", MESSAGE, other_signature)
    exported = runtime.export_state()

    reset = runtime.reset()
    demo_user = reset.key_registry.verify(DEMO_KEY_ID, MESSAGE, demo_signature)
    reset_reason = failure(reset.key_registry, "key-2", MESSAGE, other_signature)
    imported = runtime.import_state(exported)
    bob = imported.key_registry.verify("key-2", MESSAGE, other_signature)

    assert demo_user is reset.users["demo-user"]
    assert reset_reason == VerificationFailure.UNKNOWN_KEY
    assert bob is imported.users["bob"]


def test_registry_reads_keys_but_changes_no_state() -> None:
    ex = snapshots.build(load_scenario("bare"), ManualClock(load_scenario("bare").start_ms))
    before = snapshots.export_state(ex)

    ex.key_registry.verify(DEMO_KEY_ID, MESSAGE, sign(DEMO_KEY, MESSAGE))

    assert snapshots.export_state(ex) == before
