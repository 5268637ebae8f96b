"""Hypothesis strategies shared by the redaction tests."""

from __future__ import annotations

import string

from hypothesis import settings
from hypothesis import strategies as st

PRINTABLE = string.ascii_letters + string.digits + string.punctuation + " "

secret_values = st.one_of(
    st.text(min_size=8, max_size=40),
    st.text(alphabet=PRINTABLE, min_size=8, max_size=40),
)
surrounding = st.text(max_size=30)

# Building a redactor is quick, but hypothesis' first examples also warm caches: no deadline.
redaction_settings = settings(deadline=None, max_examples=150)
