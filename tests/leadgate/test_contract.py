"""The ConnectGain contract schemas accept the doc's own examples and refuse what the API would."""

from __future__ import annotations

import pytest
from marshmallow import ValidationError

from leadgate.contract import CONTACT_FIELDS
from leadgate.contract import BulkContactsRequestSchema
from leadgate.contract import BulkDealsRequestSchema
from leadgate.contract import BulkLeadsRequestSchema
from leadgate.contract import DealPayloadSchema
from leadgate.contract import LeadPayloadSchema

FULL_LEAD = {
    "first_name": "John",
    "last_name": "Doe",
    "email": "john.doe@example.com",
    "emails": ["john.work@company.com", "john.personal@gmail.com"],
    "phone": "+1234567890",
    "phones": ["+1987654321", "+1555666777"],
    "source": "website_form",
    "tags": ["hot-lead", "enterprise", "demo-requested"],
    "description": "Interested in enterprise plan. Budget: $50k. Timeline: Q2 2025",
    "company_name": "Acme Corporation",
    "company_id": "uuid-of-existing-company",
    "assignee_id": "uuid-of-sales-rep",
    "opt_in_status": True,
    "custom_fields": {"industry": "Technology", "lead_score": 85, "pain_points": ["slow", "manual"]},
    "deal": {
        "title": "Acme Corp - Enterprise License",
        "value": 50000,
        "currency": "USD",
        "stage": "qualified",
        "pipeline_id": "your-pipeline-uuid",
    },
}

FULL_DEAL = {
    "contact_id": "uuid-of-existing-contact",
    "title": "Enterprise Agreement - Q1 2025",
    "value": 150000,
    "currency": "USD",
    "stage": "proposal",
    "pipeline_id": "enterprise-pipeline-uuid",
    "description": "Multi-year enterprise agreement with volume discounts",
    "expected_close_date": "2025-03-31",
    "probability": 75,
    "source": "enterprise_sales",
    "tags": ["enterprise", "multi-year"],
    "owner_id": "uuid-of-sales-rep",
    "company_id": "uuid-of-company",
    "custom_fields": {"contract_term": "3 years", "stakeholders": ["CEO", "CTO"]},
    "products": [{"name": "Enterprise License", "quantity": 500, "unit_price": 200}],
    "create_contact_if_missing": True,
    "contact_first_name": "New",
    "contact_last_name": "Customer",
}


def test_contact_fields_constant():
    assert CONTACT_FIELDS == ("first_name", "last_name", "email", "phone")


def test_full_lead_from_the_doc_is_valid():
    assert LeadPayloadSchema().validate(FULL_LEAD) == {}


@pytest.mark.parametrize("field", CONTACT_FIELDS)
def test_any_single_contact_field_is_enough(field):
    value = {"email": "a@example.com", "phone": "+14155552671"}.get(field, "Jane")
    assert LeadPayloadSchema().validate({field: value}) == {}


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"company_name": "Acme", "emails": ["a@example.com"], "phones": ["+14155552671"]},
        {"first_name": "   ", "last_name": ""},
    ],
)
def test_lead_without_contact_field_is_refused(payload):
    errors = LeadPayloadSchema().validate(payload)
    assert "at least one of first_name, last_name, email or phone is required" in errors["_schema"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("opt_in_status", "true"),
        ("opt_in_status", 1),
        ("phone", "(415) 555-2671"),
        ("phones", ["4155552671"]),
        ("email", "not an email"),
        ("emails", "a@example.com"),
        ("tags", "a,b"),
        ("custom_fields", ["x"]),
        ("surprise", "unknown keys are a typo"),
    ],
)
def test_wrong_types_are_refused(field, value):
    errors = LeadPayloadSchema().validate({"first_name": "Jane", field: value})
    assert field in errors


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("value", "5000"),
        ("value", True),
        ("value", float("nan")),
        ("currency", "dollars"),
        ("probability", 101),
        ("expected_close_date", "31/03/2025"),
        ("create_contact_if_missing", "yes"),
        ("contact_phone", "555"),
        ("products", [{"quantity": 1}]),
    ],
)
def test_deal_field_types(field, value):
    assert field in DealPayloadSchema().validate({"title": "T", field: value})


def test_deal_needs_a_title():
    assert "title" in DealPayloadSchema().validate({"value": 1})
    assert "title" in LeadPayloadSchema().validate({"first_name": "Jane", "deal": {"value": 1}})["deal"]


def test_every_documented_deal_field_is_accepted():
    assert DealPayloadSchema().validate(FULL_DEAL) == {}


def test_bulk_leads_limit_and_defaults():
    loaded = BulkLeadsRequestSchema().load({"leads": [{"first_name": "A"}]})
    assert loaded["skip_duplicates"] is False
    assert BulkLeadsRequestSchema().validate({"leads": [{"first_name": "A"}] * 100}) == {}
    assert "leads" in BulkLeadsRequestSchema().validate({"leads": [{"first_name": "A"}] * 101})
    assert "leads" in BulkLeadsRequestSchema().validate({"leads": []})


def test_bulk_leads_checks_each_lead():
    errors = BulkLeadsRequestSchema().validate({"leads": [{"first_name": "A"}, {"company_name": "B"}]})
    assert list(errors["leads"]) == [1]


def test_bulk_contacts_limit_and_defaults():
    loaded = BulkContactsRequestSchema().load({"contacts": [{"email": "a@example.com"}]})
    assert loaded["default_tags"] == [] and loaded["default_source"] == "api" and loaded["skip_duplicates"] is False
    assert BulkContactsRequestSchema().validate({"contacts": [{"first_name": "A"}] * 500}) == {}
    assert "contacts" in BulkContactsRequestSchema().validate({"contacts": [{"first_name": "A"}] * 501})


def test_bulk_contacts_have_no_deal():
    errors = BulkContactsRequestSchema().validate({"contacts": [{"first_name": "A", "deal": {"title": "T"}}]})
    assert "deal" in errors["contacts"][0]


def test_bulk_deals_need_a_contact_reference():
    schema = BulkDealsRequestSchema()
    for ref in ({"contact_id": "c1"}, {"contact_email": "a@example.com"}, {"contact_phone": "+14155552671"}):
        assert schema.validate({"deals": [{"title": "T", **ref}]}) == {}
    errors = schema.validate({"deals": [{"title": "T", "value": 1}]})
    assert "contact_id" in str(errors["deals"][0]["_schema"])


def test_bulk_deals_limit_and_defaults():
    schema = BulkDealsRequestSchema()
    loaded = schema.load({"deals": [FULL_DEAL]})
    assert loaded["default_stage"] == "new" and loaded["default_currency"] == "USD"
    assert loaded["default_pipeline_id"] is None and loaded["skip_if_exists"] is False
    assert "deals" in schema.validate({"deals": [FULL_DEAL] * 101})


def test_load_raises_for_invalid_payload():
    with pytest.raises(ValidationError):
        LeadPayloadSchema().load({"company_name": "Acme"})
