"""One gettext-style layer: Python text and templates both go through idp.i18n."""

from __future__ import annotations

import pytest
from flask import render_template_string


@pytest.mark.parametrize(("n", "expected"), [(1, "1 user affected"), (2, "2 users affected")],
                         ids=["singular", "plural"])
def test_ngettext_picks_the_form_and_fills_num(n, expected):
    from idp.i18n import ngettext

    assert ngettext("%(num)d user affected", "%(num)d users affected", n) == expected


def test_gettext_fills_placeholders_only_when_given():
    from idp.i18n import gettext

    assert gettext("100% sure") == "100% sure"
    assert gettext("Hello %(name)s", name="alice") == "Hello alice"


def test_templates_translate_through_the_same_functions(app, monkeypatch):
    from idp import i18n

    catalogue = {"Hello %(name)s": "Bonjour %(name)s", "plain": "simple"}
    monkeypatch.setattr(i18n, "translate", lambda message: catalogue.get(message, message))
    # The installed callables look the function up on each call, so a catalogue plugged in
    # later reaches every template.
    with app.test_request_context():
        text = render_template_string(
            "{% trans name='alice' %}Hello {{ name }}{% endtrans %} / {{ _('plain') }}")
    assert text == "Bonjour alice / simple"
