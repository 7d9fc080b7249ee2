"""The PKCS#11 key store: vending keys live in a token (an HSM; SoftHSM2 in tests) and never leave it.

DKGA 04 runs in the token: the vending key is a `CKK_GENERIC_SECRET` object (sensitive, not extractable,
not modifiable, SIGN only) and the decoder key is `C_Sign(CKM_SHA256_HMAC, M)` cut to 8 or 16 bytes here.
Keys enter only by `C_UnwrapKey` under a transport key (RFC 5649), see api.wrapped. DKGA 02 cannot be
computed in a generic token (it XORs two secrets), so DKGA 02 meters need a decoder key per meter from the
key management centre (api.keyring, `kind="decoder"` rows); deriving one from a vending key is refused.

python-pkcs11 over SoftHSM crashes when two threads call it at once (the library is initialised without
locking), so each process has ONE library instance, used only from one dedicated thread (`TokenThread`)
that the other threads hand work to through a queue, and its own logged-in session per token.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from api.keystore import Kek, KeystoreError
from api.wrapped import HMAC_KEY_BYTES, WrappedKey, check_value
from tokencore import DecoderKey, Dkga, MeterProfile, TokenError
from tokencore.kdf import dkga04_message

if TYPE_CHECKING:  # settings import this module: keep it free of the ORM and of the PKCS#11 binding
    from api.models import VendingKeyRecord

log = logging.getLogger("nguvu.hsm")
T = TypeVar("T")

VENDING_KEY_ID = b"nguvu-vending-key"
TRANSPORT_KEY_ID = b"nguvu-transport-key"
_START_ATTEMPTS = 5


def _lost_session_errors() -> tuple[type[Exception], ...]:
    """What a dropped session raises (an HSM restart, a lost login): worth one new login."""
    import pkcs11.exceptions as e

    return (
        e.SessionHandleInvalid,
        e.SessionClosed,
        e.UserNotLoggedIn,
        e.DeviceRemoved,
        e.TokenNotPresent,
        e.DeviceError,
        e.KeyHandleInvalid,
        e.ObjectHandleInvalid,
    )


class Dkga02Refused(TokenError):
    """A DKGA 02 meter under the PKCS#11 store has no decoder key delivered by the key management centre."""

    code = "dkga02_needs_kmc_decoder_key"


def refuse_dkga02(profile: MeterProfile) -> None:
    """Raise Dkga02Refused for this meter (docs/keys.md, "DKGA 02 under the PKCS#11 store")."""
    raise Dkga02Refused(
        f"meter {profile.pan.drn} uses DKGA 02, which the PKCS#11 store does not derive from a "
        "vending key: import its decoder key from the key management centre "
        "(nguvu decoder-key import) and register the meter with it"
    )


class Pin:
    """The token's user PIN: read from a file, never shown."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Pin(<hidden>)"

    __str__ = __repr__


@dataclass(frozen=True)
class Pkcs11Config:
    """Where the token is: the PKCS#11 module (a .so), the token's label, the user PIN (from a file)."""

    module: Path
    token_label: str
    pin: Pin


class TokenThread:
    """The process's one PKCS#11 library instance and the one thread allowed to call it."""

    _instances: ClassVar[dict[tuple[int, str], TokenThread]] = {}
    _guard: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def for_module(cls, module: Path) -> TokenThread:
        """This process's thread for `module` (a forked child starts its own: sessions do not survive fork)."""
        key = (os.getpid(), str(module))
        with cls._guard:
            thread = cls._instances.get(key)
            if thread is None:
                thread = cls._instances[key] = cls(module)
            return thread

    def __init__(self, module: Path) -> None:
        self.module = module
        self._queue: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]] = queue.SimpleQueue()
        self._lib: Any = None
        self._sessions: dict[str, Any] = {}
        # Object handles found by label, per token: valid until the library is re-initialised.
        self.objects: dict[tuple[str, str], Any] = {}
        self._thread = threading.Thread(target=self._run, name="nguvu-pkcs11", daemon=True)
        self._thread.start()

    def call(self, fn: Callable[[], T]) -> T:
        """Run `fn` on the PKCS#11 thread and return its result (or raise its exception) here."""
        if threading.current_thread() is self._thread:
            return fn()
        future: Future[T] = Future()
        self._queue.put((fn, future))
        return future.result()

    def _run(self) -> None:
        while True:
            fn, future = self._queue.get()
            try:
                future.set_result(fn())
            except BaseException as exc:  # handed to the caller's thread
                future.set_exception(exc)

    def forget(self, token_label: str) -> None:
        """Drop this process's session on `token_label` and its object handles (PKCS#11 thread only)."""
        session = self._sessions.pop(token_label, None)
        for slot in [slot for slot in self.objects if slot[0] == token_label]:
            del self.objects[slot]
        if session is not None:
            with contextlib.suppress(Exception):
                session.close()

    def session(self, token_label: str, pin: Pin) -> Any:
        """The logged-in session of this process on `token_label` (PKCS#11 thread only)."""
        import pkcs11

        session = self._sessions.get(token_label)
        if session is not None:
            return session
        if self._lib is None:
            self._lib = pkcs11.lib(str(self.module))
        for attempt in range(_START_ATTEMPTS):
            try:
                token = self._lib.get_token(token_label=token_label)
                break
            except pkcs11.NoSuchToken:
                # A token created after the library was initialised (or an HSM slot coming up late) is
                # only seen after C_Finalize/C_Initialize.
                if attempt == _START_ATTEMPTS - 1:
                    raise KeystoreError(f"PKCS#11 token {token_label!r} not found") from None
                time.sleep(0.1 * (attempt + 1))
                self._lib.reinitialize()
                self._sessions.clear()
                self.objects.clear()
        try:
            session = token.open(user_pin=pin.reveal(), rw=True)
        except pkcs11.PinIncorrect:
            raise KeystoreError(f"PKCS#11 token {token_label!r} refused the PIN") from None
        self._sessions[token_label] = session
        log.info("PKCS#11 token %r: logged in (process %d)", token_label, os.getpid())
        return session


_SIGN_ONLY = {
    "SENSITIVE": True,
    "EXTRACTABLE": False,
    "SIGN": True,
    "VERIFY": False,
    "DERIVE": False,
    "WRAP": False,
    "UNWRAP": False,
    "ENCRYPT": False,
    "DECRYPT": False,
    "COPYABLE": False,
    # Last: SoftHSM applies the template in order, and nothing can be set after MODIFIABLE is false.
    "MODIFIABLE": False,
}


class Pkcs11Store:
    """Vending keys in a PKCS#11 token; the KEK still seals the per-meter decoder keys at rest."""

    name = "pkcs11"
    accepts_plaintext = False

    def __init__(self, config: Pkcs11Config, kek: Kek) -> None:
        self.config = config
        self.kek = kek

    def __repr__(self) -> str:
        return f"Pkcs11Store(module={str(self.config.module)!r}, token={self.config.token_label!r})"

    def _thread(self) -> TokenThread:
        return TokenThread.for_module(self.config.module)

    def _call(self, fn: Callable[[Any], T]) -> T:
        thread = self._thread()
        token, pin = self.config.token_label, self.config.pin

        def run() -> T:
            import pkcs11

            try:
                return fn(thread.session(token, pin))
            except _lost_session_errors():
                # The HSM restarted, or the session or login was dropped: log in again, once.
                log.warning("PKCS#11 token %r: session lost, logging in again", token)
                thread.forget(token)
                try:
                    return fn(thread.session(token, pin))
                except pkcs11.PKCS11Error as exc:
                    raise KeystoreError(f"PKCS#11 token {token!r} failed: {type(exc).__name__}") from None

        return thread.call(run)

    def start(self) -> None:
        """Open the session now, so a wrong module, token or PIN stops the service at start-up."""
        self._call(lambda session: None)

    def seal(self, label: str, key: object) -> bytes:
        raise KeystoreError(
            "the PKCS#11 key store takes vending keys only wrapped by the key management centre: "
            "nguvu vending-key import LABEL --wrapped FILE"
        )

    # DKGA 04 ------------------------------------------------------------------------------------------
    def decoder_key(self, record: VendingKeyRecord, profile: MeterProfile) -> DecoderKey:
        """The meter's decoder key, DKGA 04 computed in the token. Raises Dkga02Refused, KeystoreError."""
        label = record.label
        if profile.key.dkga is Dkga.DKGA02:
            refuse_dkga02(profile)
        message = dkga04_message(profile)
        digest = self._call(lambda s: self._sign(s, label, message))
        return DecoderKey(digest[: profile.key.ea.key_bytes])

    def _sign(self, session: Any, label: str, message: bytes) -> bytes:
        from pkcs11 import Mechanism

        objects, slot = self._thread().objects, (self.config.token_label, label)
        key = objects.get(slot)
        if key is None:
            key = objects[slot] = self._find(session, label, VENDING_KEY_ID)
        return bytes(key.sign(message, mechanism=Mechanism.SHA256_HMAC))

    @staticmethod
    def _find(session: Any, label: str, object_id: bytes) -> Any:
        from pkcs11 import Attribute, ObjectClass

        found = list(
            session.get_objects(
                {Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.LABEL: label, Attribute.ID: object_id}
            )
        )
        if len(found) != 1:
            what = "vending key" if object_id == VENDING_KEY_ID else "transport key"
            state = "is not in" if not found else "is more than once in"
            raise KeystoreError(f"{what} {label!r} {state} the PKCS#11 token")
        return found[0]

    # The key ceremony -----------------------------------------------------------------------------------
    def create_transport_key(self, label: str, components: list[bytes]) -> None:
        """Make the AES-256 transport key from its custodians' components (XOR), UNWRAP only, in the token
        (for tokens without their own component-entry ceremony; see docs/keys.md). Raises KeystoreError."""
        if len(components) < 2 or any(len(c) != 32 for c in components):
            raise KeystoreError("a transport key is made of at least two 256-bit components")
        value = bytes(32)
        for c in components:
            value = bytes(a ^ b for a, b in zip(value, c, strict=True))
        self._call(lambda s: self._create_transport(s, label, value))

    def _create_transport(self, session: Any, label: str, value: bytes) -> None:
        from pkcs11 import Attribute, KeyType, ObjectClass

        if list(session.get_objects({Attribute.LABEL: label, Attribute.ID: TRANSPORT_KEY_ID})):
            raise KeystoreError(f"transport key {label!r} exists in the token")
        session.create_object(
            {
                Attribute.CLASS: ObjectClass.SECRET_KEY,
                Attribute.KEY_TYPE: KeyType.AES,
                Attribute.LABEL: label,
                Attribute.ID: TRANSPORT_KEY_ID,
                Attribute.VALUE: value,
                Attribute.TOKEN: True,
                Attribute.PRIVATE: True,
                Attribute.SENSITIVE: True,
                Attribute.EXTRACTABLE: False,
                Attribute.UNWRAP: True,
                Attribute.WRAP: False,
                Attribute.ENCRYPT: False,
                Attribute.DECRYPT: False,
                Attribute.SIGN: False,
                Attribute.DERIVE: False,
                Attribute.MODIFIABLE: False,
            }
        )

    def import_vending_key(self, label: str, transport_label: str, wrapped: WrappedKey) -> None:
        """Unwrap a vending key into the token as a permanent, sign-only object named `label`; its check
        value must match the file's. Raises KeystoreError (nothing stays in the token then)."""
        if wrapped.kind != "vending-key":
            raise KeystoreError("this file holds a decoder key, not a vending key")
        self._call(lambda s: self._unwrap_vending(s, label, transport_label, wrapped))

    def _unwrap_vending(self, session: Any, label: str, transport_label: str, wrapped: WrappedKey) -> None:
        import pkcs11
        from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass

        if list(session.get_objects({Attribute.LABEL: label, Attribute.ID: VENDING_KEY_ID})):
            raise KeystoreError(f"vending key {label!r} exists in the token")
        transport = self._find(session, transport_label, TRANSPORT_KEY_ID)
        template = {Attribute.LABEL: label, Attribute.ID: VENDING_KEY_ID, Attribute.PRIVATE: True}
        template.update({getattr(Attribute, name): value for name, value in _SIGN_ONLY.items()})
        try:
            key = transport.unwrap_key(
                ObjectClass.SECRET_KEY,
                KeyType.GENERIC_SECRET,
                wrapped.wrapped,
                mechanism=Mechanism.AES_KEY_WRAP_PAD,
                store=True,
                template=template,
            )
        except pkcs11.PKCS11Error as exc:
            raise KeystoreError(
                f"the wrapped vending key does not unwrap under transport key {transport_label!r} "
                f"({type(exc).__name__}): wrong transport key or damaged file"
            ) from None
        try:
            ours = check_value_of(key)
        except pkcs11.PKCS11Error:
            ours = ""
        if ours != wrapped.check:
            key.destroy()
            raise KeystoreError(
                f"the vending key's check value does not match the file's (token {ours or 'refused it'}): "
                f"it must be a 160-bit key zero-padded to {HMAC_KEY_BYTES} bytes; nothing was stored"
            )

    def destroy_vending_key(self, label: str) -> None:
        """Remove a vending key from the token (a DB write that failed after its import)."""

        def destroy(session: Any) -> None:
            self._thread().objects.pop((self.config.token_label, label), None)
            self._find(session, label, VENDING_KEY_ID).destroy()

        self._call(destroy)

    def unwrap_decoder_key(self, transport_label: str, wrapped: WrappedKey) -> DecoderKey:
        """Unwrap a KMC-delivered decoder key in the token as a short-lived session object and read it
        back (the host needs it to encrypt tokens). Raises KeystoreError."""
        if wrapped.kind != "decoder-key":
            raise KeystoreError("this file holds a vending key, not a decoder key")
        raw = self._call(lambda s: self._unwrap_decoder(s, transport_label, wrapped))
        if check_value(raw) != wrapped.check:
            raise KeystoreError("the decoder key's check value does not match the file's")
        return DecoderKey(raw)

    def _unwrap_decoder(self, session: Any, transport_label: str, wrapped: WrappedKey) -> bytes:
        import pkcs11
        from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass

        transport = self._find(session, transport_label, TRANSPORT_KEY_ID)
        try:
            key = transport.unwrap_key(
                ObjectClass.SECRET_KEY,
                KeyType.GENERIC_SECRET,
                wrapped.wrapped,
                mechanism=Mechanism.AES_KEY_WRAP_PAD,
                store=False,
                template={Attribute.SENSITIVE: False, Attribute.EXTRACTABLE: True},
            )
        except pkcs11.PKCS11Error as exc:
            raise KeystoreError(
                f"the wrapped decoder key does not unwrap under transport key {transport_label!r} "
                f"({type(exc).__name__}): wrong transport key or damaged file"
            ) from None
        try:
            return bytes(key[Attribute.VALUE])
        finally:
            key.destroy()


def check_value_of(key: Any) -> str:
    """The check value (api.wrapped.check_value) of a key in the token, by C_Sign."""
    from pkcs11 import Mechanism

    return bytes(key.sign(bytes(32), mechanism=Mechanism.SHA256_HMAC)).hex()[:6].upper()
