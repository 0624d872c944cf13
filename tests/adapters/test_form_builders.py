"""Each builder's convention: detection by a field only it sends, and how its entries are read.

The end-to-end check of every convention is ``tests/test_corpus.py`` over the published samples;
these pin the rules that decide between two readings.
"""

from __future__ import annotations

import pytest

from adapters.form_builders import GENERIC
from adapters.form_builders import convention_for
from adapters.form_builders import read_generic
from adapters.form_builders import survey_gravity
from adapters.form_builders import word_of
from adapters.form_fields import Entry
from adapters.form_fields import entries_from_pairs


def entries(*names: str, value: str = "x"):
    return entries_from_pairs([[name, value] for name in names])


@pytest.mark.parametrize(
    ("names", "builder"),
    [
        (("_wpcf7", "your-email"), "contact-form-7"),
        (("form_fields[email]", "post_id"), "elementor"),
        (("input_2", "gform_submit"), "gravity-forms"),
        (("wpforms[fields][1]", "wpforms[id]"), "wpforms"),
        (("frm_action", "item_meta[3]"), "formidable"),
        (("formID", "q4_email"), "jotform"),
        (("email", "hs_context"), "hubspot"),
        (("EMAIL", "b_68887a68081c3fca3f7e8bc07_e616cca7f1"), "mailchimp"),
        (("email", "_replyto"), "formspree"),
        (("form-name", "email"), "netlify"),
        (("name", "pageId", "elementId", "fields[Email]"), "webflow"),
        (("email", "message", "page_url"), "generic"),
    ],
)
def test_a_builder_is_recognised_by_a_field_only_it_sends(names, builder):
    assert convention_for(entries(*names)).name == builder


@pytest.mark.parametrize(
    ("name", "word"),
    [("phoneNumber", "phone_number"), ("your-email", "email"), ("E-Mail", "e_mail"), ("FNAME", "fname")],
)
def test_words_ignore_case_camel_case_separators_and_your(name, word):
    assert word_of(name) == word


@pytest.mark.parametrize(
    ("name", "hint", "opaque"),
    [
        ("email-460", "email", True),
        ("tel-12", "phone", True),
        ("textarea-413", "description", True),
        ("text-948", "text", True),
        ("email-yui_3_17_2_1_1658358129065_1984", "email", True),
        ("long_answer_3524", "description", True),
        ("menu-517", "", True),
        ("field_5778e7b", "", True),
        ("MMERGE5", "", True),
        ("company", "", False),
    ],
)
def test_generated_names_announce_their_type(name, hint, opaque):
    [entry] = entries(name)
    reading = read_generic(entry)
    assert (reading.hint, reading.opaque) == (hint, opaque)


def test_gravity_tells_names_addresses_consent_and_checkboxes_apart_by_their_sub_inputs():
    post = entries_from_pairs(
        [
            ["input_1.3", "Jane"],
            ["input_1.6", "Doe"],
            ["input_5.1", "1 Main St"],
            ["input_5.3", "Springfield"],
            ["input_5.5", "12345"],
            ["input_7.1", "1"],
            ["input_7.2", "I agree"],
            ["input_7.3", "4"],
            ["input_6.1", "A"],
            ["input_6.3", "C"],
        ]
    )
    assert survey_gravity(post) == {"1": "name", "5": "address", "7": "consent", "6": "choices"}


def test_underscore_names_are_control_fields_for_any_form():
    reading = GENERIC.read(Entry("_token", ("_token",), "abc"), {})
    assert reading.role == "technical"
