"""The channel's view of its members (Fabric's MSP manager): deserialize and validate.

An identity is valid when its certificate was issued by a root CA of the MSP it claims
(issuer name matches and the CA's signature on the certificate verifies), the certificate and
its CA are within their validity period at the time of the check, it is not itself a CA, it
carries a P-256 key, and it carries exactly one NodeOU (plus, optionally, an application role).

Validation is cached by the serialized identity bytes: the peer sees the same few creators and
endorsers thousands of times a second. Only the time window is re-checked on a cache hit;
failures that cannot change with time are cached too.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import itertools
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fabric_protos.msp import identities_pb2
from google.protobuf.message import DecodeError

from ledgerlearn.identity import signing
from ledgerlearn.identity.errors import IdentityError, SignatureError
from ledgerlearn.identity.roles import common_name, role_of

Clock = Callable[[], dt.datetime]


@dataclass(frozen=True)
class Identity:
    """A validated member identity, as the MSP resolved it."""

    msp_id: str
    name: str
    role: str
    certificate: x509.Certificate = field(repr=False)
    node_ou: str = ""
    public_key: ec.EllipticCurvePublicKey = field(repr=False, compare=False, default=None)

    @property
    def label(self) -> str:
        """``msp_id/name``, how logs and reports name an identity."""
        return f"{self.msp_id}/{self.name}"


@dataclass(frozen=True)
class _Valid:
    identity: Identity
    not_before: dt.datetime
    not_after: dt.datetime
    #: Unique for the life of the process (never reused, unlike ``id()``): names the identity
    #: in the keys of remembered signature checks instead of its ~850 bytes.
    handle: int = field(default_factory=itertools.count().__next__)

    @functools.cached_property
    def window(self) -> tuple[float, float]:
        """The validity period in POSIX seconds (compared with ``time.time()``)."""
        return self.not_before.timestamp(), self.not_after.timestamp()


#: Failed identities are remembered too (so garbage costs one parse), but fewer and only
#: small ones, so that a flood of distinct junk cannot fill memory.
_INVALID_CACHE_SIZE = 4096
_MAX_CACHED_INVALID_BYTES = 16384


#: Fewer signatures than this are not worth a round trip to another process.
PRIME_MIN_ITEMS = 16


class BatchVerifier(Protocol):
    """Checks many signatures at once (:class:`~ledgerlearn.identity.verifier.ProcessVerifier`)."""

    def check(self, items: list[tuple[bytes, bytes, bytes]]) -> bytes | None: ...


#: Messages up to this size are remembered whole and compared byte for byte on a hit, which
#: costs a dictionary lookup and a memcmp; longer ones are remembered by their SHA-256.
REMEMBER_WHOLE_BYTES = 4096

#: hashlib lets go of the interpreter lock for updates of 2048 bytes or more. The lookups run
#: several times per transaction on threads that compete for the lock, and on these machines
#: each hand-over costs more (about 50 µs) than hashing the message (a few µs), so a long
#: message is fed in smaller pieces that keep the lock.
_UNLOCKED_HASH_SIZE = 2047


@dataclass(frozen=True)
class _Digest:
    """What a remembered check keeps of a long message."""

    sha256: bytes


def _fingerprint(message: bytes) -> bytes | _Digest:
    """What a remembered check keeps of ``message`` and compares on a hit."""
    if len(message) <= REMEMBER_WHOLE_BYTES:
        return bytes(message)
    digest = hashlib.sha256()
    view = memoryview(message)
    for start in range(0, len(view), _UNLOCKED_HASH_SIZE):
        digest.update(view[start : start + _UNLOCKED_HASH_SIZE])
    return _Digest(digest.digest())


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class MembershipService:
    """Validates serialized identities against the root CAs of the channel's MSPs."""

    def __init__(
        self,
        ca_certificates: Mapping[str, Sequence[x509.Certificate]],
        *,
        clock: Clock | None = None,
        cache_size: int = 65536,
        verified_cache_size: int = 4096,
    ) -> None:
        if not ca_certificates:
            raise IdentityError("a membership service needs at least one MSP with a CA")
        self._cas: dict[str, tuple[x509.Certificate, ...]] = {}
        for msp_id, certs in ca_certificates.items():
            certs = tuple(certs)
            if not msp_id or not certs:
                raise IdentityError(f"MSP {msp_id!r} must have an id and at least one CA")
            for cert in certs:
                _check_ca(msp_id, cert)
            self._cas[msp_id] = certs
        self._clock: Clock = clock or _utc_now
        if self._clock().tzinfo is None:
            raise IdentityError("the clock of a membership service must return aware datetimes")
        self._cache_size = cache_size
        # OrderedDicts: evicting the oldest entry is O(1). A plain dict's first key is found by
        # skipping the holes earlier evictions left, about 19 µs at 16384 entries.
        self._valid: OrderedDict[bytes, _Valid] = OrderedDict()
        self._invalid: OrderedDict[bytes, IdentityError] = OrderedDict()
        self._verified_size = verified_cache_size
        #: (identity handle, signature) -> the message it was checked over (or its digest)
        self._verified: OrderedDict[tuple[int, bytes], bytes | _Digest] = OrderedDict()
        self._points: OrderedDict[bytes, bytes] = OrderedDict()
        self._lock = threading.Lock()
        self._prime_lock = threading.Lock()
        #: Optional batch checker in another process (see :meth:`prime`).
        self.verifier: BatchVerifier | None = None

    # -- construction -----------------------------------------------------------------------

    @classmethod
    def from_ca_certificates(
        cls,
        ca_certificates: Mapping[str, Sequence[x509.Certificate]],
        *,
        clock: Clock | None = None,
    ) -> MembershipService:
        return cls(ca_certificates, clock=clock)

    @classmethod
    def from_msp_directories(
        cls, msp_dirs: Mapping[str, Path], *, clock: Clock | None = None
    ) -> MembershipService:
        """From Fabric MSP folders: ``{msp_id: folder holding cacerts/}``."""
        return cls(
            {msp_id: read_ca_certificates(Path(d)) for msp_id, d in msp_dirs.items()},
            clock=clock,
        )

    @classmethod
    def from_cryptogen_tree(
        cls,
        root: Path,
        msp_ids: Mapping[str, str] | None = None,
        *,
        clock: Clock | None = None,
    ) -> MembershipService:
        """From a cryptogen output tree (``peerOrganizations/``, ``ordererOrganizations/``).

        ``msp_ids`` maps an organization's domain (``org1.example.com``) to its MSP id. Without
        it the fabric-samples convention applies: ``org1.example.com`` -> ``Org1MSP`` and the
        orderer organization -> ``OrdererMSP``.
        """
        root = Path(root)
        found: dict[str, list[x509.Certificate]] = {}
        for kind in ("peerOrganizations", "ordererOrganizations"):
            base = root / kind
            if not base.is_dir():
                continue
            for org_dir in sorted(p for p in base.iterdir() if p.is_dir()):
                domain = org_dir.name
                if msp_ids is not None:
                    if domain not in msp_ids:
                        continue
                    msp_id = msp_ids[domain]
                elif kind == "ordererOrganizations":
                    msp_id = "OrdererMSP"
                else:
                    label = domain.split(".")[0]
                    msp_id = label[:1].upper() + label[1:] + "MSP"
                found.setdefault(msp_id, []).extend(read_ca_certificates(org_dir / "msp"))
        if not found:
            raise IdentityError(
                f"no organizations found under {root}: expected peerOrganizations/<domain>/msp/"
                "cacerts or ordererOrganizations/<domain>/msp/cacerts (cryptogen layout)"
            )
        return cls(found, clock=clock)

    # -- queries ----------------------------------------------------------------------------

    @property
    def msp_ids(self) -> tuple[str, ...]:
        return tuple(self._cas)

    def ca_certificates(self, msp_id: str) -> tuple[x509.Certificate, ...]:
        return self._cas[msp_id]

    def deserialize(self, serialized: bytes) -> Identity:
        """Parse and validate ``SerializedIdentity`` bytes; IdentityError says why not."""
        return self._entry(serialized).identity

    def _entry(self, serialized: bytes) -> _Valid:
        """The validation record of a valid identity (cached), checked against the clock."""
        entry = self._valid.get(serialized)
        if entry is None:
            failure = self._invalid.get(serialized)
            if failure is not None:
                raise IdentityError(str(failure), failure.reason)
            try:
                entry = self._validate(serialized)
            except IdentityError as exc:
                if len(serialized) <= _MAX_CACHED_INVALID_BYTES:
                    self._remember(self._invalid, serialized, exc, _INVALID_CACHE_SIZE)
                raise
            self._remember(self._valid, serialized, entry)
        if self._clock is _utc_now:  # the usual clock: compare seconds, no datetime made
            start, end = entry.window
            if start <= time.time() <= end:
                return entry
        now = self._clock()
        if now < entry.not_before or now > entry.not_after:
            raise _time_error(entry, now)
        return entry

    def verify(self, serialized: bytes, message: bytes, signature: bytes) -> Identity:
        """Validate the identity and check its signature over ``message``.

        Successful checks are remembered by (identity handle, signature), with the message
        they covered; a hit needs the very same message, compared byte for byte (by SHA-256
        beyond :data:`REMEMBER_WHOLE_BYTES` bytes). The handle is unique to this identity's
        cached validation, never reused. So the orderer and every peer of one process verify
        a given signature only once. The identity's validity period is still checked on
        every call. With a :attr:`verifier`,
        a signature not yet remembered is checked in its child process, which leaves this
        process's GIL to its other threads; one the child refuses is checked here again, so
        the error says why.
        """
        entry = self._entry(serialized)
        identity = entry.identity
        if self._verified_size:
            if self._is_remembered(entry, message, signature):
                return identity
            verifier = self.verifier
            if verifier is not None:
                answer = verifier.check([(self._point(serialized, identity), message, signature)])
                if answer == b"\x01":
                    self._remember_verified(entry, message, signature)
                    return identity
        # no verifier process, or it refused the signature: check here, which says why not
        try:
            signing.verify(identity.public_key, message, signature)
        except SignatureError as exc:
            raise SignatureError(f"{identity.label}: {exc}", exc.reason) from None
        if self._verified_size:
            self._remember_verified(entry, message, signature)
        return identity

    def _is_remembered(self, entry: _Valid, message: bytes, signature: bytes) -> bool:
        stored = self._verified.get((entry.handle, bytes(signature)))
        if stored is None:
            return False
        return stored is message or stored == _fingerprint(message)

    def _remember_verified(self, entry: _Valid, message: bytes, signature: bytes) -> None:
        self._remember(self._verified, (entry.handle, bytes(signature)), _fingerprint(message),
                       self._verified_size)

    def remember_signed(self, serialized: bytes, message: bytes, signature: bytes) -> None:
        """Record a signature this process has just made with ``serialized``'s own key.

        A peer that validates a block finds its own endorsements there; checking a signature
        it produced itself over exactly those bytes proves nothing new, so :meth:`verify`
        finds it remembered (the identity's validity is still checked). Signatures made by
        anyone else are verified as always.
        """
        if self._verified_size:
            try:
                entry = self._entry(serialized)
            except IdentityError:  # not valid here: nothing to remember, verify() will say why
                return
            self._remember_verified(entry, message, signature)

    def _point(self, serialized: bytes, identity: Identity) -> bytes:
        """The identity's public key as an uncompressed point (what the verifier reads)."""
        point = self._points.get(serialized)
        if point is None:
            point = identity.public_key.public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
            )
            self._remember(self._points, serialized, point)
        return point

    def prime(self, items: Iterable[tuple[bytes, bytes, bytes]]) -> int:
        """Check (identity, message, signature) triples in a batch through :attr:`verifier`.

        Those that verify are remembered exactly as :meth:`verify` remembers its successes,
        so the following :meth:`verify` calls find them; anything else (an invalid identity,
        a bad signature, no verifier, a verifier that failed) is left to :meth:`verify`,
        which checks it in process and says what is wrong. Returns how many were cached.
        """
        verifier = self.verifier
        if verifier is None or not self._verified_size:
            return 0
        items = list(items)
        if len(items) < PRIME_MIN_ITEMS:
            return 0
        with self._prime_lock:  # peers committing the same block wait, then find it cached
            checked: list[tuple[_Valid, bytes, bytes]] = []
            batch: list[tuple[bytes, bytes, bytes]] = []
            for serialized, message, signature in items:
                try:
                    entry = self._entry(serialized)
                except IdentityError:
                    continue
                if self._is_remembered(entry, message, signature):
                    continue
                checked.append((entry, message, signature))
                batch.append((self._point(serialized, entry.identity), message, signature))
            if not batch:
                return 0
            answer = verifier.check(batch)
            if answer is None:
                return 0
            cached = 0
            for (entry, message, signature), ok in zip(checked, answer, strict=True):
                if ok == 1:
                    self._remember_verified(entry, message, signature)
                    cached += 1
            return cached

    def validate_certificate(self, msp_id: str, certificate: x509.Certificate) -> Identity:
        """Validate a certificate for ``msp_id`` without the serialized form (uncached)."""
        entry = self._validate_certificate(msp_id, certificate)
        now = self._clock()
        if now < entry.not_before or now > entry.not_after:
            raise _time_error(entry, now)
        return entry.identity

    # -- internals --------------------------------------------------------------------------

    def _remember(self, cache: OrderedDict, key: object, value: object, limit: int = 0) -> None:
        with self._lock:
            if cache and len(cache) >= (limit or self._cache_size):
                cache.popitem(last=False)  # the oldest
            cache[key] = value

    def _validate(self, serialized: bytes) -> _Valid:
        sid = identities_pb2.SerializedIdentity()
        try:
            sid.ParseFromString(serialized)
        except DecodeError as exc:
            raise IdentityError(
                f"serialized identity ({len(serialized)} bytes) is not a valid "
                f"msp.SerializedIdentity protobuf message: {exc}",
                "malformed",
            ) from None
        if not sid.mspid:
            raise IdentityError("serialized identity has no MSP id (mspid is empty)", "malformed")
        if sid.mspid not in self._cas:
            raise IdentityError(
                f"identity claims MSP {sid.mspid!r}, which is not a member of this channel "
                f"(known MSPs: {', '.join(self._cas)})",
                "unknown_msp",
            )
        certificate = _parse_pem(sid.mspid, sid.id_bytes)
        return self._validate_certificate(sid.mspid, certificate)

    def _validate_certificate(self, msp_id: str, cert: x509.Certificate) -> _Valid:
        _check_well_formed(msp_id, cert)
        name = common_name(cert)
        if msp_id not in self._cas:
            raise IdentityError(
                f"identity claims MSP {msp_id!r}, which is not a member of this channel "
                f"(known MSPs: {', '.join(self._cas)})",
                "unknown_msp",
            )
        issuer_ca = _issuing_ca(cert, self._cas[msp_id])
        if issuer_ca is None:
            for other_msp, cas in self._cas.items():
                if other_msp != msp_id and _issuing_ca(cert, cas) is not None:
                    raise IdentityError(
                        f"certificate {name!r} was issued by the CA of {other_msp} but the "
                        f"identity claims MSP {msp_id}",
                        "wrong_msp",
                    )
            raise IdentityError(
                f"certificate {name!r} (issuer {cert.issuer.rfc4514_string()}) does not chain "
                f"to a CA of MSP {msp_id}: unknown CA",
                "unknown_ca",
            )
        try:
            cert.verify_directly_issued_by(issuer_ca)
        except Exception as exc:  # InvalidSignature, ValueError, TypeError from cryptography
            raise IdentityError(
                f"certificate {name!r} names the CA of {msp_id} as issuer, but the CA's "
                f"signature on it does not verify (forged or altered certificate): "
                f"{type(exc).__name__}",
                "bad_ca_signature",
            ) from None
        if _is_ca(cert):
            raise IdentityError(
                f"certificate {name!r} of {msp_id} is a CA certificate; a CA cannot be used as "
                "a signing identity",
                "ca_certificate",
            )
        public_key = cert.public_key()
        if not isinstance(public_key, ec.EllipticCurvePublicKey) or not isinstance(
            public_key.curve, ec.SECP256R1
        ):
            raise IdentityError(
                f"certificate {name!r} of {msp_id} must hold an ECDSA P-256 public key",
                "bad_key",
            )
        node_ou, role = role_of(cert)
        identity = Identity(msp_id, name, role, cert, node_ou, public_key)
        return _Valid(
            identity,
            max(cert.not_valid_before_utc, issuer_ca.not_valid_before_utc),
            min(cert.not_valid_after_utc, issuer_ca.not_valid_after_utc),
        )


def _check_well_formed(msp_id: str, cert: x509.Certificate) -> None:
    """``cryptography`` decodes certificate fields lazily: decode all we use, once, here."""
    try:
        _ = (cert.subject, cert.issuer, cert.not_valid_before_utc, cert.not_valid_after_utc)
        _ = list(cert.extensions)
        cert.public_key()
        _ = cert.signature_hash_algorithm
        if cert.serial_number <= 0:
            raise ValueError(f"serial number {cert.serial_number} is not positive (RFC 5280)")
    except (ValueError, TypeError, x509.DuplicateExtension) as exc:
        raise IdentityError(
            f"identity certificate of MSP {msp_id} is not a well-formed X.509 certificate: "
            f"{exc}",
            "malformed",
        ) from None
    except UnsupportedAlgorithm as exc:
        raise IdentityError(
            f"identity certificate of MSP {msp_id} uses an unsupported algorithm: {exc}",
            "malformed",
        ) from None


def _time_error(entry: _Valid, now: dt.datetime) -> IdentityError:
    who = entry.identity.label
    if now > entry.not_after:
        return IdentityError(
            f"certificate of {who} (or its CA) expired at {entry.not_after.isoformat()}; "
            f"now is {now.isoformat()}",
            "expired",
        )
    return IdentityError(
        f"certificate of {who} (or its CA) is not valid before "
        f"{entry.not_before.isoformat()}; now is {now.isoformat()}",
        "not_yet_valid",
    )


def _issuing_ca(
    cert: x509.Certificate, cas: Iterable[x509.Certificate]
) -> x509.Certificate | None:
    for ca in cas:
        if ca.subject == cert.issuer:
            return ca
    return None


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _check_ca(msp_id: str, cert: x509.Certificate) -> None:
    if not _is_ca(cert):
        raise IdentityError(
            f"CA certificate {common_name(cert)!r} given for {msp_id} is not a CA "
            "(BasicConstraints CA:TRUE missing)"
        )


def _parse_pem(msp_id: str, pem: bytes) -> x509.Certificate:
    if not pem:
        raise IdentityError(
            f"serialized identity of MSP {msp_id} has no certificate (id_bytes is empty)",
            "malformed",
        )
    try:
        certs = x509.load_pem_x509_certificates(pem)
    except (ValueError, x509.InvalidVersion) as exc:
        raise IdentityError(
            f"identity certificate of MSP {msp_id} is not a PEM-encoded X.509 certificate: "
            f"{exc}",
            "malformed",
        ) from None
    if len(certs) != 1:
        raise IdentityError(
            f"identity of MSP {msp_id} must hold exactly one PEM certificate; got {len(certs)}",
            "malformed",
        )
    return certs[0]


def read_ca_certificates(msp_dir: Path) -> list[x509.Certificate]:
    """The root CA certificates in ``msp_dir/cacerts`` (Fabric MSP layout)."""
    folder = Path(msp_dir) / "cacerts"
    files = sorted(folder.glob("*.pem")) if folder.is_dir() else []
    if not files:
        raise IdentityError(
            f"no CA certificate found: expected PEM files in {folder} (Fabric MSP layout)"
        )
    certs: list[x509.Certificate] = []
    for path in files:
        try:
            certs.extend(x509.load_pem_x509_certificates(path.read_bytes()))
        except ValueError as exc:
            raise IdentityError(f"{path} is not a PEM X.509 certificate: {exc}") from None
    return certs
