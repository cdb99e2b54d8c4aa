"""The manifestation of an electronic signature (21 CFR 11.50): who signed (user id and printed name), what
the signature means, when (UTC, and the signer's local time with its zone) and the method of the second
component. Every signature table (a batch's approval, its QA release, a document's approval) keeps these
same columns, so they are declared once here.

A table lists `SignatureColumns` first among its bases and its own keys (`id`, what it signs) in a base after
it: fields are ordered base first, so the keys keep their place ahead of these columns (the order of the
auditors' export sheets and of `model_dump`). The migrations are unchanged: the columns are the same.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from store.db import UTCDateTime


class SignatureColumns(SQLModel):
    """No table of its own: the shared columns of every signature table."""

    user_id: str = Field(max_length=32)
    signer_name: str = Field(max_length=255)
    meaning: str = Field(max_length=500)
    # sa_type rather than sa_column: one Column object cannot serve several tables
    signed_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    local_time: str = Field(max_length=40)  # ISO-8601 with the signer's offset
    local_tz: str = Field(max_length=64)
    second_component: str = Field(max_length=64)  # the method (totp | initials), never the value itself
