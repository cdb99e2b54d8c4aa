"""The second identification component of an electronic signature: a TOTP authenticator (RFC 6238).

Slack's session is the first component, a one-time code from the person's authenticator app the second
(21 CFR 11.200(a)(1)): Slack modals cannot mask what is typed, so a code that is useless a minute later
is asked for rather than a password. Secrets are encrypted at rest with `CMO_SECRET_KEY` (Fernet); a
secret is kept only once the person has confirmed it with a code. A code is accepted once (its time step
is remembered); five wrong codes in a row lock the person's signing everywhere until an admin resets it
(the person then enrolls again). Every enrollment, failure, lock and reset is in the audit trail.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime

import pyotp
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import Column
from sqlmodel import Field, Session, SQLModel

from store import audit
from store.audit import Actor
from store.db import UTCDateTime
from store.errors import Invalid, NotAllowed

ENTITY = "signing"
ISSUER = "cmo-bot"
STEP_SECONDS = 30
MAX_FAILURES = 5
ENROLL_MINUTES = 15  # an enrollment form is good for this long
NO_KEY = ("Electronic signatures with an authenticator app are not available yet: the operator must set "
          "CMO_SECRET_KEY (see docs/operations.md, \"Configuration\").")


class SigningMethod:
    """A program's signing method (batch settings `--signing`)."""

    totp = "totp"
    initials = "initials"
    ALL = (totp, initials)


class SigningKey(SQLModel, table=True):
    """One person's confirmed authenticator secret (encrypted), their last accepted step and failures."""

    __tablename__ = "signing_key"

    user_id: str = Field(primary_key=True, max_length=32)
    secret: str = Field(max_length=500)  # Fernet token of the base32 secret
    enrolled_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    last_step: int = 0  # the TOTP time step of the last accepted code: each code signs once
    failures: int = 0  # wrong codes in a row
    locked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


def cipher(key: str | None) -> Fernet:
    if not key:
        raise NotAllowed(NO_KEY)
    return Fernet(key.encode())


def new_key() -> str:
    """A key for CMO_SECRET_KEY (the demo and tests make their own)."""
    return Fernet.generate_key().decode()


def new_secret() -> str:
    return pyotp.random_base32()


def uri(secret: str, name: str) -> str:
    """The otpauth:// URI authenticator apps read from the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=name, issuer_name=ISSUER)


def seal_pending(key: str | None, user_id: str, secret: str, now: datetime) -> str:
    """An unconfirmed secret travels only inside the enrollment form, encrypted and bound to its person."""
    payload = json.dumps({"user": user_id, "secret": secret, "nonce": secrets.token_hex(4)})
    return cipher(key).encrypt_at_time(payload.encode(), int(now.timestamp())).decode()


def open_pending(key: str | None, token: str, user_id: str, now: datetime) -> str:
    try:
        payload = json.loads(cipher(key).decrypt_at_time(token.encode(), ENROLL_MINUTES * 60, int(now.timestamp())))
    except (InvalidToken, ValueError):
        raise Invalid("This enrollment form has expired or was altered; run `/cmo signing enroll` again.",
                      "code") from None
    if payload.get("user") != user_id:
        raise Invalid("This enrollment form belongs to someone else.", "code")
    return str(payload["secret"])


def _step(secret: str, code: str, now: datetime) -> int | None:
    """The time step (±1 for clock drift) whose code this is, or None."""
    code = "".join((code or "").split())
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    current = int(now.timestamp()) // STEP_SECONDS
    for step in (current, current - 1, current + 1):
        if secrets.compare_digest(totp.at(step * STEP_SECONDS), code):
            return step
    return None


def key_of(session: Session, user_id: str) -> SigningKey | None:
    return session.get(SigningKey, user_id)


def enroll(session: Session, key: str | None, *, user_id: str, secret: str, code: str, actor: Actor,
           now: datetime) -> SigningKey:
    """Keep the secret once the person has shown, with a current code, that their app holds it."""
    step = _step(secret, code, now)
    if step is None:
        raise Invalid("That is not the current code of this secret; check the app and type the 6 digits.", "code")
    existing = session.get(SigningKey, user_id)
    if existing is not None and existing.locked_at is not None:
        raise NotAllowed("Your signing is locked after wrong codes; an admin must reset it first "
                         "(`/cmo signing reset @you`).")
    row = existing or SigningKey(user_id=user_id, secret="", enrolled_at=now)
    row.secret, row.enrolled_at, row.last_step, row.failures = cipher(key).encrypt(secret.encode()).decode(), now, \
        step, 0
    session.add(row)
    audit.record(session, actor=actor, action="enrolled" if existing is None else "re_enrolled", entity=ENTITY,
                 entity_id=user_id, after={"method": "totp", "step": step}, now=now)
    return row


@dataclass(frozen=True)
class Refusal:
    """Why a code was not accepted; `locked` when this failure locked the person's signing."""

    message: str
    locked: bool = False


def check(session: Session, key: str | None, *, actor: Actor, code: str, now: datetime, doing: str,
          program_id: int | None = None) -> Refusal | None:
    """Accept `code` as the signer's second component (consuming its time step), or say why not.

    A refusal is recorded (failures, the lock) in this transaction; the caller commits it and then shows
    the refusal on the field, having recorded nothing else."""
    row = session.get(SigningKey, actor.user_id)
    if row is None:
        return Refusal("You have not enrolled an authenticator app yet: run `/cmo signing enroll` (or use the "
                       "button on the bot's Home tab), then sign again.")
    if row.locked_at is not None:
        return Refusal("Your signing is locked after too many wrong codes; an admin must reset it "
                       "(`/cmo signing reset`).")
    step = _step(cipher(key).decrypt(row.secret.encode()).decode(), code, now)
    if step is not None and step <= row.last_step:
        audit.record(session, actor=actor, action="code_replayed", entity=ENTITY, entity_id=actor.user_id,
                     program_id=program_id, after={"doing": doing, "step": step}, now=now)
        return Refusal("That code was already used; wait for the next code in your app.")
    if step is None:
        row.failures += 1
        locked = row.failures >= MAX_FAILURES
        audit.record(session, actor=actor, action="code_refused", entity=ENTITY, entity_id=actor.user_id,
                     program_id=program_id, after={"doing": doing, "failures": row.failures}, now=now)
        if locked:
            row.locked_at = now
            audit.record(session, actor=actor, action="locked", entity=ENTITY, entity_id=actor.user_id,
                         program_id=program_id, after={"failures": row.failures}, now=now)
        session.add(row)
        if locked:
            return Refusal(f"{MAX_FAILURES} wrong codes in a row: your signing is locked. The admins have been "
                           "told; one of them must reset it before you can sign again.", locked=True)
        left = MAX_FAILURES - row.failures
        return Refusal(f"That code is not right (check your authenticator app); {left} more "
                       f"{'try' if left == 1 else 'tries'} before your signing is locked.")
    row.last_step, row.failures = step, 0
    session.add(row)
    return None


def reset(session: Session, *, user_id: str, actor: Actor, now: datetime) -> bool:
    """An admin unlocks a person by removing their secret: they enroll again. False when there was none."""
    if not actor.is_admin:
        raise NotAllowed("Only admins (CMO_ADMINS) can reset a person's signing.")
    row = session.get(SigningKey, user_id)
    if row is None:
        return False
    before = {"locked": row.locked_at is not None, "failures": row.failures}
    session.delete(row)
    audit.record(session, actor=actor, action="reset", entity=ENTITY, entity_id=user_id, before=before, now=now)
    return True
